// Records: where one record of a --pipe stream ends and the next begins (GNU parallel's
// --recend, --recstart, --regexp), and the --header lines every block repeats.
#pragma once

#include "base/regex.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace parmap {

/// The boundaries between records: after a --recend, before a --recstart (both must match when
/// both are given), as literal strings or as Perl regular expressions. A boundary is the
/// position of the split: the end of the --recend match.
class RecordBoundary {
public:
  /// Literal strings have their escapes (\n, \t...) already applied. Throws parmap::Error for a
  /// regular expression that does not compile.
  RecordBoundary(std::string recend, std::string recstart, bool regexp);

  /// The first boundary whose --recend match starts at or after `from` and that is at or after
  /// `min_split` (from + 1 when a record may not be empty).
  std::optional<std::size_t> next(std::string_view buf, std::size_t from, std::size_t min_split) const;
  /// The last boundary after `from` whose --recend match starts at or after `from`.
  std::optional<std::size_t> last(std::string_view buf, std::size_t from) const;
  /// Where to look again once the first `searched` bytes held no boundary and more came: a
  /// literal separator may straddle the old end; a regular expression is matched afresh.
  std::size_t resume_from(std::size_t searched) const;

private:
  std::string m_separator; ///< Literal mode: recend followed by recstart.
  std::size_t m_end_length = 0; ///< Literal mode: where in m_separator the split is.
  std::optional<Regex> m_regex; ///< Regexp mode: (?:recend)(?=(?:recstart)).
};

/// --header: the head of the input that is given again before every block. ":" is the first
/// line, a number N the first N lines, anything else a regular expression matched at the start.
class HeaderPattern {
public:
  /// Throws parmap::Error for a regular expression that does not compile.
  explicit HeaderPattern(const std::string& spec);
  /// The header's length at the start of `input`; nullopt while more input could change it.
  /// At the end of the input, a header that does not match is empty (there is none).
  std::optional<std::size_t> length(std::string_view input, bool at_end) const;

private:
  std::size_t m_lines = 0;      ///< Line mode: the number of lines.
  std::optional<Regex> m_regex; ///< Otherwise.
};

} // namespace parmap
