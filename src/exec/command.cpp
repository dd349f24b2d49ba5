#include "exec/command.hpp"

#include "parmap/error.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
#include <sstream>
#include <utility>

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

std::optional<std::vector<std::string>> split_quoted_words(std::string_view line)
{
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ') {
      if (!in_word) {
        return std::nullopt; // a leading or doubled space
      }
      words.push_back(std::exchange(word, {}));
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      auto end = line.find('\'', i + 1);
      if (end == std::string_view::npos) {
        return std::nullopt;
      }
      word.append(line.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '\\' && i + 1 < line.size()) {
      word.push_back(line[++i]);
    } else {
      word.push_back(c);
    }
  }
  if (in_word) {
    words.push_back(std::move(word));
  } else if (!line.empty()) {
    return std::nullopt; // a trailing space
  }
  return words;
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

ShellContext shell_context_after(std::string_view text)
{
  // A small lexer for the quoting constructs of POSIX sh. It needs to be right only for
  // templates people write; a wrong answer can misquote a reference, never run a value.
  enum class Kind : std::uint8_t { plain, squote, dquote, backtick, paren, brace, arith };
  struct Level {
    Kind kind;
    int depth = 0; ///< Open parentheses inside $((...)).
  };
  std::vector<Level> stack{{Kind::plain}};
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    char next = i + 1 < text.size() ? text[i + 1] : '\0';
    char next2 = i + 2 < text.size() ? text[i + 2] : '\0';
    Level& top = stack.back();
    if (top.kind == Kind::squote) {
      if (c == '\'') {
        stack.pop_back();
      }
      continue;
    }
    if (c == '\\') {
      ++i; // the next character is quoted
      continue;
    }
    if (c == '$' && next == '(') {
      stack.push_back({next2 == '(' ? Kind::arith : Kind::paren});
      i += next2 == '(' ? 2 : 1;
      continue;
    }
    if (c == '$' && next == '{') {
      stack.push_back({Kind::brace});
      ++i;
      continue;
    }
    if (c == '`') {
      if (top.kind == Kind::backtick) {
        stack.pop_back();
      } else {
        stack.push_back({Kind::backtick});
      }
      continue;
    }
    if (top.kind == Kind::dquote) {
      if (c == '"') {
        stack.pop_back();
      }
      continue;
    }
    if (top.kind == Kind::arith) {
      if (c == '(') {
        ++top.depth;
      } else if (c == ')' && top.depth > 0) {
        --top.depth;
      } else if (c == ')' && next == ')') {
        stack.pop_back();
        ++i;
      }
      continue;
    }
    if (c == '\'') {
      stack.push_back({Kind::squote});
    } else if (c == '"') {
      stack.push_back({Kind::dquote});
    } else if (c == ')' && top.kind == Kind::paren) {
      stack.pop_back();
    } else if (c == '}' && top.kind == Kind::brace) {
      stack.pop_back();
    }
  }
  switch (stack.back().kind) {
  case Kind::squote:
    return ShellContext::squote;
  case Kind::dquote:
    return ShellContext::dquote;
  case Kind::arith:
    return ShellContext::arith;
  default:
    return ShellContext::plain;
  }
}

CommandTemplate::CommandTemplate(std::vector<std::string> words, Shell shell, bool append_item)
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
  m_append = append_item && !m_has_replacement;
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
  if (m_shell) {
    build_script();
  }
}

void CommandTemplate::build_script()
{
  // The words joined by spaces are the script; each replacement string becomes a reference to
  // a positional parameter, quoted as its place in the script needs.
  std::string text; // the literal text so far, to find the context of the next reference
  auto reference = [&](Field field) {
    auto found = std::find(m_params.begin(), m_params.end(), field);
    std::size_t n = static_cast<std::size_t>(found - m_params.begin()) + 1;
    if (found == m_params.end()) {
      m_params.push_back(field);
    }
    std::string ref = "${" + std::to_string(n) + "}";
    ShellContext context = shell_context_after(text);
    // After an unpaired backslash ("a\{}") the reference's first character would be escaped;
    // a newline pairs it instead: a line continuation, which sh removes.
    auto last = text.find_last_not_of('\\');
    std::size_t backslashes = text.size() - (last == std::string::npos ? 0 : last + 1);
    std::string pair = context != ShellContext::squote && backslashes % 2 == 1 ? "\n" : "";
    switch (context) {
    case ShellContext::plain:
      return pair + "\"" + ref + "\"";
    case ShellContext::squote:
      return "'\"" + ref + "\"'";
    case ShellContext::dquote:
    case ShellContext::arith:
      return pair + ref;
    }
    return ref;
  };
  auto add_literal = [&](const std::string& literal) {
    text += literal;
    if (!m_script.empty() && m_script.back().field == Field::literal) {
      m_script.back().text += literal;
    } else {
      m_script.push_back({Field::literal, literal});
    }
  };
  for (std::size_t i = 0; i < m_parsed.size(); ++i) {
    if (i > 0) {
      add_literal(" ");
    }
    for (const auto& t : m_parsed[i]) {
      if (t.field == Field::literal) {
        add_literal(t.text);
      } else if (t.field == Field::seq || t.field == Field::slot) {
        m_script.push_back({t.field, {}}); // numbers: filled in, need no quoting
        text += "0";
      } else {
        add_literal(reference(t.field));
      }
    }
  }
  if (m_append) {
    add_literal(" ");
    add_literal(reference(Field::item));
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

namespace {

/// The value a field stands for.
void append_value(std::string& out, Field field, const RenderContext& ctx)
{
  switch (field) {
  case Field::literal:
    break;
  case Field::item:
    out.append(ctx.item);
    break;
  case Field::no_extension:
    out.append(without_extension(ctx.item));
    break;
  case Field::basename:
    out.append(path_basename(ctx.item));
    break;
  case Field::dirname:
    out.append(path_dirname(ctx.item));
    break;
  case Field::basename_no_ext:
    out.append(without_extension(path_basename(ctx.item)));
    break;
  case Field::seq:
    append_number(out, ctx.seq);
    break;
  case Field::slot:
    append_number(out, ctx.slot);
    break;
  }
}

} // namespace

void CommandTemplate::render_word(const Word& word, const RenderContext& ctx, std::string& out)
{
  for (const auto& t : word) {
    if (t.field == Field::literal) {
      out.append(t.text);
    } else {
      append_value(out, t.field, ctx);
    }
  }
}

std::string CommandTemplate::script(const RenderContext& ctx) const
{
  std::string out;
  render_word(m_script, ctx, out);
  return out;
}

void CommandTemplate::render(const RenderContext& ctx, std::vector<std::string>& argv) const
{
  argv.clear();
  if (m_shell) {
    argv.emplace_back("/bin/sh");
    argv.emplace_back("-c");
    argv.push_back(script(ctx));
    argv.emplace_back("sh"); // $0
    for (Field field : m_params) {
      argv.emplace_back();
      append_value(argv.back(), field, ctx);
    }
    return;
  }
  for (const auto& word : m_parsed) {
    argv.emplace_back();
    render_word(word, ctx, argv.back());
  }
  if (m_append) {
    argv.emplace_back(ctx.item);
  }
}

std::string CommandTemplate::display(const RenderContext& ctx) const
{
  std::vector<std::string> argv;
  render(ctx, argv);
  if (m_shell) {
    argv.front() = "sh"; // as a user would type it
  }
  std::string line;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (i > 0) {
      line.push_back(' ');
    }
    append_shell_quoted(line, argv[i]);
  }
  return line;
}

bool TextTemplate::has_replacement() const
{
  return std::any_of(m_word.begin(), m_word.end(),
                     [](const auto& t) { return t.field != Field::literal; });
}

std::string TextTemplate::render(const RenderContext& ctx) const
{
  std::string out;
  CommandTemplate::render_word(m_word, ctx, out);
  return out;
}

std::string CommandTemplate::text() const
{
  // The words as written; when they run through the shell, what runs is `sh -c` and the words
  // joined by spaces: the same words exec'd directly are another command.
  std::string line;
  if (m_shell) {
    std::string script;
    for (std::size_t i = 0; i < m_words.size(); ++i) {
      script += (i > 0 ? " " : "") + m_words[i];
    }
    line = "sh -c ";
    append_shell_quoted(line, script);
    return line;
  }
  for (std::size_t i = 0; i < m_words.size(); ++i) {
    if (i > 0) {
      line.push_back(' ');
    }
    append_shell_quoted(line, m_words[i]);
  }
  return line;
}

std::vector<std::string> split_words(std::string_view text)
{
  std::vector<std::string> words;
  std::istringstream in{std::string(text)};
  std::copy(std::istream_iterator<std::string>(in), std::istream_iterator<std::string>(),
            std::back_inserter(words));
  return words;
}

} // namespace parmap
