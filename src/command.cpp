#include "command.hpp"

#include "parmap/error.hpp"

#include <array>
#include <charconv>

namespace parmap {
namespace {

struct Spelling {
  std::string_view text;
  Field field;
};
// Longest spellings first, so that "{//}" is not read as "{/}" followed by text.
constexpr std::array k_spellings{
    Spelling{"{//}", Field::dirname},  Spelling{"{/.}", Field::basename_no_ext},
    Spelling{"{}", Field::item},       Spelling{"{.}", Field::no_extension},
    Spelling{"{/}", Field::basename},  Spelling{"{#}", Field::seq},
    Spelling{"{%}", Field::slot},
};

bool is_safe_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || c == '.' || c == '/' || c == ',' || c == '+' || c == ':' ||
         c == '@';
}

void append_number(std::string& out, std::uint64_t n)
{
  std::array<char, 24> buf{};
  auto res = std::to_chars(buf.data(), buf.data() + buf.size(), n);
  out.append(buf.data(), res.ptr);
}

} // namespace

void append_shell_quoted(std::string& out, std::string_view s)
{
  bool safe = !s.empty();
  for (char c : s) {
    safe = safe && is_safe_char(c);
  }
  // A leading '-' is safe for the shell; whether the program treats it as an option is the
  // program's business, exactly as with direct exec.
  if (safe) {
    out.append(s);
    return;
  }
  out.push_back('\'');
  for (char c : s) {
    if (c == '\'') {
      out.append("'\\''");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
}

std::string shell_quote(std::string_view s)
{
  std::string out;
  append_shell_quoted(out, s);
  return out;
}

bool has_shell_syntax(std::string_view word)
{
  constexpr std::string_view k_special = " \t\n|&;<>()$`\\\"'*?[#~={}";
  std::size_t i = 0;
  while (i < word.size()) {
    bool was_field = false;
    for (const auto& sp : k_spellings) {
      if (word.substr(i).starts_with(sp.text)) {
        i += sp.text.size();
        was_field = true;
        break;
      }
    }
    if (was_field) {
      continue;
    }
    if (k_special.find(word[i]) != std::string_view::npos) {
      return true;
    }
    ++i;
  }
  return false;
}

std::string_view without_extension(std::string_view path)
{
  // GNU parallel: s:\.[^/.]*$:: — drop the last '.' and what follows, within the last component.
  auto dot = path.find_last_of("./");
  if (dot == std::string_view::npos || path[dot] != '.') {
    return path;
  }
  return path.substr(0, dot);
}

std::string_view path_basename(std::string_view path)
{
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string path_dirname(std::string_view path)
{
  // POSIX dirname(3), like Perl's File::Basename::dirname that GNU parallel uses.
  while (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
  }
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos) {
    return ".";
  }
  path = path.substr(0, slash);
  while (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
  }
  return path.empty() ? std::string("/") : std::string(path);
}

CommandTemplate::CommandTemplate(std::vector<std::string> words, Shell shell)
    : m_words(std::move(words))
{
  if (m_words.empty() || m_words.front().empty()) {
    throw Error("no command given");
  }
  for (const auto& w : m_words) {
    m_parsed.push_back(parse_word(w));
    for (const auto& t : m_parsed.back()) {
      m_has_replacement = m_has_replacement || t.field != Field::literal;
    }
  }
  switch (shell) {
  case Shell::always:
    m_shell = true;
    break;
  case Shell::never:
    m_shell = false;
    break;
  case Shell::automatic:
    m_shell = m_words.size() == 1 && has_shell_syntax(m_words.front());
    break;
  }
}

CommandTemplate::Word CommandTemplate::parse_word(std::string_view word)
{
  Word tokens;
  std::string literal;
  std::size_t i = 0;
  while (i < word.size()) {
    const Spelling* found = nullptr;
    if (word[i] == '{') {
      for (const auto& sp : k_spellings) {
        if (word.substr(i).starts_with(sp.text)) {
          found = &sp;
          break;
        }
      }
    }
    if (found == nullptr) {
      literal.push_back(word[i++]);
      continue;
    }
    if (!literal.empty()) {
      tokens.push_back({Field::literal, std::move(literal)});
      literal.clear();
    }
    tokens.push_back({found->field, {}});
    i += found->text.size();
  }
  if (!literal.empty() || tokens.empty()) {
    tokens.push_back({Field::literal, std::move(literal)});
  }
  return tokens;
}

void CommandTemplate::render_word(const Word& word,
                                  const RenderContext& ctx,
                                  bool quote,
                                  std::string& out) const
{
  auto put = [&](std::string_view value) {
    if (quote) {
      append_shell_quoted(out, value);
    } else {
      out.append(value);
    }
  };
  for (const auto& t : word) {
    switch (t.field) {
    case Field::literal:
      out.append(t.text);
      break;
    case Field::item:
      put(ctx.item);
      break;
    case Field::no_extension:
      put(without_extension(ctx.item));
      break;
    case Field::basename:
      put(path_basename(ctx.item));
      break;
    case Field::dirname:
      put(path_dirname(ctx.item));
      break;
    case Field::basename_no_ext:
      put(without_extension(path_basename(ctx.item)));
      break;
    case Field::seq:
      append_number(out, ctx.seq);
      break;
    case Field::slot:
      append_number(out, ctx.slot);
      break;
    }
  }
}

std::string CommandTemplate::shell_line(const RenderContext& ctx) const
{
  std::string line;
  for (std::size_t i = 0; i < m_parsed.size(); ++i) {
    if (i > 0) {
      line.push_back(' ');
    }
    render_word(m_parsed[i], ctx, true, line);
  }
  if (!m_has_replacement) {
    line.push_back(' ');
    append_shell_quoted(line, ctx.item);
  }
  return line;
}

void CommandTemplate::render(const RenderContext& ctx, std::vector<std::string>& argv) const
{
  argv.clear();
  if (m_shell) {
    argv.emplace_back("/bin/sh");
    argv.emplace_back("-c");
    argv.push_back(shell_line(ctx));
    return;
  }
  for (const auto& word : m_parsed) {
    argv.emplace_back();
    render_word(word, ctx, false, argv.back());
  }
  if (!m_has_replacement) {
    argv.emplace_back(ctx.item);
  }
}

std::string CommandTemplate::display(const RenderContext& ctx) const
{
  if (m_shell) {
    return shell_line(ctx);
  }
  std::vector<std::string> argv;
  render(ctx, argv);
  std::string line;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (i > 0) {
      line.push_back(' ');
    }
    append_shell_quoted(line, argv[i]);
  }
  return line;
}

std::string CommandTemplate::text() const
{
  std::string line;
  for (std::size_t i = 0; i < m_words.size(); ++i) {
    if (i > 0) {
      line.push_back(' ');
    }
    append_shell_quoted(line, m_words[i]);
  }
  return line;
}

} // namespace parmap
