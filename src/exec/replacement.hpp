// Replacement strings: the {} {.} {1} {-1/} {name} {#} {%} of a command word, parsed once into
// tokens, and the values they stand for.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// GNU parallel's edits of a value.
enum class PathEdit : std::uint8_t {
  none,            ///< {}
  no_extension,    ///< {.}
  basename,        ///< {/}
  dirname,         ///< {//}
  basename_no_ext, ///< {/.}
};

/// One piece of a parsed command word.
struct Token {
  enum class Kind : std::uint8_t {
    literal,
    value, ///< An argument, or every argument, with an edit.
    seq,   ///< {#}
    slot,  ///< {%}
  };
  Kind kind = Kind::literal;
  std::string text; ///< literal: its bytes; otherwise the spelling as written ("{1.}").
  PathEdit edit = PathEdit::none;
  /// value: 0 for every argument ({}), n > 0 for the n-th ({n}, or a --header column), n < 0
  /// for the n-th from the end ({-n}).
  int position = 0;

  /// Stands for every argument (several values when a command has several arguments).
  bool is_list() const { return kind == Kind::value && position == 0; }
  bool operator==(const Token&) const = default;
};
using Tokens = std::vector<Token>;

/// How replacement strings are spelled in a template.
struct Spellings {
  std::string item = "{}";          ///< What stands for every argument (-I STR).
  std::vector<std::string> columns; ///< --header: names of the arguments, for {name}.
};

/// Splits a command word into tokens (an empty word is one empty literal). Unknown braces are
/// literal text, so awk programs, JSON and brace expansion pass untouched. Throws parmap::Error
/// for GNU parallel syntax parmap does not have ({= perl =}, and --plus strings such as {+/},
/// {##} or {:-str}), which would otherwise reach the command as text.
Tokens parse_word(std::string_view word, const Spellings& spellings);

/// The argument a positional token (n > 0 or n < 0) refers to, or nullptr when there are fewer
/// arguments (the value is then empty, as in GNU parallel).
const std::string* pick(std::span<const std::string> args, int position);

/// Appends `value` with `edit` applied.
void append_edited(std::string& out, std::string_view value, PathEdit edit);

/// The values one rendering substitutes.
struct RenderContext {
  std::span<const std::string> args; ///< The command's arguments (one for a plain item).
  std::uint64_t seq = 0;             ///< {#}
  unsigned slot = 0;                 ///< {%}
};

/// Appends a token's value: a literal's text, {#} and {%}, a positional value, and for a list
/// token the `index`-th argument.
void append_token_value(std::string& out,
                        const Token& token,
                        const RenderContext& ctx,
                        std::size_t index);

/// True for what shell arithmetic can evaluate without running anything: an optional sign and
/// decimal digits, or 0x and hex digits.
bool is_plain_number(std::string_view s);

/// GNU parallel's path edits, exposed for tests.
std::string_view without_extension(std::string_view path);
std::string_view path_basename(std::string_view path);
std::string path_dirname(std::string_view path);

} // namespace parmap
