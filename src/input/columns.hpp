// Columns: input records split into arguments (--colsep), trimmed (--trim), and --header
// names, as GNU parallel makes them.
#pragma once

#include "base/regex.hpp"
#include "input/input.hpp"
#include "parmap/options.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// A separator or header pattern as GNU parallel users write them (Perl's regular
/// expressions, matched with PCRE2); one with no special character is matched as a plain
/// string, without the regex engine (--colsep , or --colsep '\t', the usual cases).
class Pattern {
public:
  /// Throws parmap::Error naming `what` for an invalid or empty expression.
  Pattern(const std::string& perl, const std::string& what);

  /// The first match in `text` at or after `from` that is not empty: [begin, end), or nullopt.
  std::optional<std::pair<std::size_t, std::size_t>> find(std::string_view text,
                                                          std::size_t from) const;
  /// True when the whole of `text` matches.
  bool matches_all(std::string_view text) const;

private:
  std::optional<std::string> m_literal;
  std::optional<Regex> m_regex;
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
