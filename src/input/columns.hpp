// Columns: input records split into arguments (--colsep), trimmed (--trim), and --header
// names, as GNU parallel makes them.
#pragma once

#include "input/input.hpp"
#include "parmap/options.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// A regular expression as GNU parallel users write them (Perl's), matched with POSIX regexec
/// (extended syntax): glibc's matcher needs no recursion, so a long line cannot overflow the
/// stack as std::regex's backtracking can, and it is several times faster. Perl's \t \n \r
/// \f \v \d \D are translated (glibc knows \s \S \w \W); a pattern with no special character
/// is matched as a plain string, without the regex engine.
class Pattern {
public:
  /// Throws parmap::Error naming `what` for an invalid expression.
  Pattern(const std::string& perl_like, const std::string& what);
  ~Pattern();
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;

  /// The first match in `text` at or after `from` that is not empty: [begin, end), or nullopt.
  std::optional<std::pair<std::size_t, std::size_t>> find(std::string_view text,
                                                          std::size_t from) const;
  /// True when the whole of `text` matches.
  bool matches_all(std::string_view text) const;

private:
  struct Compiled;
  std::optional<std::string> m_literal;
  std::unique_ptr<Compiled> m_regex;
};

/// Splits and trims the arguments of input records (--colsep, --trim).
class ColumnSplitter {
public:
  /// Throws parmap::Error for an invalid --colsep expression.
  explicit ColumnSplitter(const Columns& columns);
  /// True when it changes anything.
  bool active() const { return m_separator != nullptr || m_trim != Trim::none; }
  /// Each argument split at the separator (every field kept, empty ones too, as Perl's split
  /// with a negative limit), then trimmed.
  void apply(std::vector<std::string>& args) const;

private:
  std::unique_ptr<Pattern> m_separator;
  Trim m_trim = Trim::none;
};

/// Removes the blanks --trim asks for from `s`.
void trim(std::string& s, Trim how);

} // namespace parmap
