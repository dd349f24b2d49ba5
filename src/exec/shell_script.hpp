// Shell scripts of one-word templates: every replacement string becomes a reference to a
// positional parameter, quoted as its place in the script needs, and the values follow the
// script as arguments (sh -c SCRIPT sh VALUE...), so that no value is ever parsed as code.
#pragma once

#include "exec/replacement.hpp"
#include "exec/shell_lexer.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parmap {

/// How a word holding {} (or {.} ...) renders a command's several arguments.
enum class Several : std::uint8_t {
  /// One word per argument, the word's other text joined to the first and the last, as sh's
  /// "pre$@post" (GNU parallel's -m, -n, and several input sources).
  words,
  /// The whole word once per argument (GNU parallel's -X, -N and -L: context replace).
  repeat,
};

/// The script of a one-word (or --shell) template.
class ShellScript {
public:
  /// `words`: the template's parsed words, which the script joins with spaces. `append`: the
  /// template names no value, so the arguments follow the script's text. Throws parmap::Error
  /// (see lex_shell).
  ShellScript(const std::vector<Tokens>& words, bool append);

  /// Renders the script for these values and the parameters it refers to ($1 is params[0]).
  /// Returns why the values cannot be passed safely (a value the shell evaluates as arithmetic
  /// is not a plain number); script and params are then unspecified.
  [[nodiscard]] std::optional<std::string> render(const RenderContext& ctx,
                                                  Several several,
                                                  std::string& script,
                                                  std::vector<std::string>& params) const;

  /// The distinct edits of list values ({} {.} ...): each is one parameter per argument.
  const std::vector<PathEdit>& list_edits() const { return m_lists; }
  /// How many references to list values the script has (each argument adds one each).
  std::size_t list_references() const;
  /// How many parameters stand for one argument each ({1} {-1} {name}).
  std::size_t positional_values() const { return m_singles.size(); }
  /// The script's text without its values, for bounds on its size.
  std::size_t text_size() const { return m_text.size(); }

private:
  class Builder;

  std::string m_text;          ///< The words joined by spaces, each value a '\0' marker.
  std::vector<Token> m_tokens; ///< The token of each marker.
  std::vector<std::size_t> m_positions; ///< Where each marker is in m_text.
  ShellLex m_lex;
  /// Parameters: first one per distinct positional value, then per argument one per distinct
  /// edit of the list values ({} {.} ...), argument after argument.
  std::vector<std::pair<int, PathEdit>> m_singles;
  std::vector<PathEdit> m_lists;
};

/// Quotes `s` for POSIX sh so that it is one word with exactly these bytes. Strings made only of
/// safe characters are returned as they are.
std::string shell_quote(std::string_view s);
/// Appends shell_quote(s) to out.
void append_shell_quoted(std::string& out, std::string_view s);
/// Splits shell_quote()d words joined by single spaces (what CommandTemplate::text() and
/// display() write) back into the words; nullopt for a line that is not of that form.
std::optional<std::vector<std::string>> split_quoted_words(std::string_view line);

} // namespace parmap
