#include "sources.hpp"

#include "parmap/error.hpp"

#include <unistd.h>

namespace parmap::cli {
namespace {

/// `word` split at every delimiter (-d ',' makes 'a,' two items, "a" and "", as GNU's does).
void split_into(const std::string& word, char delimiter, std::vector<std::string>& out)
{
  std::size_t start = 0;
  for (;;) {
    auto end = word.find(delimiter, start);
    out.push_back(word.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos) {
      return;
    }
    start = end + 1;
  }
}

class Collector {
public:
  explicit Collector(const SourceSyntax& syntax) : m_syntax(syntax) {}

  void add_file(const std::string& path, bool linked)
  {
    bool stdin_ = path == "-";
    m_sources.reads_stdin = m_sources.reads_stdin || stdin_;
    add(stdin_ ? Items::from_fd(STDIN_FILENO, m_syntax.delimiter, "stdin")
               : Items::from_file(path, m_syntax.delimiter),
        linked);
  }

  void add_words(std::span<const std::string> words, bool linked)
  {
    std::vector<std::string> items;
    for (const auto& w : words) {
      if (m_syntax.split_words) {
        split_into(w, m_syntax.delimiter, items);
      } else {
        items.push_back(w);
      }
    }
    add(Items(std::move(items)), linked);
  }

  Sources finish() &&
  {
    std::size_t count = 0;
    for (const auto& g : m_groups) {
      count += g.size();
    }
    m_sources.given = count > 0;
    if (count == 1) {
      m_sources.items = std::move(m_groups.front().front());
    } else if (m_syntax.link) {
      std::vector<Items> all;
      for (auto& g : m_groups) {
        std::move(g.begin(), g.end(), std::back_inserter(all));
      }
      m_sources.items = Items::link(std::move(all));
    } else if (count > 1) {
      std::vector<Items> factors;
      for (auto& g : m_groups) {
        factors.push_back(g.size() == 1 ? std::move(g.front()) : Items::zip(std::move(g)));
      }
      m_sources.items = factors.size() == 1 ? std::move(factors.front())
                                            : Items::product(std::move(factors));
    }
    return std::move(m_sources);
  }

private:
  void add(Items items, bool linked)
  {
    if (linked && m_groups.empty()) {
      throw Error("a linked group (" + m_syntax.arg_sep + "+ or " + m_syntax.arg_file_sep +
                  "+) needs an input source before it");
    }
    if (!linked) {
      m_groups.emplace_back();
    }
    m_groups.back().push_back(std::move(items));
  }

  const SourceSyntax& m_syntax;
  std::vector<std::vector<Items>> m_groups; ///< Sources, linked ones in one group.
  Sources m_sources;
};

} // namespace

bool is_source_separator(std::string_view word, const SourceSyntax& syntax)
{
  for (const auto& sep : {std::string_view(syntax.arg_sep), std::string_view(syntax.arg_file_sep)}) {
    if (word == sep || (word.size() == sep.size() + 1 && word.starts_with(sep) && word.back() == '+')) {
      return true;
    }
  }
  return false;
}

Sources read_sources(const std::vector<std::string>& arg_files,
                     std::span<const std::string> groups,
                     const SourceSyntax& syntax)
{
  Collector c(syntax);
  for (const auto& path : arg_files) {
    c.add_file(path, false);
  }
  std::size_t i = 0;
  while (i < groups.size()) {
    std::string_view sep = groups[i];
    bool linked = sep.back() == '+';
    bool files = sep.substr(0, sep.size() - (linked ? 1 : 0)) == syntax.arg_file_sep;
    std::size_t end = i + 1;
    while (end < groups.size() && !is_source_separator(groups[end], syntax)) {
      ++end;
    }
    auto words = groups.subspan(i + 1, end - i - 1);
    if (files) {
      for (const auto& path : words) {
        c.add_file(path, linked); // :::: f1 f2: one source per file; ::::+ links each
      }
    } else {
      c.add_words(words, linked);
    }
    i = end;
  }
  return std::move(c).finish();
}

} // namespace parmap::cli
