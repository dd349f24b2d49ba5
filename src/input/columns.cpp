#include "input/columns.hpp"

#include "parmap/error.hpp"

#include <regex.h>

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

/// Perl escapes POSIX extended syntax lacks, spelled the POSIX way.
std::string to_posix(std::string_view p)
{
  std::string out;
  bool bracket = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '[' && !bracket) {
      bracket = true;
    } else if (c == ']' && bracket && i > 0 && p[i - 1] != '[') {
      bracket = false;
    }
    if (c != '\\' || i + 1 >= p.size()) {
      out.push_back(c);
      continue;
    }
    char e = p[++i];
    if (auto ctl = control_escape(e)) {
      out.push_back(*ctl);
    } else if (e == 'd' || e == 'D') {
      out += bracket ? "0-9" : (e == 'd' ? "[0-9]" : "[^0-9]");
    } else if (bracket && e == 's') {
      out += " \t\n\r\f\v";
    } else if (bracket && e == 'w') {
      out += "A-Za-z0-9_";
    } else if (bracket) {
      out.push_back(e); // a backslash is literal inside POSIX brackets
    } else {
      out.push_back('\\');
      out.push_back(e);
    }
  }
  return out;
}

} // namespace

struct Pattern::Compiled {
  regex_t re{};
};

Pattern::Pattern(const std::string& perl_like, const std::string& what)
    : m_literal(literal_of(perl_like))
{
  if (m_literal) {
    if (m_literal->empty()) {
      throw Error(what + ": an empty separator");
    }
    return;
  }
  m_regex = std::make_unique<Compiled>();
  int rc = ::regcomp(&m_regex->re, to_posix(perl_like).c_str(), REG_EXTENDED);
  if (rc != 0) {
    char message[256];
    ::regerror(rc, &m_regex->re, message, sizeof message);
    m_regex.reset();
    throw Error(what + ": '" + perl_like + "' is not a valid regular expression (" + message +
                ")");
  }
}

Pattern::~Pattern()
{
  if (m_regex) {
    ::regfree(&m_regex->re);
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
  while (from <= text.size()) {
    regmatch_t m{};
    m.rm_so = static_cast<regoff_t>(from);
    m.rm_eo = static_cast<regoff_t>(text.size());
    int flags = REG_STARTEND | (from > 0 ? REG_NOTBOL : 0);
    if (::regexec(&m_regex->re, text.data(), 1, &m, flags) != 0) {
      return std::nullopt;
    }
    auto begin = static_cast<std::size_t>(m.rm_so);
    auto end = static_cast<std::size_t>(m.rm_eo);
    if (end > begin) {
      return std::pair{begin, end};
    }
    from = begin + 1; // an empty match separates nothing
  }
  return std::nullopt;
}

bool Pattern::matches_all(std::string_view text) const
{
  if (m_literal) {
    return text == *m_literal;
  }
  regmatch_t m{};
  m.rm_so = 0;
  m.rm_eo = static_cast<regoff_t>(text.size());
  return ::regexec(&m_regex->re, text.data(), 1, &m, REG_STARTEND) == 0 && m.rm_so == 0 &&
         static_cast<std::size_t>(m.rm_eo) == text.size();
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
