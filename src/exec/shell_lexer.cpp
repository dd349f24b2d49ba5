#include "exec/shell_lexer.hpp"

#include "parmap/error.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <optional>

namespace parmap {
namespace {

constexpr std::size_t k_none = static_cast<std::size_t>(-1);

enum class Kind : std::uint8_t {
  top,          ///< The script itself: words and commands.
  paren,        ///< $( ... ): words and commands.
  backtick,     ///< ` ... `: words and commands.
  brace,        ///< ${ ... }
  brace_arith,  ///< ${x:N:M}: the offset and length are arithmetic.
  arith,        ///< $(( ... )) or (( ... )); `depth` counts open parentheses.
  bracket,      ///< $[ ... ] or ${x[ ... ]}; `depth` counts open brackets.
  subscript,    ///< name[ ... ] in a word: ends at ] or at the end of the word.
  squote,       ///< ' ... '
  dollar_squote, ///< $' ... '
  dquote,       ///< " ... "
  heredoc,      ///< An unquoted here-document's body.
  literal_body, ///< A quoted here-document's body.
  comment,      ///< # ... up to the newline.
};

bool forms_words(Kind k)
{
  return k == Kind::top || k == Kind::paren || k == Kind::backtick;
}

bool is_name_char(char c, bool first)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (!first && c >= '0' && c <= '9');
}

bool ends_word(char c)
{
  return std::string_view(" \t\n;&|()<>").find(c) != std::string_view::npos;
}

bool is_arith_operator(std::string_view w)
{
  constexpr std::array<std::string_view, 6> k_ops{"-eq", "-ne", "-lt", "-le", "-gt", "-ge"};
  return std::find(k_ops.begin(), k_ops.end(), w) != k_ops.end();
}

/// Words after which a new command starts.
bool starts_command(std::string_view w)
{
  constexpr std::array<std::string_view, 11> k_words{"!",    "{",    "then", "do",    "else", "elif",
                                                     "if",   "while", "until", "time", "exec"};
  return std::find(k_words.begin(), k_words.end(), w) != k_words.end();
}

/// Characters a here-document delimiter may have to be written without quotes.
bool is_bare_delimiter(std::string_view d)
{
  return !d.empty() && std::all_of(d.begin(), d.end(), [](char c) {
    return is_name_char(c, false) || std::string_view("-.+,:@%/^=").find(c) != std::string_view::npos;
  });
}

struct Level {
  Kind kind;
  int depth = 0;
};

/// The word being read at a level that forms words, and what the words before it imply.
struct Words {
  std::size_t begin = k_none;       ///< Where the current word started; k_none between words.
  std::string text;                 ///< Its bytes, when it is plain (no quotes or expansions).
  bool plain = true;
  bool name_so_far = true;          ///< All of it so far is a shell name (for name[...]).
  std::vector<std::size_t> markers; ///< Markers in it (also inside its quotes).
  std::vector<std::size_t> previous; ///< Markers of the word before it.
  bool operand = false;             ///< The word before it was -eq and the like.
  bool command_start = true;        ///< It is the first word of a command.
  bool in_let = false;              ///< The command is `let`: every word is arithmetic.
};

struct PendingHeredoc {
  bool strip_tabs = false;
  bool quoted = false;
  std::string delimiter;
  std::size_t word_begin = 0;
  std::size_t word_end = 0;
};

struct Body {
  std::size_t begin = 0;
  std::size_t end = 0;   ///< Where the delimiter line starts (or the end of the script).
  std::size_t after = 0; ///< Just past the delimiter line.
  PendingHeredoc heredoc;
  std::optional<std::size_t> literal; ///< Its index in literal_heredocs, once it holds a marker.
};

class Lexer {
public:
  Lexer(std::string_view s, char marker) : m_s(s), m_marker(marker) {}

  ShellLex run()
  {
    m_levels.push_back({Kind::top});
    m_words.emplace_back();
    while (m_i < m_s.size()) {
      if (!m_bodies.empty() && m_body_open && m_i >= m_bodies.front().end) {
        end_body();
        continue;
      }
      step();
    }
    while (!m_words.empty()) {
      end_word(m_words.size() - 1);
      m_words.pop_back();
    }
    return std::move(m_out);
  }

private:
  char at(std::size_t i) const { return i < m_s.size() ? m_s[i] : '\0'; }
  /// How far a backslash at m_i reaches: over the next byte, unless that is a marker, which is
  /// a value's reference and must be seen (the script pairs the backslash with a newline), or
  /// there is none (found by fuzzing: a trailing backslash ended its word past the text).
  std::size_t escaped() const { return m_i + 1 >= m_s.size() || m_s[m_i + 1] == m_marker ? 1 : 2; }
  Level& top() { return m_levels.back(); }

  void push(Kind kind)
  {
    m_levels.push_back({kind});
    if (forms_words(kind)) {
      m_words.emplace_back();
    }
  }

  void pop()
  {
    if (forms_words(top().kind)) {
      end_word(m_words.size() - 1);
      m_words.pop_back();
    }
    m_levels.pop_back();
    if (m_levels.empty()) {
      m_levels.push_back({Kind::top}); // an unbalanced closer: stay at the top
      m_words.emplace_back();
    }
  }

  void step()
  {
    char c = m_s[m_i];
    if (c == m_marker) {
      add_marker();
      ++m_i;
      return;
    }
    switch (top().kind) {
    case Kind::squote:
      m_i += 1;
      if (c == '\'') {
        pop();
      }
      return;
    case Kind::dollar_squote:
      m_i += c == '\\' ? escaped() : 1;
      if (c == '\'') {
        pop();
      }
      return;
    case Kind::comment:
      if (c == '\n') {
        pop(); // the newline ends the command too: the enclosing level reads it
        return;
      }
      ++m_i;
      return;
    case Kind::literal_body:
      ++m_i;
      return;
    case Kind::dquote:
    case Kind::heredoc:
      quoted_step(c);
      return;
    case Kind::arith:
    case Kind::brace_arith:
    case Kind::bracket:
    case Kind::subscript:
    case Kind::brace:
      nested_step(c);
      return;
    case Kind::top:
    case Kind::paren:
    case Kind::backtick:
      word_step(c);
      return;
    }
  }

  /// Inside "..." or an unquoted here-document: only \, $ and ` mean something.
  void quoted_step(char c)
  {
    if (c == '"' && top().kind == Kind::dquote) {
      pop();
      ++m_i;
      return;
    }
    if (expansion(c)) {
      return;
    }
    m_i += c == '\\' ? escaped() : 1;
  }

  /// Inside ${...}, arithmetic and subscripts.
  void nested_step(char c)
  {
    Level& l = top();
    if (l.kind == Kind::subscript && ends_word(c)) {
      pop(); // an unclosed [ is a glob, not a subscript; the enclosing level reads c
      return;
    }
    if (c == '\'' || c == '"' || expansion(c)) {
      if (c == '\'' || c == '"') {
        push(c == '\'' ? Kind::squote : Kind::dquote);
        ++m_i;
      }
      return;
    }
    if (c == '\\') {
      m_i += escaped();
      return;
    }
    ++m_i;
    switch (l.kind) {
    case Kind::brace:
    case Kind::brace_arith:
      if (c == '}') {
        pop();
      }
      return;
    case Kind::arith:
      if (c == '(') {
        ++l.depth;
      } else if (c == ')' && l.depth > 0) {
        --l.depth;
      } else if (c == ')' && at(m_i) == ')') {
        ++m_i;
        pop();
      }
      return;
    default: // bracket, subscript
      if (c == '[') {
        ++l.depth;
      } else if (c == ']' && l.depth > 0) {
        --l.depth;
      } else if (c == ']') {
        pop();
      }
      return;
    }
  }

  /// $((, $(, ${, $[ and ` open a nested level; true when c began one.
  bool expansion(char c)
  {
    char next = at(m_i + 1);
    if (c == '`') {
      if (top().kind == Kind::backtick) {
        return false;
      }
      push(Kind::backtick);
      ++m_i;
      return true;
    }
    if (c != '$') {
      return false;
    }
    if (next == '(' && at(m_i + 2) == '(') {
      push(Kind::arith);
      m_i += 3;
    } else if (next == '(') {
      push(Kind::paren);
      m_i += 2;
    } else if (next == '[') {
      push(Kind::bracket);
      m_i += 2;
    } else if (next == '{') {
      m_i += 2;
      open_brace();
    } else {
      return false;
    }
    return true;
  }

  /// After "${": ${name[ opens a subscript, ${name:N opens arithmetic, anything else is a
  /// parameter expansion whose word (${x:-word}) is read like unquoted text.
  void open_brace()
  {
    std::size_t j = m_i;
    if (at(j) == '#') {
      ++j;
    }
    std::size_t name = j;
    while (j < m_s.size() && is_name_char(m_s[j], j == name)) {
      ++j;
    }
    if (j == name && j < m_s.size() && std::string_view("@*#?$!-0123456789").find(m_s[j]) !=
                                           std::string_view::npos) {
      ++j;
    }
    char after = at(j);
    if (after == ':' && std::string_view("-=?+").find(at(j + 1)) == std::string_view::npos) {
      push(Kind::brace_arith);
      m_i = j + 1;
      return;
    }
    push(Kind::brace);
    if (after == '[' && j > name) {
      push(Kind::bracket);
      m_i = j + 1;
    }
  }

  /// At the top, in $(...) and in `...`: words, commands, comments, here-documents.
  void word_step(char c)
  {
    Words& w = m_words.back();
    char next = at(m_i + 1);
    if (c == '\\' && next == '\n') {
      m_i += 2; // a line continuation
      return;
    }
    if (c == '`' && top().kind == Kind::backtick) {
      pop();
      ++m_i;
      return;
    }
    if (c == ')' && top().kind == Kind::paren && top().depth == 0) {
      pop();
      ++m_i;
      return;
    }
    if (c == '#' && w.begin == k_none) {
      push(Kind::comment);
      ++m_i;
      return;
    }
    if (c == '(' && next == '(' && w.begin == k_none) {
      push(Kind::arith); // ((...)) as a command, for ((...)) too
      m_i += 2;
      return;
    }
    if (c == '<' && next == '<' && at(m_i + 2) == '<') {
      end_word(m_words.size() - 1);
      m_i += 3; // a here-string: its word follows on the same line
      return;
    }
    if (c == '<' && next == '<') {
      end_word(m_words.size() - 1);
      read_heredoc_operator();
      return;
    }
    if (c == '\n') {
      end_command();
      ++m_i;
      start_bodies();
      return;
    }
    if (ends_word(c)) {
      operator_char(c);
      ++m_i;
      return;
    }
    word_char(c);
  }

  void operator_char(char c)
  {
    if (c == ' ' || c == '\t') {
      end_word(m_words.size() - 1);
    } else if (c == '<' || c == '>') {
      end_word(m_words.size() - 1); // a redirection: the next word is a file, not a command
    } else {
      if (c == '(' && top().kind == Kind::paren) {
        ++top().depth;
      } else if (c == ')' && top().kind == Kind::paren) {
        --top().depth;
      }
      end_command();
    }
  }

  void word_char(char c)
  {
    Words& w = m_words.back();
    begin_word(w);
    if (c == '[' && w.plain && w.name_so_far && !w.text.empty()) {
      push(Kind::subscript); // name[...]: an array subscript, arithmetic in bash and ksh
      ++m_i;
      return;
    }
    if (c == '\'' || (c == '$' && at(m_i + 1) == '\'') || c == '"' || c == '\\') {
      w.plain = false;
      if (c == '\\') {
        m_i += escaped();
      } else if (c == '$') {
        push(Kind::dollar_squote);
        m_i += 2;
      } else {
        push(c == '"' ? Kind::dquote : Kind::squote);
        ++m_i;
      }
      return;
    }
    if (c == '$' || c == '`') {
      w.plain = false; // before expansion(), whose push may move `w`
      if (expansion(c)) {
        return;
      }
    }
    w.name_so_far = w.name_so_far && is_name_char(c, w.text.empty());
    w.text.push_back(c);
    ++m_i;
  }

  void begin_word(Words& w)
  {
    if (w.begin == k_none) {
      w.begin = m_i;
    }
  }

  void end_word(std::size_t level)
  {
    Words& w = m_words[level];
    if (w.begin == k_none) {
      return;
    }
    bool operand = w.operand;
    w.operand = false;
    if (operand || w.in_let) {
      mark_arithmetic(w.markers);
    }
    if (w.plain && is_arith_operator(w.text)) {
      mark_arithmetic(w.previous);
      w.operand = true;
    }
    if (w.command_start && w.plain && w.text == "let") {
      w.in_let = true;
    }
    w.command_start = w.plain && starts_command(w.text);
    w.previous = std::move(w.markers);
    w.markers.clear();
    w.text.clear();
    w.plain = true;
    w.name_so_far = true;
    w.begin = k_none;
    if (level == 0) {
      for (std::size_t m : m_open_extent) {
        m_out.markers[m].word_end = m_i;
      }
      m_open_extent.clear();
    }
  }

  void end_command()
  {
    end_word(m_words.size() - 1);
    Words& w = m_words.back();
    w.command_start = true;
    w.in_let = false;
    w.operand = false;
    w.previous.clear();
  }

  void mark_arithmetic(const std::vector<std::size_t>& markers)
  {
    for (std::size_t m : markers) {
      m_out.markers[m].arithmetic = true;
    }
  }

  void add_marker()
  {
    std::size_t index = m_out.markers.size();
    ShellMarker m;
    m.context = context_here();
    m.word_begin = m_i;
    m.word_end = m_i + 1;
    // Conservative: a value is evaluated when any enclosing level is arithmetic, even through
    // a command substitution ($(( $(echo {}) ))) whose output the shell then evaluates.
    m.arithmetic = std::any_of(m_levels.begin(), m_levels.end(), [](const Level& l) {
      return l.kind == Kind::arith || l.kind == Kind::brace_arith || l.kind == Kind::bracket ||
             l.kind == Kind::subscript;
    });
    m_out.markers.push_back(m);
    if (top().kind == Kind::literal_body) {
      note_literal_marker();
    }
    if (top().kind == Kind::comment) {
      return;
    }
    if (forms_words(top().kind)) {
      begin_word(m_words.back());
      m_words.back().text.push_back('0'); // a value, not a keyword or operator
      m_words.back().name_so_far = false;
    }
    // Every word that holds it, at every level: the rules on words (let, -eq) apply to all.
    for (auto& w : m_words) {
      if (w.begin != k_none) {
        w.markers.push_back(index);
      }
    }
    // The top-level word holding it, for -X (not in a here-document's body).
    if (!m_body_open && m_words.front().begin != k_none) {
      m_out.markers[index].word_begin = m_words.front().begin;
      m_open_extent.push_back(index);
    }
  }

  ShellContext context_here()
  {
    switch (top().kind) {
    case Kind::squote:
      return ShellContext::squote;
    case Kind::dollar_squote:
      return ShellContext::dollar_squote;
    case Kind::dquote:
      return ShellContext::dquote;
    case Kind::heredoc:
    case Kind::literal_body:
      return ShellContext::heredoc;
    case Kind::comment:
      return ShellContext::comment;
    case Kind::arith:
    case Kind::brace_arith:
    case Kind::bracket:
    case Kind::subscript:
      return ShellContext::arith;
    default:
      return ShellContext::plain;
    }
  }

  void read_heredoc_operator()
  {
    PendingHeredoc h;
    std::size_t j = m_i + 2;
    if (at(j) == '-') {
      h.strip_tabs = true;
      ++j;
    }
    while (at(j) == ' ' || at(j) == '\t') {
      ++j;
    }
    h.word_begin = j;
    while (j < m_s.size() && !ends_word(m_s[j])) {
      char c = m_s[j];
      if (c == m_marker) {
        throw Error("a replacement string cannot be part of a here-document's delimiter");
      }
      if (c == '\'' || c == '"') {
        h.quoted = true;
        std::size_t close = m_s.find(c, j + 1);
        close = close == std::string_view::npos ? m_s.size() : close;
        h.delimiter.append(m_s.substr(j + 1, close - j - 1));
        j = std::min(close + 1, m_s.size());
      } else if (c == '\\') {
        h.quoted = true;
        if (j + 1 < m_s.size()) {
          h.delimiter.push_back(m_s[j + 1]);
        }
        j += 2;
      } else {
        h.delimiter.push_back(c);
        ++j;
      }
    }
    h.word_end = std::min(j, m_s.size());
    if (h.word_end > h.word_begin) {
      m_pending.push_back(std::move(h));
    }
    m_i = h.word_end;
    if (h.word_end == h.word_begin) {
      m_i = j; // "<<" with no word: a syntax error for the shell; read on
    }
  }

  /// After the newline that ends a command line: the pending here-documents' bodies follow.
  void start_bodies()
  {
    if (m_pending.empty() || m_body_open) {
      return; // (a here-document inside another one's body is read as plain text)
    }
    std::size_t pos = m_i;
    for (auto& h : m_pending) {
      Body b;
      b.begin = pos;
      b.heredoc = std::move(h);
      std::size_t line = pos;
      for (;;) {
        std::size_t nl = m_s.find('\n', line);
        std::size_t line_end = nl == std::string_view::npos ? m_s.size() : nl;
        std::string_view text = m_s.substr(line, line_end - line);
        if (b.heredoc.strip_tabs) {
          text.remove_prefix(std::min(text.find_first_not_of('\t'), text.size()));
        }
        if (text == b.heredoc.delimiter) {
          b.end = line;
          b.after = std::min(line_end + 1, m_s.size());
          break;
        }
        if (nl == std::string_view::npos) {
          b.end = b.after = m_s.size(); // unterminated: the body runs to the end
          break;
        }
        line = nl + 1;
      }
      pos = b.after;
      m_bodies.push_back(std::move(b));
    }
    m_pending.clear();
    open_body();
  }

  void open_body()
  {
    if (m_bodies.empty()) {
      return;
    }
    m_body_level = m_levels.size();
    m_levels.push_back({m_bodies.front().heredoc.quoted ? Kind::literal_body : Kind::heredoc});
    m_body_open = true;
    m_i = m_bodies.front().begin;
  }

  void end_body()
  {
    while (m_levels.size() > m_body_level) {
      pop();
    }
    m_i = m_bodies.front().after;
    m_bodies.pop_front();
    m_body_open = false;
    open_body();
  }

  void note_literal_marker()
  {
    Body& b = m_bodies.front();
    if (b.literal) {
      return;
    }
    if (!is_bare_delimiter(b.heredoc.delimiter)) {
      throw Error("a replacement string in a quoted here-document needs a delimiter that can "
                  "be written without quotes (a word like EOF), not '" + b.heredoc.delimiter +
                  "'");
    }
    b.literal = m_out.literal_heredocs.size();
    m_out.literal_heredocs.push_back({b.heredoc.word_begin, b.heredoc.word_end,
                                      b.heredoc.delimiter, b.begin, b.end});
  }

  std::string_view m_s;
  char m_marker;
  std::size_t m_i = 0;
  std::vector<Level> m_levels;
  std::vector<Words> m_words; ///< One per level that forms words, innermost last.
  std::vector<std::size_t> m_open_extent; ///< Markers in the current top-level word.
  std::vector<PendingHeredoc> m_pending;
  std::deque<Body> m_bodies;
  std::size_t m_body_level = 0;
  bool m_body_open = false;
  ShellLex m_out;
};

} // namespace

ShellLex lex_shell(std::string_view script, char marker)
{
  return Lexer(script, marker).run();
}

} // namespace parmap
