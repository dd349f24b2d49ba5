#include "exec/shell_script.hpp"

#include "parmap/error.hpp"

#include <algorithm>

namespace parmap {
namespace {

constexpr char k_marker = '\0';

bool is_safe_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || c == '.' || c == '/' || c == ',' || c == '+' || c == ':' ||
         c == '@';
}

/// A value for a message: quoted, and cut short.
std::string shown(std::string_view value)
{
  constexpr std::size_t k_longest = 60;
  std::string q = shell_quote(value.substr(0, k_longest));
  return value.size() > k_longest ? q + "..." : q;
}

} // namespace

void append_shell_quoted(std::string& out, std::string_view s)
{
  bool safe = !s.empty() && std::all_of(s.begin(), s.end(), is_safe_char);
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

ShellScript::ShellScript(const std::vector<Tokens>& words, bool append)
{
  for (std::size_t w = 0; w < words.size(); ++w) {
    m_text += w > 0 ? " " : "";
    for (const auto& t : words[w]) {
      if (t.kind == Token::Kind::literal) {
        if (t.text.find(k_marker) != std::string::npos) {
          // A script is a C string for sh -c, and NUL marks the replacement strings here: a
          // literal one (possible in a Command given to the API) would be taken for one.
          throw Error("the shell template holds a NUL byte, which no shell command can");
        }
        m_text += t.text;
        continue;
      }
      m_positions.push_back(m_text.size());
      m_text.push_back(k_marker);
      m_tokens.push_back(t);
    }
  }
  if (append) {
    m_text += " ";
    m_positions.push_back(m_text.size());
    m_text.push_back(k_marker);
    m_tokens.push_back({Token::Kind::value, "{}"});
  }
  m_lex = lex_shell(m_text, k_marker);
  if (m_lex.markers.size() != m_tokens.size()) {
    // Found by fuzzing: text the lexer cannot place every replacement string in (here-document
    // operators it stops at) is refused rather than rewritten blindly.
    throw Error("the shell template cannot be read: a replacement string is inside shell syntax "
                "parmap's lexer does not follow (an unfinished here-document?)");
  }
  for (std::size_t k = 0; k < m_tokens.size(); ++k) {
    const Token& t = m_tokens[k];
    if (t.kind != Token::Kind::value || m_lex.markers[k].context == ShellContext::comment) {
      continue;
    }
    if (t.is_list() && std::find(m_lists.begin(), m_lists.end(), t.edit) == m_lists.end()) {
      m_lists.push_back(t.edit);
    }
    std::pair<int, PathEdit> single{t.position, t.edit};
    if (!t.is_list() && std::find(m_singles.begin(), m_singles.end(), single) == m_singles.end()) {
      m_singles.push_back(single);
    }
  }
}

std::size_t ShellScript::list_references() const
{
  std::size_t n = 0;
  for (std::size_t k = 0; k < m_tokens.size(); ++k) {
    n += m_tokens[k].is_list() && m_lex.markers[k].context != ShellContext::comment ? 1 : 0;
  }
  return n;
}

/// Writes one script: the template's text, with references where its values were.
class ShellScript::Builder {
public:
  Builder(const ShellScript& s, const RenderContext& ctx, Several several, std::string& out)
      : m_s(s), m_ctx(ctx), m_several(several), m_out(out)
  {
  }

  /// Emits m_text[from, to), binding list values to argument `bound` (all when npos).
  void emit(std::size_t from, std::size_t to, std::size_t bound)
  {
    for (std::size_t i = from; i < to;) {
      if (bound == k_all && m_several == Several::repeat && repeats_word_at(i)) {
        std::size_t end = word_end_at(i);
        for (std::size_t a = 0; a < m_ctx.args.size(); ++a) {
          m_out += a > 0 ? " " : "";
          emit(i, end, a);
        }
        i = end;
      } else if (const LiteralHeredoc* h = heredoc_at(i)) {
        m_out += h->delimiter; // <<'EOF' becomes <<EOF: the body is now expanded
        i = h->delimiter_end;
      } else {
        emit_char(i, bound);
        ++i;
      }
    }
  }

  /// Parameters (1-based) that are evaluated as arithmetic.
  std::vector<std::size_t> evaluated;

  static constexpr std::size_t k_all = static_cast<std::size_t>(-1);

private:
  std::size_t marker_at(std::size_t i) const
  {
    auto it = std::lower_bound(m_s.m_positions.begin(), m_s.m_positions.end(), i);
    return it != m_s.m_positions.end() && *it == i
               ? static_cast<std::size_t>(it - m_s.m_positions.begin())
               : k_all;
  }

  /// A top-level word holding a list value starts at i: -X repeats it.
  bool repeats_word_at(std::size_t i) const
  {
    for (std::size_t k = 0; k < m_s.m_tokens.size(); ++k) {
      const ShellMarker& m = m_s.m_lex.markers[k];
      if (m.word_begin == i && m_s.m_tokens[k].is_list() && m.context != ShellContext::comment) {
        return true;
      }
    }
    return false;
  }

  std::size_t word_end_at(std::size_t i) const
  {
    std::size_t end = i + 1;
    for (const auto& m : m_s.m_lex.markers) {
      if (m.word_begin == i) {
        end = std::max(end, m.word_end);
      }
    }
    return end;
  }

  const LiteralHeredoc* heredoc_at(std::size_t i) const
  {
    for (const auto& h : m_s.m_lex.literal_heredocs) {
      if (h.delimiter_begin == i) {
        return &h;
      }
    }
    return nullptr;
  }

  bool in_literal_body(std::size_t i) const
  {
    return std::any_of(m_s.m_lex.literal_heredocs.begin(), m_s.m_lex.literal_heredocs.end(),
                       [&](const LiteralHeredoc& h) { return i >= h.body_begin && i < h.body_end; });
  }

  void emit_char(std::size_t i, std::size_t bound)
  {
    char c = m_s.m_text[i];
    if (c == k_marker) {
      emit_marker(marker_at(i), bound);
      return;
    }
    if (in_literal_body(i) && (c == '\\' || c == '$' || c == '`')) {
      m_out.push_back('\\'); // literal in <<'EOF'; now escaped in <<EOF
    }
    m_out.push_back(c);
  }

  void emit_marker(std::size_t k, std::size_t bound)
  {
    const Token& t = m_s.m_tokens[k];
    const ShellMarker& m = m_s.m_lex.markers[k];
    if (m.context == ShellContext::comment) {
      m_out += t.text;
      return;
    }
    if (t.kind != Token::Kind::value) {
      append_token_value(m_out, t, m_ctx, 0); // {#} {%}: numbers, no quoting needed
      return;
    }
    if (!t.is_list() && pick(m_ctx.args, t.position) == nullptr &&
        m.context == ShellContext::plain && m.word_end == m.word_begin + 1) {
      return; // a bare {2} past the last argument is no word at all, as in GNU parallel
    }
    std::vector<std::size_t> params = params_of(t, bound);
    if (m.arithmetic) {
      evaluated.insert(evaluated.end(), params.begin(), params.end());
    }
    if (params.empty()) {
      pair_backslash(m.context); // no value (a list of no arguments): nor may it escape what follows
      return;
    }
    write_references(params, m.context);
  }

  std::vector<std::size_t> params_of(const Token& t, std::size_t bound) const
  {
    if (!t.is_list()) {
      auto it = std::find(m_s.m_singles.begin(), m_s.m_singles.end(),
                          std::pair<int, PathEdit>{t.position, t.edit});
      return {static_cast<std::size_t>(it - m_s.m_singles.begin()) + 1};
    }
    auto edit = static_cast<std::size_t>(
        std::find(m_s.m_lists.begin(), m_s.m_lists.end(), t.edit) - m_s.m_lists.begin());
    std::size_t first = bound == k_all ? 0 : bound;
    std::size_t last = bound == k_all ? m_ctx.args.size() : bound + 1;
    std::vector<std::size_t> params;
    for (std::size_t a = first; a < last; ++a) {
      params.push_back(m_s.m_singles.size() + a * m_s.m_lists.size() + edit + 1);
    }
    return params;
  }

  /// After an unpaired backslash ("a\{}") what the script writes next would be escaped; a
  /// newline pairs it instead: a line continuation, which sh removes.
  void pair_backslash(ShellContext context)
  {
    std::size_t backslashes = 0;
    while (backslashes < m_out.size() && m_out[m_out.size() - 1 - backslashes] == '\\') {
      ++backslashes;
    }
    bool quoted = context == ShellContext::squote || context == ShellContext::dollar_squote;
    if (!quoted && backslashes % 2 == 1) {
      m_out.push_back('\n');
    }
  }

  void write_references(const std::vector<std::size_t>& params, ShellContext context)
  {
    pair_backslash(context);
    std::string refs;
    for (std::size_t j = 0; j < params.size(); ++j) {
      std::string ref = "${" + std::to_string(params[j]) + "}";
      refs += j > 0 ? " " : "";
      refs += context == ShellContext::plain ? "\"" + ref + "\"" : ref;
    }
    switch (context) {
    case ShellContext::squote:
      m_out += "'\"" + refs + "\"'";
      return;
    case ShellContext::dollar_squote:
      m_out += "'\"" + refs + "\"$'";
      return;
    default:
      m_out += refs;
      return;
    }
  }

  const ShellScript& m_s;
  const RenderContext& m_ctx;
  Several m_several;
  std::string& m_out;
};

std::optional<std::string> ShellScript::render(const RenderContext& ctx,
                                               Several several,
                                               std::string& script,
                                               std::vector<std::string>& params) const
{
  params.clear();
  for (const auto& [position, edit] : m_singles) {
    params.emplace_back();
    if (const std::string* value = pick(ctx.args, position)) {
      append_edited(params.back(), *value, edit);
    }
  }
  for (const auto& arg : ctx.args) {
    for (PathEdit edit : m_lists) {
      params.emplace_back();
      append_edited(params.back(), arg, edit);
    }
  }
  script.clear();
  Builder b(*this, ctx, several, script);
  b.emit(0, m_text.size(), Builder::k_all);
  for (std::size_t p : b.evaluated) {
    const std::string& value = params[p - 1];
    if (!is_plain_number(value)) {
      return "the value " + shown(value) +
             " is not a number, and the command's shell evaluates it as arithmetic (as in "
             "$((...)) or [ ... -eq ... ]), where bash and ksh would run code inside it";
    }
  }
  return std::nullopt;
}

} // namespace parmap
