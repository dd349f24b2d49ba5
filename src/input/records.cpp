#include "input/records.hpp"

#include <algorithm>
#include <charconv>

namespace parmap {

RecordBoundary::RecordBoundary(std::string recend, std::string recstart, bool regexp)
{
  if (!regexp) {
    m_end_length = recend.size();
    m_separator = std::move(recend) + recstart;
    return;
  }
  if (recend.empty() && recstart.empty()) {
    recend = "(?s:.)"; // GNU parallel's reading of --regexp --recend '': any byte ends a record
  }
  std::string pattern = "(?:" + recend + ")";
  if (!recstart.empty()) {
    pattern += "(?=(?:" + recstart + "))";
  }
  m_regex.emplace(pattern, "--recend/--recstart");
}

std::optional<std::size_t> RecordBoundary::next(std::string_view buf,
                                                std::size_t from,
                                                std::size_t min_split) const
{
  for (std::size_t at = from; at <= buf.size(); ++at) {
    std::size_t start = 0;
    std::size_t split = 0;
    if (m_regex) {
      auto m = m_regex->find(buf, at);
      if (!m) {
        return std::nullopt;
      }
      start = m->start;
      split = m->end;
    } else {
      start = buf.find(m_separator, at);
      if (start == std::string_view::npos) {
        return std::nullopt;
      }
      split = start + m_end_length;
    }
    if (split >= min_split) {
      return split;
    }
    at = start; // an empty record: look again one byte further
  }
  return std::nullopt;
}

std::optional<std::size_t> RecordBoundary::last(std::string_view buf, std::size_t from) const
{
  if (!m_regex) {
    // The last separator has the last split; if it is not after `from`, none is.
    std::size_t start = buf.rfind(m_separator);
    if (start == std::string_view::npos || start < from || start + m_end_length <= from) {
      return std::nullopt;
    }
    return start + m_end_length;
  }
  std::optional<std::size_t> found;
  for (auto split = next(buf, from, from + 1); split; split = next(buf, *split, *split + 1)) {
    found = split;
  }
  return found;
}

std::size_t RecordBoundary::resume_from(std::size_t searched) const
{
  if (m_regex || searched == 0) {
    return 0;
  }
  return searched + 1 >= m_separator.size() ? searched + 1 - m_separator.size() : 0;
}

HeaderPattern::HeaderPattern(const std::string& spec)
{
  std::size_t lines = 0;
  auto [end, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), lines);
  if (spec == ":") {
    m_lines = 1;
  } else if (!spec.empty() && ec == std::errc() && end == spec.data() + spec.size()) {
    m_lines = lines;
  } else {
    m_regex.emplace(spec, "--header");
  }
}

std::optional<std::size_t> HeaderPattern::length(std::string_view input, bool at_end) const
{
  if (!m_regex) {
    std::size_t at = 0;
    for (std::size_t n = 0; n < m_lines; ++n) {
      std::size_t nl = input.find('\n', at);
      if (nl == std::string_view::npos) {
        // Fewer lines than asked for: no header (GNU parallel's pattern does not match).
        return at_end ? std::optional<std::size_t>(0) : std::nullopt;
      }
      at = nl + 1;
    }
    return at;
  }
  Regex::Match m;
  switch (m_regex->match_prefix(input, m, !at_end)) {
  case Regex::Prefix::matched:
    return m.end;
  case Regex::Prefix::partial:
    return std::nullopt;
  case Regex::Prefix::none:
    break;
  }
  return 0;
}

} // namespace parmap
