#include "exec/command.hpp"

#include "input/input.hpp"
#include "parmap/error.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
#include <sstream>
#include <utility>

namespace parmap {
namespace {

std::size_t list_tokens(const Tokens& word)
{
  return static_cast<std::size_t>(
      std::count_if(word.begin(), word.end(), [](const Token& t) { return t.is_list(); }));
}

/// Appends `word` with each list value standing for every argument, joined by spaces.
void append_joined(std::string& out, const Tokens& word, const RenderContext& ctx)
{
  for (const auto& t : word) {
    for (std::size_t a = 0; a < (t.is_list() ? ctx.args.size() : 1); ++a) {
      out += a > 0 ? " " : "";
      append_token_value(out, t, ctx, a);
    }
  }
}

/// The shell as checkpoints and --dry-run show it: "sh" for /bin/sh, as 0.1.0 wrote it.
std::string shell_name(const std::string& path)
{
  return path == "/bin/sh" ? "sh" : path;
}

/// The script word of `SHELL [-opts] -c SCRIPT ...`, for a shell a user would paste into.
std::optional<std::size_t> script_word(const std::vector<std::string>& words)
{
  constexpr std::array<std::string_view, 6> k_shells{"sh", "bash", "dash", "zsh", "ksh", "mksh"};
  auto slash = words[0].rfind('/');
  std::string_view name = std::string_view(words[0]).substr(slash == std::string::npos ? 0 : slash + 1);
  if (std::find(k_shells.begin(), k_shells.end(), name) == k_shells.end()) {
    return std::nullopt;
  }
  for (std::size_t i = 1; i + 1 < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.size() < 2 || w[0] != '-' || w == "--") {
      return std::nullopt; // past the options: no -c
    }
    if (w.find('c') != std::string::npos && w.find_first_not_of("abcdefghijklmnopqrstuvwxyz", 1) ==
                                                std::string::npos) {
      return i + 1;
    }
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> unpassable(std::span<const std::string> args, std::uint64_t oversize)
{
  if (oversize > 0) {
    return "an argument is " + std::to_string(oversize) +
           " bytes long; one argument can be at most " + std::to_string(k_max_item_bytes) +
           " bytes";
  }
  if (std::any_of(args.begin(), args.end(),
                  [](const std::string& a) { return a.find('\0') != std::string::npos; })) {
    return "it contains a NUL byte, which cannot be passed as an argument (use -0 for "
           "NUL-separated input)";
  }
  return std::nullopt;
}

bool has_shell_syntax(const Tokens& tokens)
{
  constexpr std::string_view k_special = " \t\n|&;<>()$`\\\"'*?[#~={}";
  return std::any_of(tokens.begin(), tokens.end(), [&](const Token& t) {
    return t.kind == Token::Kind::literal &&
           t.text.find_first_of(k_special) != std::string::npos;
  });
}

bool has_shell_syntax(std::string_view word)
{
  try {
    return has_shell_syntax(parse_word(word, Spellings{}));
  } catch (const Error&) {
    return true; // GNU-only syntax such as {= ... =} is not a plain word either
  }
}

CommandTemplate::CommandTemplate(std::vector<std::string> words, TemplateOptions options)
    : m_words(std::move(words)), m_options(std::move(options))
{
  if (m_words.empty() || m_words.front().empty()) {
    throw Error("no command given");
  }
  for (const auto& w : m_words) {
    if (w.find('\0') != std::string::npos) {
      throw Error("a command word cannot hold a NUL byte");
    }
    m_parsed.push_back(parse_word(w, m_options.spellings));
    for (const auto& t : m_parsed.back()) {
      m_has_replacement = m_has_replacement || t.kind != Token::Kind::literal;
    }
  }
  m_append = m_options.append_args && !m_has_replacement;
  bool shell = m_options.shell == Shell::always ||
               (m_options.shell == Shell::automatic && m_words.size() == 1 &&
                has_shell_syntax(m_parsed.front()));
  if (shell) {
    m_script.emplace(m_parsed, m_append);
    m_options.through_shell = false;
  }
}

void CommandTemplate::render_word(const Tokens& word,
                                  const RenderContext& ctx,
                                  std::vector<std::string>& argv) const
{
  std::size_t lists = list_tokens(word);
  std::size_t n = ctx.args.size();
  auto write = [&](std::size_t index, std::string& out) {
    for (const auto& t : word) {
      append_token_value(out, t, ctx, index);
    }
  };
  bool missing = std::all_of(word.begin(), word.end(), [&](const Token& t) {
    return t.kind == Token::Kind::value && !t.is_list() && pick(ctx.args, t.position) == nullptr;
  });
  if (missing) {
    return; // {2} past the last argument: no argument at all, as in GNU parallel
  }
  if (lists == 0) {
    write(0, argv.emplace_back());
  } else if (m_options.several == Several::repeat) {
    for (std::size_t a = 0; a < n; ++a) {
      write(a, argv.emplace_back()); // -X: the whole word once per argument
    }
  } else if (lists == 1) {
    // One word per argument; the word's other text joins the first and the last ("pre$@post").
    auto list = std::find_if(word.begin(), word.end(), [](const Token& t) { return t.is_list(); });
    std::string head;
    std::string tail;
    for (auto it = word.begin(); it != list; ++it) {
      append_token_value(head, *it, ctx, 0);
    }
    for (auto it = list + 1; it != word.end(); ++it) {
      append_token_value(tail, *it, ctx, 0);
    }
    for (std::size_t a = 0; a < n; ++a) {
      std::string& out = argv.emplace_back(a == 0 ? head : std::string());
      append_token_value(out, *list, ctx, a);
      out += a + 1 == n ? tail : std::string();
    }
    if (n == 0 && !(head + tail).empty()) {
      argv.push_back(head + tail);
    }
  } else {
    append_joined(argv.emplace_back(), word, ctx); // several lists in one word
  }
}

std::optional<std::string> CommandTemplate::render(const RenderContext& ctx,
                                                   std::vector<std::string>& argv) const
{
  argv.clear();
  if (m_script) {
    std::string script;
    std::vector<std::string> params;
    auto refused = m_script->render(ctx, m_options.several, script, params);
    argv.reserve(params.size() + 4);
    argv.push_back(m_options.shell_path);
    argv.emplace_back("-c");
    argv.push_back(std::move(script));
    argv.emplace_back("sh"); // $0
    std::move(params.begin(), params.end(), std::back_inserter(argv));
    return refused;
  }
  if (m_options.through_shell) {
    // A builtin or a function: the shell runs the argv as "$@", so values are never parsed.
    argv = {m_options.shell_path, "-c", "\"$@\"", "sh"};
  }
  for (const auto& word : m_parsed) {
    render_word(word, ctx, argv);
  }
  if (m_append) {
    argv.insert(argv.end(), ctx.args.begin(), ctx.args.end());
  }
  return std::nullopt;
}

std::string CommandTemplate::script(const RenderContext& ctx) const
{
  std::string script;
  std::vector<std::string> params;
  if (m_script) {
    (void)m_script->render(ctx, m_options.several, script, params);
  }
  return script;
}

std::string CommandTemplate::display(const RenderContext& ctx) const
{
  std::vector<std::string> argv;
  (void)render(ctx, argv); // shown even when refused: it says what would have run
  if (m_script || m_options.through_shell) {
    argv.front() = shell_name(argv.front()); // as a user would type it
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
                     [](const Token& t) { return t.kind != Token::Kind::literal; });
}

std::string TextTemplate::render(const RenderContext& ctx) const
{
  std::string out;
  append_joined(out, m_word, ctx);
  return out;
}

std::string CommandTemplate::text() const
{
  // The words as written; when they run through the shell, what runs is `sh -c` and the words
  // joined by spaces: the same words exec'd directly are another command.
  std::string line;
  if (m_script) {
    std::string script;
    for (std::size_t i = 0; i < m_words.size(); ++i) {
      script += (i > 0 ? " " : "") + m_words[i];
    }
    line = shell_name(m_options.shell_path) + " -c ";
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

namespace {

/// The longest a reference to a parameter and its separator can be ("${9999999}" and a space).
constexpr std::size_t k_reference_bytes = 16;

std::size_t edited_size(std::string_view arg, PathEdit edit)
{
  if (edit == PathEdit::none) {
    return arg.size();
  }
  std::string v;
  append_edited(v, arg, edit);
  return v.size();
}

/// The bytes a word renders to without its list values: literals, and numbers at their widest.
std::size_t fixed_bytes(const Tokens& word)
{
  std::size_t n = 0;
  for (const auto& t : word) {
    n += t.kind == Token::Kind::literal ? t.text.size() : t.kind == Token::Kind::value ? 0 : 20;
  }
  return n;
}

} // namespace

LineSize CommandTemplate::base_size() const
{
  LineSize s;
  auto add = [&](std::size_t bytes) {
    s.bytes += bytes + 1;
    ++s.strings;
  };
  if (m_script) {
    std::vector<std::string> argv;
    (void)render(RenderContext{}, argv); // no arguments: the script without list references
    for (const auto& a : argv) {
      add(a.size() + (&a == &argv[2] ? 20 * m_parsed.size() : 0)); // {#} {%} at their widest
    }
    s.longest = argv[2].size();
    return s;
  }
  if (m_options.through_shell) {
    add(m_options.shell_path.size());
    add(2); // -c
    add(4); // "$@"
    add(2); // sh
  }
  for (const auto& word : m_parsed) {
    std::size_t lists = list_tokens(word);
    if (lists == 0) {
      add(fixed_bytes(word));
    } else if (lists == 1 && m_options.several == Several::words) {
      s.bytes += fixed_bytes(word); // joins the first and last arguments' strings
    } else if (m_options.several == Several::words) {
      add(fixed_bytes(word));
      s.longest = std::max(s.longest, fixed_bytes(word)); // one string that grows
    }
  }
  return s;
}

LineSize CommandTemplate::argument_size(std::string_view arg) const
{
  LineSize s;
  if (m_script) {
    for (PathEdit e : m_script->list_edits()) {
      s.bytes += edited_size(arg, e) + 1;
      ++s.strings;
    }
    // The script gains references (with -X, a copy of the words around them).
    std::size_t growth = m_script->list_references() * k_reference_bytes;
    if (m_options.several == Several::repeat) {
      growth += m_script->text_size();
    }
    s.bytes += growth;
    s.longest = growth;
    return s;
  }
  for (const auto& word : m_parsed) {
    std::size_t values = 0;
    for (const auto& t : word) {
      values += t.is_list() ? edited_size(arg, t.edit) + 1 : 0;
    }
    std::size_t lists = list_tokens(word);
    if (lists > 0 && m_options.several == Several::repeat) {
      s.bytes += fixed_bytes(word) + values; // the whole word once more: its own string
      ++s.strings;
    } else if (lists == 1) {
      s.bytes += values; // one more string: the value and its NUL
      ++s.strings;
    } else if (lists > 1) {
      s.bytes += values; // joined by spaces into one growing string
      s.longest += values;
    }
  }
  if (m_append) {
    s.bytes += arg.size() + 1;
    ++s.strings;
  }
  return s;
}

std::size_t CommandTemplate::positional_values() const
{
  if (m_script) {
    return m_script->positional_values();
  }
  std::size_t n = 0;
  for (const auto& word : m_parsed) {
    for (const auto& t : word) {
      n += t.kind == Token::Kind::value && !t.is_list() ? 1 : 0;
    }
  }
  return n;
}

std::optional<std::string> CommandTemplate::pasted_script_warning() const
{
  if (m_script) {
    return std::nullopt;
  }
  auto at = script_word(m_words);
  if (!at || std::none_of(m_parsed[*at].begin(), m_parsed[*at].end(), [](const Token& t) {
        return t.kind == Token::Kind::value;
      })) {
    return std::nullopt;
  }
  const std::string& shell = m_words.front();
  std::string one_word = "parmap ";
  auto slash = shell.rfind('/');
  if (shell.substr(slash == std::string::npos ? 0 : slash + 1) != "sh") {
    one_word += "--shell-path " + shell_quote(shell) + " ";
  }
  one_word += shell_quote(m_words[*at]);
  return "the item is pasted into the " + shell + " -c script as text (as GNU parallel and "
         "xargs -I do), so an item holding shell syntax runs as code; the one-word form passes "
         "it as data: " + one_word + " ...";
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
