// Command templates: parse once into tokens, render per item to an argv or a quoted shell line.
#pragma once

#include "parmap/options.hpp"
#include "parmap/parmap.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// What a replacement string stands for.
enum class Field : std::uint8_t {
  literal,
  item,               ///< {}
  no_extension,       ///< {.}
  basename,           ///< {/}
  dirname,            ///< {//}
  basename_no_ext,    ///< {/.}
  seq,                ///< {#}
  slot,               ///< {%}
};

/// The values one rendering substitutes.
struct RenderContext {
  std::string_view item;
  std::uint64_t seq = 0;
  unsigned slot = 0;
};

/// A parsed command template. Immutable after construction; cheap to render.
class CommandTemplate {
public:
  /// Throws parmap::Error when `words` is empty or the first word is empty. Without a
  /// replacement string the item is appended, unless `append_item` is false (--pipe: the
  /// block goes to stdin, and there is no argument).
  CommandTemplate(std::vector<std::string> words, Shell shell, bool append_item = true);

  /// True when rendered commands run as `/bin/sh -c LINE`.
  bool uses_shell() const { return m_shell; }
  /// True when the template names at least one replacement string.
  bool has_replacement() const { return m_has_replacement; }

  /// The argv to execute. Direct mode substitutes the values into the words. Shell mode never
  /// puts a value into the script: the script refers to positional parameters ("${1}"...)
  /// and the values follow it as arguments: /bin/sh -c SCRIPT sh VALUE... So no item can be
  /// run as code, whatever quotes, $(...) or backticks the template itself uses.
  void render(const RenderContext& ctx, std::vector<std::string>& argv) const;
  /// The command as a user could paste it into sh, every word shell-quoted.
  std::string display(const RenderContext& ctx) const;
  /// Shell mode: the script passed to sh -c (with {#} and {%} filled in).
  std::string script(const RenderContext& ctx) const;
  /// The template as written, with "sh -c " in front when it runs through the shell (stored
  /// in checkpoints to detect a changed command).
  std::string text() const;

private:
  friend class TextTemplate;
  struct Token {
    Field field;
    std::string text; ///< The literal text, for Field::literal.
  };
  using Word = std::vector<Token>;

  static Word parse_word(std::string_view word);
  static void render_word(const Word& word, const RenderContext& ctx, std::string& out);
  void build_script();

  std::vector<std::string> m_words;
  std::vector<Word> m_parsed;
  /// Shell mode: literal text (references to the items' parameters, "${1}" and the like,
  /// included) and the {#} and {%} fields, filled in per item.
  Word m_script;
  /// Shell mode: which value each positional parameter holds ($1 is m_params[0]).
  std::vector<Field> m_params;
  bool m_shell = false;
  bool m_has_replacement = false;
  bool m_append = false; ///< The item follows the words (no replacement string names it).
};

/// A text with replacement strings, for options that name things per item (--tagstring,
/// --wd, --results): parsed once, rendered per item, nothing appended, nothing quoted.
class TextTemplate {
public:
  explicit TextTemplate(std::string_view text) : m_word(CommandTemplate::parse_word(text)) {}
  bool has_replacement() const;
  std::string render(const RenderContext& ctx) const;

private:
  CommandTemplate::Word m_word;
};

/// Appends shell_quote(s) (parmap/parmap.hpp) to out.
void append_shell_quoted(std::string& out, std::string_view s);
/// Splits shell_quote()d words joined by single spaces (what CommandTemplate::text() and
/// display() write) back into the words; nullopt for a line that is not of that form.
std::optional<std::vector<std::string>> split_quoted_words(std::string_view line);

/// Splits a command given as one string (--ssh "ssh -i key") into words at blanks.
std::vector<std::string> split_words(std::string_view text);

/// True when `word` (replacement strings aside) contains characters the shell would interpret.
bool has_shell_syntax(std::string_view word);

/// Where a position in a shell script is, lexically: what quoting a reference placed there
/// needs. Only the template's own text is lexed; values never are.
enum class ShellContext : std::uint8_t {
  plain,   ///< Unquoted (also inside $(...), `...` and ${...}): "${N}"
  dquote,  ///< Inside double quotes: ${N}
  squote,  ///< Inside single quotes: '"${N}"'
  arith,   ///< Inside $((...)), where quotes are not allowed: ${N}
};
/// The context at the end of `text`, starting from the top level.
ShellContext shell_context_after(std::string_view text);

/// GNU parallel's path edits, exposed for tests.
std::string_view without_extension(std::string_view path);
std::string_view path_basename(std::string_view path);
std::string path_dirname(std::string_view path);

} // namespace parmap
