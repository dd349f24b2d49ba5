// Shell lexer: where each replacement string sits in a one-word shell template, lexically, so
// that the script can refer to its value in a way no shell parses as code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// What quoting a reference to a value needs where it is placed.
enum class ShellContext : std::uint8_t {
  plain,         ///< Unquoted (also inside $(...), `...` and ${...}): "${N}"
  dquote,        ///< Inside "...": ${N}
  squote,        ///< Inside '...': '"${N}"'
  dollar_squote, ///< Inside $'...' (bash, ksh, zsh, busybox): '"${N}"$'
  heredoc,       ///< In a here-document's body (a quoted one is made unquoted): ${N}
  arith,         ///< Inside $((...)), ((...)), $[...] or a subscript, where quotes may not go: ${N}
  comment,       ///< In a comment: never expanded, left as written
};

/// Where one replacement string (a marker byte in the script) is.
struct ShellMarker {
  ShellContext context = ShellContext::plain;
  /// The shell evaluates the value as arithmetic there ($((...)), ((...)), $[...], subscripts,
  /// ${x:N:M}, let, the operands of -eq -ne -lt -le -gt -ge): bash, ksh and zsh run code in
  /// an array subscript of such a value, so it must be a plain number.
  bool arithmetic = false;
  /// The top-level word holding it, [word_begin, word_end) in the script (-X repeats it).
  std::size_t word_begin = 0;
  std::size_t word_end = 0;
};

/// A quoted here-document (<<'EOF') whose body holds a marker. Its body is not expanded, so the
/// script makes it an unquoted one (<<EOF) and escapes the body's own $ ` and \ instead.
struct LiteralHeredoc {
  std::size_t delimiter_begin = 0; ///< The delimiter word as written ('EOF', "EOF", \EOF).
  std::size_t delimiter_end = 0;
  std::string delimiter;           ///< Without its quotes: what <<EOF needs.
  std::size_t body_begin = 0;      ///< The body, up to the line holding the delimiter.
  std::size_t body_end = 0;
};

/// What lex_shell() found.
struct ShellLex {
  std::vector<ShellMarker> markers;             ///< One per marker, in order.
  std::vector<LiteralHeredoc> literal_heredocs; ///< Those holding a marker, in order.
};

/// Lexes a POSIX sh script (with the bash/ksh/zsh extensions people use: $'...', ((...)),
/// [[...]], let, arrays) in which each `marker` byte stands for a replacement string. Only the
/// template's own text is lexed, never a value: a wrong answer can misquote a reference, and
/// the arithmetic rule is conservative (a value must be a number wherever a shell might
/// evaluate it). Throws parmap::Error for a marker in a here-document's delimiter, or in the body
/// of a quoted here-document whose delimiter cannot be written unquoted.
ShellLex lex_shell(std::string_view script, char marker);

} // namespace parmap
