// The fuzz properties (see properties.hpp). Every check is pure: no process is started, and the
// only files touched live in private temporary directories.
#include "properties.hpp"

#include "store/checkpoint.hpp"
#include "cli/cli.hpp"
#include "cli/report.hpp"
#include "exec/agent/protocol.hpp"
#include "exec/command.hpp"
#include "input/block_cutter.hpp"
#include "input/input.hpp"
#include "parmap/error.hpp"
#include "parmap/report.hpp"
#include "output/spill.hpp"

#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>
#include <typeinfo>
#include <variant>
#include <vector>

namespace parmap::fuzz {
namespace {

[[noreturn]] void violated(const std::string& what) {
  throw PropertyViolation(what);
}

void expect(bool ok, const char* what) {
  if (!ok) {
    violated(what);
  }
}

/// Bytes of the input, consumed from the front.
class Reader {
public:
  Reader(const std::uint8_t* data, std::size_t size) : m_data(data), m_size(size) {}
  std::uint8_t byte() { return m_pos < m_size ? m_data[m_pos++] : 0; }
  std::string_view rest() const {
    return {reinterpret_cast<const char*>(m_data) + m_pos, m_size - m_pos};
  }

private:
  const std::uint8_t* m_data;
  std::size_t m_size;
  std::size_t m_pos = 0;
};

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) {
    return out;
  }
  std::size_t start = 0;
  for (;;) {
    auto end = s.find(sep, start);
    out.emplace_back(s.substr(start, end == std::string_view::npos ? s.npos : end - start));
    if (end == std::string_view::npos) {
      return out;
    }
    start = end + 1;
  }
}

std::string hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    static constexpr char k_digits[] = "0123456789abcdef";
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(k_digits[c >> 4]);
      out.push_back(k_digits[c & 15]);
    }
  }
  return out;
}

// ---- Command templates ------------------------------------------------------------------

bool is_quote_safe(char c) {
  // The characters shell_quote may leave bare: none of them means anything to sh.
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_-./,+:@").find(c) != std::string_view::npos;
}

/// Splits a line made of shell_quote'd words joined by single spaces, accepting only what
/// shell_quote produces: bare safe characters, '...' (no escapes inside) and \' between
/// quoted runs. nullopt for anything else, so a word that is not inert for sh fails the check.
std::optional<std::vector<std::string>> parse_quoted_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ') {
      if (!in_word) {
        return std::nullopt; // two spaces, or a leading one
      }
      words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      auto close = line.find('\'', i + 1);
      if (close == std::string_view::npos) {
        return std::nullopt;
      }
      word.append(line.substr(i + 1, close - i - 1));
      i = close;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size() && line[i + 1] == '\'') {
      word.push_back('\'');
      ++i;
      in_word = true;
    } else if (is_quote_safe(c)) {
      word.push_back(c);
      in_word = true;
    } else {
      return std::nullopt;
    }
  }
  if (!in_word) {
    return std::nullopt; // empty line or a trailing space
  }
  words.push_back(std::move(word));
  return words;
}

void check_quote_round_trip(std::string_view s) {
  std::string q = shell_quote(s);
  auto back = parse_quoted_words(q);
  if (!back || back->size() != 1 || (*back)[0] != s) {
    violated("shell_quote does not round-trip: " + hex(s) + " -> " + hex(q));
  }
  bool bare = !s.empty() && std::all_of(s.begin(), s.end(), is_quote_safe);
  expect(bare ? q == s : q.front() == '\'',
         "shell_quote quotes a safe word or leaves an unsafe one bare");
}

bool only_alnum(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

void check_paths(std::string_view item) {
  expect(item.starts_with(without_extension(item)), "without_extension is a prefix");
  expect(item.ends_with(path_basename(item)), "path_basename is a suffix");
  expect(!path_dirname(item).empty(), "path_dirname is never empty");
  (void)has_shell_syntax(item);
  (void)is_plain_number(item);
}

void check_lexer(std::string_view text) {
  try {
    ShellLex lex = lex_shell(text, '\0');
    expect(lex.markers.empty(), "a text without markers has no markers");
  } catch (const Error&) {
    // Only markers can make a here-document's delimiter unusable.
    violated("lex_shell threw on a text without markers: " + hex(text));
  }
}

/// The tokens of every word, or nullopt when a word holds GNU-only syntax (parse_word throws).
std::optional<std::vector<Tokens>> parse_all(const std::vector<std::string>& words,
                                             const Spellings& spellings) {
  std::vector<Tokens> parsed;
  try {
    for (const auto& w : words) {
      parsed.push_back(parse_word(w, spellings));
    }
  } catch (const Error&) {
    return std::nullopt;
  }
  return parsed;
}

bool has_value(const Tokens& word) {
  return std::any_of(word.begin(), word.end(),
                     [](const Token& t) { return t.kind == Token::Kind::value; });
}

/// The template's text (words joined by spaces, {#} and {%} filled in) before its first value;
/// nullopt when it has none.
std::optional<std::string> text_before_first_value(const std::vector<Tokens>& words,
                                                   const RenderContext& ctx) {
  std::string text;
  for (std::size_t w = 0; w < words.size(); ++w) {
    text += w > 0 ? " " : "";
    for (const auto& t : words[w]) {
      if (t.kind == Token::Kind::value) {
        return text;
      }
      append_token_value(text, t, ctx, 0);
    }
  }
  return std::nullopt;
}

/// A reference placed right after an unpaired backslash has its first character escaped: the
/// value is then split and globbed, or not substituted at all. Checked where no lexer is
/// needed to know that the backslash is not quoted: no ', `, #, <<, (( or [ before it.
void check_no_escaped_reference(const std::vector<Tokens>& words,
                                const RenderContext& ctx,
                                const std::string& script) {
  auto before = text_before_first_value(words, ctx);
  if (!before || before->find_first_of("'`#[") != std::string::npos ||
      before->find("<<") != std::string::npos || before->find("((") != std::string::npos) {
    return;
  }
  expect(script.starts_with(*before), "the script starts with the template's text");
  std::size_t backslashes = 0;
  while (backslashes < before->size() && (*before)[before->size() - 1 - backslashes] == '\\') {
    ++backslashes;
  }
  // A line continuation (backslash-newline, removed by sh) is a way to pair it.
  if (backslashes % 2 == 1 && script.compare(before->size(), 1, "\n") != 0) {
    violated("a replacement string after an unpaired backslash is escaped in the script: " +
             hex(script));
  }
}

/// Every value a parameter may hold: an edit of an argument, or empty (a missing position).
bool is_derived(const std::string& param, const RenderContext& ctx) {
  if (param.empty()) {
    return true;
  }
  for (PathEdit e : {PathEdit::none, PathEdit::no_extension, PathEdit::basename,
                     PathEdit::dirname, PathEdit::basename_no_ext}) {
    for (const auto& a : ctx.args) {
      std::string v;
      append_edited(v, a, e);
      if (v == param) {
        return true;
      }
    }
  }
  return false;
}

void check_shell_render(const CommandTemplate& t,
                        const RenderContext& ctx,
                        const std::vector<std::string>& argv,
                        const std::optional<std::string>& refused) {
  expect(argv.size() >= 4 && argv[0] == "/bin/sh" && argv[1] == "-c" && argv[3] == "sh",
         "shell mode renders /bin/sh -c SCRIPT sh VALUE...");
  expect(t.script(ctx) == argv[2], "script() is argv[2]");
  bool all_numbers = true;
  for (std::size_t i = 4; i < argv.size(); ++i) {
    expect(is_derived(argv[i], ctx), "every positional parameter is a value derived from an "
                                     "argument");
    all_numbers = all_numbers && is_plain_number(argv[i]);
  }
  expect(!refused || !all_numbers, "a render is refused only for a value that is no number");
  // Values are positional parameters: the script is the same whatever the arguments are.
  std::vector<std::string> others(ctx.args.size());
  for (std::size_t i = 0; i < others.size(); ++i) {
    others[i] = ctx.args[i] == "x" ? "y" : "x";
  }
  RenderContext other = ctx;
  other.args = others;
  std::string script_other = t.script(other);
  if (script_other != argv[2]) {
    violated("the shell script depends on the values: " + hex(argv[2]) + " vs " +
             hex(script_other));
  }
  std::vector<std::string> empties(ctx.args.size());
  RenderContext empty = ctx;
  empty.args = empties;
  for (const auto& a : ctx.args) {
    if (!only_alnum(a) && t.script(empty).find(a) == std::string::npos &&
        argv[2].find(a) != std::string::npos) {
      violated("an argument's bytes are inlined into the script: " + hex(argv[2]));
    }
  }
}

/// How many strings direct mode renders a word into.
std::size_t strings_of(const Tokens& word, const RenderContext& ctx, Several several) {
  std::size_t n = ctx.args.size();
  bool missing = std::all_of(word.begin(), word.end(), [&](const Token& t) {
    return t.kind == Token::Kind::value && !t.is_list() && pick(ctx.args, t.position) == nullptr;
  });
  if (missing) {
    return 0; // {2} past the last argument vanishes
  }
  auto lists = std::count_if(word.begin(), word.end(), [](const Token& t) { return t.is_list(); });
  if (lists == 0 || lists > 1) {
    return lists == 0 || several == Several::words ? 1 : n;
  }
  if (several == Several::repeat) {
    return n;
  }
  bool other_text = word.size() > 1;
  return n == 0 ? (other_text ? 1 : 0) : n; // a word with nothing around {} may vanish
}

void check_direct_render(const std::vector<std::string>& words,
                         const std::vector<Tokens>& parsed,
                         const CommandTemplate& t,
                         const RenderContext& ctx,
                         const std::vector<std::string>& argv) {
  std::size_t n = ctx.args.size();
  std::size_t want = t.has_replacement() ? 0 : n;
  bool one_each = true;
  for (const auto& w : parsed) {
    std::size_t k = strings_of(w, ctx, t.options().several);
    one_each = one_each && k == 1;
    want += k;
  }
  if (argv.size() != want && !(n == 0 && argv.size() < want)) {
    violated("direct mode renders " + std::to_string(argv.size()) + " strings, not " +
             std::to_string(want));
  }
  if (!one_each) {
    return;
  }
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (!has_value(parsed[i]) && parsed[i].size() == 1 && parsed[i][0].kind == Token::Kind::literal) {
      expect(argv[i] == words[i], "a word without replacement strings is passed as it is");
    }
  }
  if (!t.has_replacement()) {
    expect(std::equal(ctx.args.begin(), ctx.args.end(), argv.end() - static_cast<long>(n)),
           "the arguments are appended when no replacement string is named");
  }
}

void check_template(const std::vector<std::string>& words, TemplateOptions options,
                    const RenderContext& ctx) {
  bool invalid = words.empty() || words.front().empty();
  auto parsed = parse_all(words, options.spellings);
  std::optional<CommandTemplate> t;
  try {
    t.emplace(words, options);
  } catch (const Error&) {
    std::string joined;
    for (const auto& w : words) {
      joined += w + " ";
    }
    // Empty, GNU-only syntax, or (shell mode) a here-document the lexer cannot rewrite.
    expect(invalid || !parsed || joined.find("<<") != std::string::npos,
           "CommandTemplate threw parmap::Error for a valid template");
    return;
  }
  expect(!invalid && parsed.has_value(), "CommandTemplate accepted an invalid command");

  bool any_field = std::any_of(parsed->begin(), parsed->end(), [](const Tokens& w) {
    return std::any_of(w.begin(), w.end(), [](const Token& tk) { return tk.kind != Token::Kind::literal; });
  });
  expect(t->has_replacement() == any_field, "has_replacement() matches the words");
  bool want_shell = options.shell == Shell::always ||
                    (options.shell == Shell::automatic && words.size() == 1 &&
                     has_shell_syntax(parsed->front()));
  expect(t->uses_shell() == want_shell, "uses_shell() follows the Shell mode");

  std::vector<std::string> argv;
  auto refused = t->render(ctx, argv);
  if (t->uses_shell()) {
    check_shell_render(*t, ctx, argv, refused);
    // With -X (Several::repeat) a word holding {} is written once per argument: not once for
    // none or several, so the template's text does not start the script as it is.
    if (options.several == Several::words || ctx.args.size() == 1) {
      check_no_escaped_reference(*parsed, ctx, argv[2]);
    }
  } else {
    expect(!refused, "direct exec never refuses a value");
    check_direct_render(words, *parsed, *t, ctx, argv);
  }

  // display(): each argument quoted once, the line splitting back into the same argv.
  std::string line = t->display(ctx);
  auto shown = parse_quoted_words(line);
  std::vector<std::string> want = argv;
  if (t->uses_shell()) {
    want.front() = "sh";
  }
  if (argv.empty() ? !line.empty() : (!shown || *shown != want)) {
    violated("display() does not quote the argv: " + hex(line));
  }

  // text(): the template as written, quoted the same way.
  std::string text = t->text();
  auto back = parse_quoted_words(text);
  std::vector<std::string> want_text = words;
  if (t->uses_shell()) {
    // What runs: sh -c and the words joined by spaces (one word is the script itself).
    std::string joined;
    for (std::size_t i = 0; i < words.size(); ++i) {
      joined += (i > 0 ? " " : "") + words[i];
    }
    want_text = {"sh", "-c", joined};
  }
  if (!back || *back != want_text) {
    violated("text() does not quote the template: " + hex(text));
  }
}

// ---- Input splitter ---------------------------------------------------------------------

/// A small deterministic generator for chunk sizes.
class Chunker {
public:
  explicit Chunker(std::uint32_t seed) : m_state(seed * 2654435761U + 1U) {}
  std::size_t next() {
    m_state ^= m_state << 13;
    m_state ^= m_state >> 17;
    m_state ^= m_state << 5;
    std::uint32_t r = m_state >> 2;
    switch (m_state & 3U) {
    case 0:
      return 1 + r % 8;
    case 1:
      return 1 + r % 512;
    case 2:
      return 1 + r % 65536;
    default:
      return 1 + r % 300000;
    }
  }

private:
  std::uint32_t m_state;
};

// ---- Checkpoint -------------------------------------------------------------------------

struct CheckpointFixture {
  std::string dir;
  std::string db;     ///< The committed file (WAL checkpointed into it, no -wal).
  std::string wal_db; ///< The database file while its WAL still held the run.
  std::string wal;    ///< That WAL.

  CheckpointFixture();
  ~CheckpointFixture() { ::rmdir(dir.c_str()); }
  CheckpointFixture(const CheckpointFixture&) = delete;
  CheckpointFixture& operator=(const CheckpointFixture&) = delete;
};

std::string read_file(const std::string& path) {
  std::string out;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[65536];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
      out.append(buf, n);
    }
    std::fclose(f);
  }
  return out;
}

void write_file(const std::string& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
    std::perror(path.c_str());
    std::abort();
  }
  std::fclose(f);
}

void remove_db(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    ::unlink((path + suffix).c_str());
  }
}

std::string make_temp_dir(const char* what) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/parmap-" + what + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  return templ;
}

Output output_of(std::string_view bytes, SpillFactory& spill) {
  Capture c;
  c.append(bytes, spill, 1 << 20);
  return c.finish();
}

const RunRecord k_run{"echo {}", "shell=auto batch-size=1 timeout=none", "0.0.0-fuzz"};

void fill_checkpoint(Checkpoint& cp, SpillFactory& spill) {
  struct Row {
    const char* item;
    Status status;
    int exit_code;
    int signal;
    std::string out;
    std::string err;
  };
  const Row rows[] = {
      {"a", Status::ok, 0, 0, "a\n", ""},
      {"b", Status::failed, 3, 0, "", "boom\n"},
      {"c", Status::timeout, 124, 0, "partial", "killed after 1s\n"},
      {"d", Status::signaled, 137, 9, "", std::string(600, 'e')},
      {"a", Status::ok, 0, 0, std::string(5000, 'o'), ""},
  };
  std::uint64_t seq = 0;
  OccurrenceCounter occurrences;
  for (const auto& row : rows) {
    Result r;
    r.seq = ++seq;
    r.item = row.item;
    r.status = row.status;
    r.exit_code = row.exit_code;
    r.signal = row.signal;
    r.out = output_of(row.out, spill);
    r.err = output_of(row.err, spill);
    r.started = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000 + seq));
    r.duration = 0.25 * static_cast<double>(seq);
    r.attempts = 1;
    cp.record(r, occurrences.next(r.item));
  }
  cp.commit();
}

CheckpointFixture::CheckpointFixture() : dir(make_temp_dir("fuzz-checkpoint")) {
  std::string path = dir + "/base.db";
  // SQLite's WAL salts come from its PRNG: seed it so that the images (and so every fuzz input
  // that edits them) are the same in every process.
  sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, 12345, nullptr);
  {
    SpillFactory spill(dir);
    CheckpointMode mode;
    mode.commit_every = 1000;
    Checkpoint cp(path, k_run, mode);
    fill_checkpoint(cp, spill);
    // The run record's creation time, made fixed for the same reason.
    sqlite3* conn = nullptr;
    if (sqlite3_open(path.c_str(), &conn) != SQLITE_OK ||
        sqlite3_exec(conn, "UPDATE run SET created = 1700000000", nullptr, nullptr, nullptr) !=
            SQLITE_OK) {
      std::fprintf(stderr, "fixture: %s\n", sqlite3_errmsg(conn));
      std::abort();
    }
    sqlite3_close(conn);
    wal_db = read_file(path);
    wal = read_file(path + "-wal");
  }
  db = read_file(path);
  remove_db(path);
  sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, 0, nullptr);
  if (db.empty() || wal.empty()) {
    std::fprintf(stderr, "fixture: no checkpoint image was made\n");
    std::abort();
  }
}

CheckpointFixture& checkpoint_fixture() {
  static CheckpointFixture f;
  return f;
}

void apply_edits(Reader& in, std::string& image) {
  for (int edits = 0; edits < 64 && !in.rest().empty(); ++edits) {
    std::uint8_t op = in.byte();
    std::size_t offset = static_cast<std::size_t>(in.byte()) << 16;
    offset |= static_cast<std::size_t>(in.byte()) << 8;
    offset |= in.byte();
    std::size_t len = in.byte();
    std::string_view bytes = in.rest().substr(0, (op & 3) == 1 ? 0 : len);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      in.byte();
    }
    switch (op & 3) {
    case 0: // overwrite
      if (!image.empty()) {
        offset %= image.size();
        image.replace(offset, std::min(bytes.size(), image.size() - offset), bytes);
      }
      break;
    case 1: // truncate
      image.resize(offset % (image.size() + 1));
      break;
    case 2: // append
      image.append(bytes);
      break;
    default: // xor, which keeps the length
      for (std::size_t i = 0; !image.empty() && i < bytes.size(); ++i) {
        image[(offset + i) % image.size()] ^= bytes[i];
      }
      break;
    }
  }
}

/// A strict JSON (RFC 8259) recogniser, independent of the library's writer.
class JsonChecker {
public:
  explicit JsonChecker(std::string_view s) : m_s(s) {}
  bool document() { return value(0) && (skip_ws(), m_i == m_s.size()); }

private:
  void skip_ws() {
    while (m_i < m_s.size() &&
           std::string_view(" \t\n\r").find(m_s[m_i]) != std::string_view::npos) {
      ++m_i;
    }
  }
  bool eat(char c) {
    skip_ws();
    if (m_i < m_s.size() && m_s[m_i] == c) {
      ++m_i;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (m_s.substr(m_i, word.size()) != word) {
      return false;
    }
    m_i += word.size();
    return true;
  }
  bool digits() {
    std::size_t start = m_i;
    while (m_i < m_s.size() && m_s[m_i] >= '0' && m_s[m_i] <= '9') {
      ++m_i;
    }
    return m_i > start;
  }
  bool number() {
    if (m_i < m_s.size() && m_s[m_i] == '-') {
      ++m_i;
    }
    if (m_i < m_s.size() && m_s[m_i] == '0') {
      ++m_i;
    } else if (!digits()) {
      return false;
    }
    if (m_i < m_s.size() && m_s[m_i] == '.' && (++m_i, !digits())) {
      return false;
    }
    if (m_i < m_s.size() && (m_s[m_i] == 'e' || m_s[m_i] == 'E')) {
      ++m_i;
      if (m_i < m_s.size() && (m_s[m_i] == '+' || m_s[m_i] == '-')) {
        ++m_i;
      }
      return digits();
    }
    return true;
  }
  bool string() {
    if (!eat('"')) {
      return false;
    }
    while (m_i < m_s.size()) {
      auto c = static_cast<unsigned char>(m_s[m_i++]);
      if (c == '"') {
        return true;
      }
      if (c < 0x20) {
        return false;
      }
      if (c == '\\') {
        if (m_i >= m_s.size()) {
          return false;
        }
        char e = m_s[m_i++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k, ++m_i) {
            if (m_i >= m_s.size() || !std::isxdigit(static_cast<unsigned char>(m_s[m_i]))) {
              return false;
            }
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool value(int depth) {
    if (depth > 64) {
      return false;
    }
    skip_ws();
    if (m_i >= m_s.size()) {
      return false;
    }
    char c = m_s[m_i];
    if (c == '{') {
      ++m_i;
      if (eat('}')) {
        return true;
      }
      do {
        if (!string() || !eat(':') || !value(depth + 1)) {
          return false;
        }
      } while (eat(','));
      return eat('}');
    }
    if (c == '[') {
      ++m_i;
      if (eat(']')) {
        return true;
      }
      do {
        if (!value(depth + 1)) {
          return false;
        }
      } while (eat(','));
      return eat(']');
    }
    if (c == '"') {
      return string();
    }
    if (c == 't' || c == 'f' || c == 'n') {
      return literal("true") || literal("false") || literal("null");
    }
    return number();
  }

  std::string_view m_s;
  std::size_t m_i = 0;
};

/// The HTML report and the joblog of the run history: written whole, or refused.
void check_history(const std::string& path) {
  try {
    std::string page;
    write_html_report(path, [&](std::string_view piece) { page += piece; });
    expect(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"),
           "the HTML report is a whole page");
    expect(page.find("<script") == std::string::npos, "the HTML report holds no script");
  } catch (const Error&) {
  }
  try {
    auto sessions = read_sessions(path);
    for_each_attempt(path, [&](const ReportAttempt& a) {
      for (const auto& s : sessions) {
        (void)command_line(s, a);
      }
    });
    write_joblog_report(path, [](std::string_view) {});
  } catch (const Error&) {
  }
}

void check_report(const std::string& path) {
  try {
    CheckpointReport r = read_report(path, 10, 300);
    expect(r.ok + r.failed + r.timeout + r.signaled <= r.total, "report counts add up");
    expect(r.slowest.size() <= 10 && r.failures.size() <= 10, "report lists are capped");
    for (const auto& it : r.failures) {
      expect(it.stderr_tail.size() <= 300 * 4, "stderr tails are cut");
    }
    std::string json = to_json(r);
    expect(!json.empty() && json.back() == '\n', "to_json ends with a newline");
    if (!JsonChecker(json).document()) {
      violated("to_json wrote invalid JSON: " + hex(json.substr(0, 400)));
    }
  } catch (const Error&) {
    // Refused: fine.
  }
  check_history(path);
}

void check_open(const std::string& path, const std::string& dir, std::uint8_t mode) {
  RunRecord run = k_run;
  CheckpointMode cm;
  cm.resume = true;
  cm.force = (mode & 4) != 0;
  cm.retry_failed = (mode & 8) != 0;
  if (cm.force) {
    run.command = "printf %s {}";
  }
  try {
    Checkpoint cp(path, run, cm);
    SpillFactory spill(dir);
    for (std::string_view item : {"a", "b", "c", "d", "zz"}) {
      for (std::uint64_t occurrence = 1; occurrence <= 2; ++occurrence) {
        try {
          if (auto r = cp.lookup(item, occurrence, spill)) {
            expect(r->replayed, "a looked-up result is marked replayed");
            expect(r->out.str().size() == r->out.size(), "replayed stdout has its size");
            expect(r->err.str().size() == r->err.size(), "replayed stderr has its size");
          }
        } catch (const Error&) {
        }
      }
    }
    Result fresh;
    fresh.seq = 6;
    fresh.item = "e";
    fresh.args = {"e"};
    fresh.out = output_of("e\n", spill);
    try {
      cp.record(fresh, 1);
      cp.commit();
    } catch (const Error&) {
    }
  } catch (const Error&) {
    // Refused: fine.
  }
}

} // namespace

void check_command(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  std::uint8_t flags = in.byte();
  RenderContext ctx;
  ctx.seq = in.byte();
  ctx.seq = ctx.seq << 8 | in.byte();
  ctx.slot = in.byte();
  std::size_t item_len = static_cast<std::size_t>(in.byte()) << 8;
  item_len |= in.byte();
  std::string_view body = in.rest();
  item_len = std::min(item_len, body.size());
  std::string item(body.substr(body.size() - item_len));
  std::vector<std::string> words = split(body.substr(0, body.size() - item_len), '\0');
  std::vector<std::string> args{item};
  if ((flags & 2) != 0) {
    args = split(item, '\x01'); // several arguments (none for an empty item)
  }
  ctx.args = args;

  for (const auto& a : args) {
    check_quote_round_trip(a);
    check_paths(a);
  }
  for (const auto& w : words) {
    check_quote_round_trip(w);
    check_lexer(w);
  }
  TemplateOptions options;
  options.several = (flags & 1) != 0 ? Several::repeat : Several::words;
  if ((flags & 4) != 0) {
    options.spellings.item = "XX";
  }
  if ((flags & 8) != 0) {
    options.spellings.columns = {"a", "b/", "name"};
  }
  for (Shell shell : {Shell::automatic, Shell::always, Shell::never}) {
    options.shell = shell;
    check_template(words, options, ctx);
  }
}

void check_input(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  char delimiter = static_cast<char>(in.byte());
  std::uint32_t seed = in.byte();
  seed = seed << 8 | in.byte();
  std::uint8_t repeat = in.byte();
  std::string stream(in.rest());
  std::string head = stream.substr(0, stream.find(delimiter));
  if (repeat >= 200 && !head.empty()) {
    // The first record is repeated: up to 2 x the cap (and a bit), enough for a record over it
    // while the number of records, and so the time per input, stays small.
    std::size_t times = std::min<std::size_t>((repeat - 199U) * 4096U,
                                              2 * (k_max_item_bytes + 1) / head.size() + 2);
    std::string rest = stream.substr(head.size());
    std::size_t total = head.size() * times;
    stream = head;
    stream.reserve(total + rest.size());
    while (stream.size() < total) { // doubling: a few appends, not `times` of them
      stream.append(stream, 0, std::min(stream.size(), total - stream.size()));
    }
    stream += rest;
  }

  // The records as a reference split gives them.
  std::vector<std::string_view> want;
  for (std::size_t start = 0; start < stream.size();) {
    auto end = stream.find(delimiter, start);
    if (end == std::string::npos) {
      want.emplace_back(std::string_view(stream).substr(start));
      break;
    }
    want.emplace_back(std::string_view(stream).substr(start, end - start));
    start = end + 1;
  }

  std::size_t got = 0;
  auto check_record = [&](const RawItem& r) {
    if (got >= want.size()) {
      violated("the splitter produced more records than the input holds");
    }
    std::string_view w = want[got++];
    if (r.full_size != w.size()) {
      violated("full_size " + std::to_string(r.full_size) + " for a record of " +
               std::to_string(w.size()) + " bytes");
    }
    if (r.text != w.substr(0, k_max_item_bytes)) {
      violated("record " + std::to_string(got) + " differs from the input: " +
               hex(r.text.substr(0, 64)) + " vs " + hex(w.substr(0, 64)));
    }
  };

  Splitter s(delimiter);
  Chunker chunker(seed);
  RawItem r;
  for (std::size_t pos = 0; pos < stream.size();) {
    std::size_t n = std::min(chunker.next(), stream.size() - pos);
    s.feed(stream.data() + pos, n);
    pos += n;
    while (s.take(r)) {
      check_record(r);
    }
    if (s.buffered() > k_max_item_bytes) {
      violated("the splitter holds " + std::to_string(s.buffered()) + " bytes");
    }
  }
  if (s.finish(r)) {
    check_record(r);
  }
  expect(!s.finish(r), "finish() gives the last record once");
  expect(s.buffered() == 0, "nothing is held after finish()");
  if (got != want.size()) {
    violated("the splitter produced " + std::to_string(got) + " records, the input holds " +
             std::to_string(want.size()));
  }
}

CutBlocks cut_blocks(const BlockFormat& format,
                     std::string_view input,
                     const std::function<std::size_t()>& piece) {
  BlockCutter cutter(format);
  CutBlocks out;
  std::size_t at = 0;
  std::string body;
  for (;;) {
    while (cutter.take(body)) {
      out.blocks.push_back(std::move(body));
    }
    if (auto from = cutter.take_growth()) {
      out.growth.push_back(*from);
    }
    if (cutter.done()) {
      break;
    }
    if (at == input.size()) {
      cutter.end();
      continue;
    }
    std::span<char> space = cutter.space();
    std::size_t n = std::min({space.size(), std::max<std::size_t>(piece(), 1), input.size() - at});
    std::memcpy(space.data(), input.data() + at, n);
    cutter.added(n);
    at += n;
  }
  out.header = cutter.header() ? *cutter.header() : std::string();
  return out;
}

namespace {

/// --regexp pairs (recend, recstart) for check_blocks: fuzzed patterns could backtrack for ever.
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> k_block_patterns{{
    {"\n", ""},
    {"", "^>"},
    {"\n", ">"},
    {"[0-9]\n", ""},
    {"\n\n+", ""},
    {"a|b", "c"},
}};

/// The records of a literal separator that end in (from, to] of `stream`, each found from the
/// end of the one before, as a record begins where the last one ended: an independent count.
std::size_t literal_records(std::string_view stream, const BlockFormat& f, std::size_t from,
                            std::size_t to) {
  std::string sep = f.recend + f.recstart;
  std::size_t n = 0;
  for (std::size_t i = from; i + sep.size() <= stream.size() && i + f.recend.size() <= to;) {
    std::size_t split = i + f.recend.size();
    if (stream.compare(i, sep.size(), sep) == 0 && split > from) {
      ++n;
      from = split;
      i = split;
    } else {
      ++i;
    }
  }
  return n;
}

/// A literal boundary at `at`: the --recend before it and the --recstart after it.
bool literal_boundary(std::string_view stream, const BlockFormat& f, std::size_t at) {
  std::string sep = f.recend + f.recstart;
  return at >= f.recend.size() && stream.compare(at - f.recend.size(), sep.size(), sep) == 0 &&
         at - f.recend.size() + sep.size() <= stream.size();
}

/// The format the fuzz input asks for; `rest` is what follows the fixed bytes, and the
/// stream is what follows the literal separators in it.
BlockFormat fuzzed_format(std::uint8_t mode, std::uint8_t size, std::uint8_t counts,
                          std::uint8_t seps, std::string_view rest, std::string_view& stream) {
  BlockFormat f;
  f.size = (size & 63) + 1;
  f.size *= (size >> 6) == 3 ? 4096 : 1;
  f.records = (mode & 1) != 0 ? 1 + (counts & 7) : 0;
  f.lines = (mode & 2) != 0 ? 1 + ((counts >> 3) & 3) : 0;
  const std::array<std::string, 4> headers{"", ":", "2", "[a-z]*\n"};
  f.header = headers[(mode >> 2) & 3];
  f.regexp = (mode & 16) != 0;
  if (f.regexp) {
    auto [end, start] = k_block_patterns[seps % k_block_patterns.size()];
    f.recend = end;
    f.recstart = start;
    stream = rest;
    return f;
  }
  f.recend = std::string(rest.substr(0, seps & 3));
  rest.remove_prefix(f.recend.size());
  f.recstart = std::string(rest.substr(0, (seps >> 2) & 3));
  stream = rest.substr(f.recstart.size());
  return f;
}

} // namespace

void check_blocks(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  std::uint8_t mode = in.byte();
  std::uint8_t block = in.byte();
  std::uint8_t counts = in.byte();
  std::uint8_t seps = in.byte();
  std::uint32_t seed = in.byte();
  seed = seed << 8 | in.byte();
  std::string_view stream;
  BlockFormat f = fuzzed_format(mode, block, counts, seps, in.rest(), stream);
  Chunker chunker(seed);
  CutBlocks whole = cut_blocks(f, stream, [] { return SIZE_MAX; });
  CutBlocks pieces = cut_blocks(f, stream, [&] { return chunker.next() % 97; });
  expect(whole.header == pieces.header && whole.blocks == pieces.blocks,
         "the blocks depend on how the reads split the stream");
  std::string joined = whole.header;
  for (const auto& b : whole.blocks) {
    expect(!b.empty(), "a block is empty");
    joined += b;
  }
  expect(joined == stream, "the header and the blocks do not add up to the stream");
  std::size_t at = whole.header.size();
  for (std::size_t i = 0; i + 1 < whole.blocks.size(); ++i) { // the last block is what is left
    const std::string& b = whole.blocks[i];
    std::size_t end = at + b.size();
    if (f.lines > 0 && f.records == 0) {
      auto lines = static_cast<std::size_t>(std::count(b.begin(), b.end(), '\n'));
      expect(lines % f.lines == 0 && b.back() == '\n', "an -L block is not whole L-line records");
    } else if (!f.regexp && f.records > 0) {
      expect(literal_records(stream, f, at, end) == f.records * std::max<std::size_t>(f.lines, 1),
             "an -N block does not hold N records");
    } else if (!f.regexp) {
      expect(literal_boundary(stream, f, end), "a block does not end at a record boundary");
    }
    at = end;
  }
}

std::string cli_sandbox() {
  struct Sandbox {
    std::string dir = make_temp_dir("fuzz-cli");
    Sandbox() { write_file(dir + "/in", "one\ntwo\n"); }
    ~Sandbox() {
      ::unlink((dir + "/in").c_str());
      ::rmdir(dir.c_str());
    }
  };
  static const Sandbox sandbox;
  return sandbox.dir;
}

namespace {

/// Runs in the sandbox for its lifetime, then returns to where it was.
class InSandbox {
public:
  InSandbox() : m_cwd(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (m_cwd < 0 || ::chdir(cli_sandbox().c_str()) != 0) {
      std::perror("cli sandbox");
      std::abort();
    }
  }
  ~InSandbox() {
    if (::fchdir(m_cwd) != 0) {
      std::perror("fchdir");
      std::abort();
    }
    ::close(m_cwd);
  }
  InSandbox(const InSandbox&) = delete;
  InSandbox& operator=(const InSandbox&) = delete;

private:
  int m_cwd;
};

} // namespace

void check_cli(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  std::replace(bytes.begin(), bytes.end(), '/', '_');
  std::vector<std::string> words = split(bytes, '\0');
  std::vector<const char*> argv{"parmap"};
  for (const auto& w : words) {
    argv.push_back(w.c_str());
  }
  argv.push_back(nullptr);
  std::variant<cli::Config, cli::Outcome> parsed;
  InSandbox sandbox;
  try {
    parsed = cli::interpret(static_cast<int>(argv.size() - 1), argv.data());
  } catch (const std::exception& e) {
    violated(std::string("cli::interpret threw ") + typeid(e).name() + ": " + e.what());
  }
  if (const auto* outcome = std::get_if<cli::Outcome>(&parsed)) {
    expect(outcome->status == 0 || outcome->status == 255, "cli::interpret ends with 0 or 255");
    if (outcome->status == 255) {
      // One line in parmap's words, then at most a pointer to --help; no CLI11 text.
      const std::string& err = outcome->err;
      expect(err.starts_with("parmap: ") && err.ends_with("\n"), "a usage error is a line");
      std::size_t lines = static_cast<std::size_t>(std::count(err.begin(), err.end(), '\n'));
      expect(lines == 1 || (lines == 2 && err.ends_with("Try 'parmap --help' for more "
                                                        "information.\n")),
             "a usage error is one line and perhaps a pointer to --help");
      for (const char* cli11 : {"required but received", "Could not convert", "required TEXT",
                                "ArgumentMismatch", "The following argument"}) {
        // (Unless the input itself holds those words: a message may quote it.)
        expect(err.find(cli11) == std::string::npos || bytes.find(cli11) != std::string::npos,
               "no CLI11 text in a usage error");
      }
    }
    return;
  }
  const auto& c = std::get<cli::Config>(parsed);
  if (c.report) {
    expect(!c.options.checkpoint.empty(), "--report has a checkpoint");
    return;
  }
  expect(!c.command.empty() || c.shellquote > 0,
         "a parsed command is not empty (--shellquote takes none)");
  for (const auto& w : c.command) {
    expect(w != ":::" && w != "::::", "the command stops at ::: / ::::");
  }
  expect(c.options.batch_size >= 1, "batch size >= 1");
}

std::string valid_checkpoint_image() {
  return checkpoint_fixture().db;
}

void check_checkpoint(const std::uint8_t* data, std::size_t size) {
  const CheckpointFixture& f = checkpoint_fixture();
  static constexpr std::string_view k_magic{"SQLite format 3\0", 16};
  std::string db;
  std::optional<std::string> wal;
  std::uint8_t mode = 0;
  std::string_view whole(reinterpret_cast<const char*>(data), size);
  if (whole.starts_with(k_magic)) {
    db = whole;
  } else {
    Reader in(data, size);
    mode = in.byte();
    switch (mode & 3) {
    case 2:
      db = f.wal_db;
      wal = f.wal;
      apply_edits(in, *wal);
      break;
    case 3:
      db = f.wal_db;
      wal = f.wal;
      apply_edits(in, db);
      break;
    default:
      db = f.db;
      apply_edits(in, db);
      break;
    }
  }
  std::string path = f.dir + "/t.db";
  auto install = [&] {
    remove_db(path);
    write_file(path, db);
    if (wal) {
      write_file(path + "-wal", *wal);
    }
  };
  install();
  check_report(path);
  for (bool json : {false, true}) {
    install();
    int status = cli::print_report(path, json);
    expect(status == 0 || status == 255, "print_report returns 0 or 255");
  }
  install();
  check_open(path, f.dir, mode);
  remove_db(path);
}

void check_protocol(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  std::uint8_t flags = in.byte();
  std::uint32_t seed = in.byte() | 1U;
  std::string_view stream = in.rest();
  agent::FrameReader reader((flags & 1) != 0);
  auto encode = [](const agent::Message& m) {
    std::string frame;
    agent::append_frame(frame, m);
    return frame;
  };
  try {
    std::size_t at = 0;
    while (at < stream.size()) {
      seed = seed * 1103515245U + 12345U;
      std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + (seed >> 16) % 97);
      reader.feed(stream.substr(at, n));
      at += n;
      while (auto frame = reader.next()) {
        agent::Message m = agent::decode(*frame);
        std::string once = encode(m);
        agent::Message again = agent::decode(std::string_view(once).substr(4));
        if (again.index() != m.index() || encode(again) != once) {
          violated(std::string("a ") + agent::name_of(m) + " message does not re-encode stably");
        }
      }
      if (reader.buffered() > n + agent::k_max_frame + 4) {
        violated("the frame reader holds more than it can need");
      }
    }
  } catch (const agent::ProtocolError&) {
    // Refusing garbage is the expected outcome for most inputs.
  }
}

int run_or_abort(void (*check)(const std::uint8_t*, std::size_t),
                 const std::uint8_t* data,
                 std::size_t size) {
  try {
    check(data, size);
  } catch (const PropertyViolation& e) {
    std::fprintf(stderr, "\n*** fuzz property violated: %s\n", e.what());
    std::fflush(stderr);
    std::abort();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\n*** unexpected exception %s: %s\n", typeid(e).name(), e.what());
    std::fflush(stderr);
    std::abort();
  }
  return 0;
}

} // namespace parmap::fuzz
