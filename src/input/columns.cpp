#include "input/columns.hpp"

#include "parmap/error.hpp"

namespace parmap {
namespace {

constexpr std::string_view k_blanks = " \t\n\r\f\v";
constexpr std::string_view k_special = ".[]()*+?{}|^$\\";

/// Perl's control escapes, as the characters they stand for.
std::optional<char> control_escape(char c)
{
  switch (c) {
  case 't':
    return '\t';
  case 'n':
    return '\n';
  case 'r':
    return '\r';
  case 'f':
    return '\f';
  case 'v':
    return '\v';
  default:
    return std::nullopt;
  }
}

bool is_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// The plain string a pattern stands for, when it has no special character left once
/// control escapes and escaped punctuation are read.
std::optional<std::string> literal_of(std::string_view p)
{
  std::string out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '\\') {
      if (k_special.find(p[i]) != std::string_view::npos) {
        return std::nullopt;
      }
      out.push_back(p[i]);
      continue;
    }
    if (++i >= p.size()) {
      return std::nullopt;
    }
    if (auto c = control_escape(p[i])) {
      out.push_back(*c);
    } else if (!is_alnum(p[i])) {
      out.push_back(p[i]); // \| \. \\ ...
    } else {
      return std::nullopt; // \d \s \w \b ...
    }
  }
  return out;
}

} // namespace

Pattern::Pattern(const std::string& perl, const std::string& what) : m_literal(literal_of(perl))
{
  if (m_literal && m_literal->empty()) {
    throw Error(what + ": an empty separator");
  }
  if (!m_literal) {
    m_regex.emplace(perl, what);
  }
}

std::optional<std::pair<std::size_t, std::size_t>> Pattern::find(std::string_view text,
                                                                  std::size_t from) const
{
  if (m_literal) {
    auto at = text.find(*m_literal, from);
    if (at == std::string_view::npos) {
      return std::nullopt;
    }
    return std::pair{at, at + m_literal->size()};
  }
  while (auto m = m_regex->find(text, from)) {
    if (m->end > m->start) {
      return std::pair{m->start, m->end};
    }
    from = m->start + 1; // an empty match separates nothing
  }
  return std::nullopt;
}

bool Pattern::matches_all(std::string_view text) const
{
  if (m_literal) {
    return text == *m_literal;
  }
  Regex::Match m;
  return m_regex->match_prefix(text, m, false) == Regex::Prefix::matched && m.end == text.size();
}

void trim(std::string& s, Trim how)
{
  if (how == Trim::right || how == Trim::both) {
    s.erase(s.find_last_not_of(k_blanks) + 1);
  }
  if (how == Trim::left || how == Trim::both) {
    s.erase(0, std::min(s.find_first_not_of(k_blanks), s.size()));
  }
}

ColumnSplitter::ColumnSplitter(const Columns& columns)
{
  if (!columns.separator.empty()) {
    m_separator = std::make_unique<Pattern>(columns.separator, "--colsep");
  }
  m_trim = columns.trim != Trim::automatic ? columns.trim
           : m_separator                    ? Trim::both
                                            : Trim::none;
}

void ColumnSplitter::apply(std::vector<std::string>& args) const
{
  if (m_separator) {
    std::vector<std::string> columns;
    for (const auto& a : args) {
      std::size_t at = 0;
      while (auto m = m_separator->find(a, at)) {
        columns.push_back(a.substr(at, m->first - at));
        at = m->second;
      }
      columns.push_back(a.substr(at));
    }
    args = std::move(columns);
  }
  if (m_trim != Trim::none) {
    for (auto& a : args) {
      trim(a, m_trim);
    }
  }
}

} // namespace parmap
