// Command templates: replacement strings, the item appended, shell detection, quoting checked
// against a real /bin/sh, display() and text().
#include "exec/command.hpp"
#include "support.hpp"

#include "parmap/error.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

using namespace parmap;

namespace {

struct Ran {
  std::string out;
  int status = -1; ///< waitpid status
};

/// Runs argv (argv[0] looked up in PATH) with stdout captured; stdin is /dev/null.
Ran run_argv(const std::vector<std::string>& argv)
{
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> cargv;
  for (const auto& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  Ran ran;
  if (rc != 0) {
    ::close(fds[0]);
    FAIL("posix_spawnp failed: " << rc);
    return ran;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    ran.out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  while (::waitpid(pid, &ran.status, 0) < 0 && errno == EINTR) {
  }
  return ran;
}

/// Runs argv and returns its stdout.
std::string sh_argv_out(const std::vector<std::string>& argv);

/// Runs `line` with /bin/sh -c and returns its stdout.
std::string sh(const std::string& line)
{
  Ran r = run_argv({"/bin/sh", "-c", line});
  CHECK(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
  return r.out;
}

std::string sh_argv_out(const std::vector<std::string>& argv)
{
  return run_argv(argv).out;
}

/// Splits NUL-terminated records.
std::vector<std::string> split_nul(const std::string& s)
{
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\0') {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start != s.size()) {
    parts.push_back(s.substr(start) + "<unterminated>");
  }
  return parts;
}

/// Renders for several arguments; the render must not be refused.
std::vector<std::string> render_args(const CommandTemplate& t, const std::vector<std::string>& args,
                                     std::uint64_t seq = 1, unsigned slot = 1)
{
  std::vector<std::string> argv;
  auto refused = t.render(RenderContext{args, seq, slot}, argv);
  CHECK_FALSE(refused.has_value());
  return argv;
}

std::vector<std::string> render(const CommandTemplate& t, std::string_view item,
                                 std::uint64_t seq = 1, unsigned slot = 1)
{
  return render_args(t, {std::string(item)}, seq, slot);
}

/// display() of one item.
std::string display(const CommandTemplate& t, std::string_view item, std::uint64_t seq,
                    unsigned slot)
{
  std::vector<std::string> args{std::string(item)};
  return t.display(RenderContext{args, seq, slot});
}

/// Strings that a shell would love to interpret.
std::vector<std::string> hostile_strings(const std::filesystem::path& canary)
{
  std::string c = canary.string();
  return {
      "",
      "'",
      "''",
      "\"",
      "a'b",
      "'\\''",
      "it's \"quoted\"",
      "$(touch " + c + ")",
      "`touch " + c + "`",
      "a; touch " + c,
      "a && touch " + c,
      "a | touch " + c,
      "$(touch " + c + ")'$(touch " + c + ")'",
      "\n",
      "a\nb",
      "a\ntouch " + c,
      "\r\n",
      "\t",
      " leading and trailing ",
      "-n",
      "-e",
      "--help",
      "-",
      "--",
      "\\",
      "\\'",
      "a\\nb",
      "$HOME",
      "${HOME}",
      "$((1+1))",
      "*",
      "?",
      "[a]",
      "~",
      "~root",
      "!",
      "#not a comment",
      "a#b",
      "x=y",
      "{}",
      "{a,b}",
      "<in >out",
      "2>&1",
      "%s%d%%",
      "\x01\x02\x1b[31m\x7f",
      "\xff\xfe",
      "\x80",
      "\xc3",
      "caf\xc3\xa9 \xe2\x82\xac",
      "\xed\xa0\x80",
      std::string(3000, '\''),
  };
}

} // namespace

TEST_CASE("command: path edits mirror GNU parallel")
{
  struct Case {
    std::string item, no_ext, base, dir, base_no_ext;
  };
  const std::vector<Case> cases = {
      {"a/b/c.txt", "a/b/c", "c.txt", "a/b", "c"},
      {"c.txt", "c", "c.txt", ".", "c"},
      {"a.tar.gz", "a.tar", "a.tar.gz", ".", "a.tar"},
      {"a.b/c", "a.b/c", "c", "a.b", "c"},
      {"dir.d/", "dir.d/", "", ".", ""},
      {".bashrc", "", ".bashrc", ".", ""},
      {"dir/.bashrc", "dir/", ".bashrc", "dir", ""},
      {"a.", "a", "a.", ".", "a"},
      {"file..", "file.", "file..", ".", "file."},
      {"..", ".", "..", ".", "."},
      {"../x", "../x", "x", "..", "x"},
      {"plain", "plain", "plain", ".", "plain"},
      {"", "", "", ".", ""},
      {"/", "/", "", "/", ""},
      {"//", "//", "", "/", ""},
      {"/a", "/a", "a", "/", "a"},
      {"//a", "//a", "a", "/", "a"},
      {"///a.b", "///a", "a.b", "/", "a"},
      {"a/", "a/", "", ".", ""},
      {"a/b/", "a/b/", "", "a", ""},
      {"a//b", "a//b", "b", "a", "b"},
      {"a/b//", "a/b//", "", "a", ""},
      {"/usr/lib/", "/usr/lib/", "", "/usr", ""},
      {"/x/y.z/w.v", "/x/y.z/w", "w.v", "/x/y.z", "w"},
      {"sp ace/f i.le", "sp ace/f i", "f i.le", "sp ace", "f i"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.item);
    CHECK(std::string(without_extension(c.item)) == c.no_ext);
    CHECK(std::string(path_basename(c.item)) == c.base);
    CHECK(path_dirname(c.item) == c.dir);
    CHECK(std::string(without_extension(path_basename(c.item))) == c.base_no_ext);

    // The same through a rendered template, every replacement string in its own word.
    CommandTemplate t({"cmd", "{}", "{.}", "{/}", "{//}", "{/.}"}, Shell::never);
    CHECK(render(t, c.item) ==
          std::vector<std::string>{"cmd", c.item, c.no_ext, c.base, c.dir, c.base_no_ext});
  }
}

TEST_CASE("command: parsing replacement strings")
{
  SUBCASE("every spelling, inside words, next to each other")
  {
    CommandTemplate t({"run", "x{}y", "{.}{/}", "[{//}]", "<{/.}>", "{#}-{%}", "{}{}"},
                      Shell::never);
    CHECK(t.has_replacement());
    CHECK_FALSE(t.uses_shell());
    CHECK(render(t, "d/f.c", 42, 7) ==
          std::vector<std::string>{"run", "xd/f.cy", "d/ff.c", "[d]", "<f>", "42-7", "d/f.cd/f.c"});
  }
  SUBCASE("{#} and {%} alone count as replacement strings")
  {
    CommandTemplate seq({"echo", "{#}"}, Shell::never);
    CHECK(seq.has_replacement());
    CHECK(render(seq, "item", 18446744073709551615ULL, 0) ==
          std::vector<std::string>{"echo", "18446744073709551615"});
    CommandTemplate slot({"echo", "slot{%}"}, Shell::never);
    CHECK(slot.has_replacement());
    CHECK(render(slot, "item", 1, 12) == std::vector<std::string>{"echo", "slot12"});
  }
  SUBCASE("near misses are literal text")
  {
    // Unknown or broken braces are not replacement strings: the item is appended.
    CommandTemplate t({"echo", "{", "}", "{x}", "{/./}", "{ }", "{{", "{1..3}", "{#%}", "{0}",
                       "{-0}", "{01}", "{1x}", "{a,b}", "{%s}", "{#c}"},
                      Shell::never);
    CHECK_FALSE(t.has_replacement());
    CHECK(render(t, "I") ==
          std::vector<std::string>{"echo", "{", "}", "{x}", "{/./}", "{ }", "{{", "{1..3}",
                                   "{#%}", "{0}", "{-0}", "{01}", "{1x}", "{a,b}", "{%s}",
                                   "{#c}", "I"});
  }
  SUBCASE("braces around a replacement string")
  {
    CommandTemplate t({"echo", "{{}}", "{{//}}", "{/}}"}, Shell::never);
    CHECK(render(t, "a/b") == std::vector<std::string>{"echo", "{a/b}", "{a}", "b}"});
  }
  SUBCASE("{//} is not {/} followed by text, {/.} is not {/} then {.}")
  {
    CommandTemplate t({"e", "{//}", "{/.}"}, Shell::never);
    CHECK(render(t, "x/y/z.q") == std::vector<std::string>{"e", "x/y", "z"});
  }
  SUBCASE("empty words stay empty arguments")
  {
    CommandTemplate t({"printf", "", "{}", ""}, Shell::never);
    CHECK(render(t, "v") == std::vector<std::string>{"printf", "", "v", ""});
  }
}

TEST_CASE("command: the item is appended when there is no replacement string")
{
  SUBCASE("direct exec: one more argument, raw")
  {
    CommandTemplate t({"grep", "-c", "x"}, Shell::automatic);
    CHECK_FALSE(t.uses_shell());
    CHECK_FALSE(t.has_replacement());
    CHECK(render(t, "a b $(c)") == std::vector<std::string>{"grep", "-c", "x", "a b $(c)"});
    CHECK(render(t, "") == std::vector<std::string>{"grep", "-c", "x", ""});
  }
  SUBCASE("a single word without shell syntax")
  {
    CommandTemplate t({"echo"}, Shell::automatic);
    CHECK_FALSE(t.uses_shell());
    CHECK(render(t, "it") == std::vector<std::string>{"echo", "it"});
  }
  SUBCASE("shell: a reference to the item after a space, the item as $1")
  {
    CommandTemplate t({"echo x | tr x y"}, Shell::automatic);
    REQUIRE(t.uses_shell());
    auto argv = render(t, "a b");
    CHECK(argv ==
          std::vector<std::string>{"/bin/sh", "-c", "echo x | tr x y \"${1}\"", "sh", "a b"});
  }
  SUBCASE("no appended item when any replacement string is used, even {#}")
  {
    CommandTemplate t({"echo", "{#}"}, Shell::never);
    CHECK(render(t, "ITEM", 3) == std::vector<std::string>{"echo", "3"});
  }
  SUBCASE("none when told (--pipe: the block goes to stdin)")
  {
    TemplateOptions no_args;
    no_args.append_args = false;
    CommandTemplate direct({"wc", "-l"}, no_args);
    CHECK(render(direct, "") == std::vector<std::string>{"wc", "-l"});
    CommandTemplate shell({"wc -l | tr -d ' '"}, no_args);
    CHECK(render(shell, "") ==
          std::vector<std::string>{"/bin/sh", "-c", "wc -l | tr -d ' '", "sh"});
  }
}

TEST_CASE("command: automatic shell detection")
{
  struct Case {
    std::vector<std::string> words;
    bool shell;
  };
  const std::vector<Case> cases = {
      {{"echo"}, false},
      {{"echo", "{}"}, false},
      {{"/usr/bin/env"}, false},
      {{"./script-1.2_x"}, false},
      {{"{}"}, false},
      {{"cmd{/}{.}{//}{/.}{#}{%}"}, false}, // replacement strings are not shell syntax
      {{"echo {}"}, true},
      {{"echo\t{}"}, true},
      {{"a|b"}, true},
      {{"a&"}, true},
      {{"a;b"}, true},
      {{"a>out"}, true},
      {{"a<in"}, true},
      {{"(a)"}, true},
      {{"$HOME"}, true},
      {{"`a`"}, true},
      {{"a\\b"}, true},
      {{"'a'"}, true},
      {{"\"a\""}, true},
      {{"*.c"}, true},
      {{"a?"}, true},
      {{"[ab]"}, true},
      {{"a#b"}, true},
      {{"~/bin/x"}, true},
      {{"X=1"}, true},
      {{"{a,b}"}, true},
      {{"a\nb"}, true},
      // Several words: exec'd directly whatever they contain.
      {{"sh", "-c", "echo $1 | cat"}, false},
      {{"echo", "a;b", "*"}, false},
      {{"echo $HOME | cat", "x"}, false}, // even when the first word has shell syntax
      {{"X=1", "cmd"}, false},
  };
  for (const auto& c : cases) {
    std::string shown;
    for (const auto& w : c.words) {
      shown += "[" + w + "]";
    }
    CAPTURE(shown);
    CommandTemplate t(c.words, Shell::automatic);
    CHECK(t.uses_shell() == c.shell);
    auto argv = render(t, "I");
    if (c.shell) {
      REQUIRE(argv.size() >= 5); // sh -c SCRIPT sh VALUE...
      CHECK(argv[0] == "/bin/sh");
      CHECK(argv[1] == "-c");
      CHECK(argv[3] == "sh");
      CHECK(argv[4] == "I");
    } else {
      CHECK(argv[0] != "/bin/sh");
    }
  }
  SUBCASE("has_shell_syntax on its own")
  {
    CHECK_FALSE(has_shell_syntax(""));
    CHECK_FALSE(has_shell_syntax("abc-_./,+:@%"));
    CHECK_FALSE(has_shell_syntax("{}{.}{/}{//}{/.}{#}{%}"));
    CHECK(has_shell_syntax("{} "));
    CHECK(has_shell_syntax("{x}"));
    CHECK(has_shell_syntax("a{"));
  }
  SUBCASE("forcing")
  {
    CommandTemplate always({"echo", "{}"}, Shell::always);
    CHECK(always.uses_shell());
    CHECK(render(always, "a b") ==
          std::vector<std::string>{"/bin/sh", "-c", "echo \"${1}\"", "sh", "a b"});
    CommandTemplate never({"echo $HOME | cat"}, Shell::never);
    CHECK_FALSE(never.uses_shell());
    CHECK(render(never, "x") == std::vector<std::string>{"echo $HOME | cat", "x"});
  }
  SUBCASE("forced shell joins the words raw, as GNU parallel does")
  {
    CommandTemplate t({"printf", "%s,", "a b"}, Shell::always);
    CHECK(render(t, "c d")[2] == "printf %s, a b \"${1}\"");
    CHECK(sh_argv_out(render(t, "c d")) == "a,b,c d,");
  }
}

TEST_CASE("command: empty commands are refused")
{
  CHECK_THROWS_AS(CommandTemplate({}, Shell::automatic), Error);
  CHECK_THROWS_AS(CommandTemplate({""}, Shell::automatic), Error);
  CHECK_THROWS_AS(CommandTemplate({"", "x"}, Shell::never), Error);
  CHECK_NOTHROW(CommandTemplate({"x", ""}, Shell::never));
  // No shell script can hold a NUL byte (sh -c takes a C string).
  CHECK_THROWS_AS(CommandTemplate({std::string("echo a\0b {}", 11)}, Shell::always), Error);
}

TEST_CASE("command: shell_quote survives a real /bin/sh")
{
  auto dir = test::scratch("quote");
  auto canary = dir / "pwned";
  for (const auto& s : hostile_strings(canary)) {
    CAPTURE(s);
    std::string q = shell_quote(s);
    CAPTURE(q);
    std::string out = sh("printf '%s\\0' " + q);
    CHECK(out == s + std::string(1, '\0'));
    // One word exactly: a second word after it stays separate.
    CHECK(split_nul(sh("printf '%s\\0' " + q + " tail")) == std::vector<std::string>{s, "tail"});
    // Also inside a longer word (as a replacement string in "pre{}post").
    CHECK(sh("printf '%s\\0' pre" + q + "post") == "pre" + s + "post" + std::string(1, '\0'));
  }
  CHECK_FALSE(std::filesystem::exists(canary));

  SUBCASE("safe strings stay as they are, anything else is quoted")
  {
    CHECK(shell_quote("abc") == "abc");
    CHECK(shell_quote("-n") == "-n");
    CHECK(shell_quote("/usr/bin/x-1.2_3,4+5:6@7") == "/usr/bin/x-1.2_3,4+5:6@7");
    CHECK(shell_quote("") == "''");
    CHECK(shell_quote("a b") == "'a b'");
    CHECK(shell_quote("it's") == "'it'\\''s'");
    CHECK(shell_quote("\xff") == "'\xff'");
    std::string appended = "x=";
    append_shell_quoted(appended, "a b");
    CHECK(appended == "x='a b'");
  }
}

TEST_CASE("command: shell mode quotes items, so they are data")
{
  auto dir = test::scratch("shellmode");
  auto canary = dir / "pwned";
  CommandTemplate t({"printf '%s\\0' {} x{/}y {//} {.} {/.} {#} {%}"}, Shell::automatic);
  REQUIRE(t.uses_shell());
  for (const auto& s : hostile_strings(canary)) {
    CAPTURE(s);
    auto argv = render(t, s, 9, 2);
    REQUIRE(argv.size() == 9); // sh -c SCRIPT sh, then the 5 values {} {/} {//} {.} {/.}
    CHECK(argv[0] == "/bin/sh");
    CHECK(argv[1] == "-c");
    CHECK(argv[3] == "sh");
    CHECK(argv[4] == s);
    // The script is the same for every item: values never enter it.
    CHECK(argv[2] == render(t, "other", 9, 2)[2]);
    Ran r = run_argv(argv);
    CHECK(WIFEXITED(r.status));
    std::vector<std::string> expected = {s,
                                         "x" + std::string(path_basename(s)) + "y",
                                         path_dirname(s),
                                         std::string(without_extension(s)),
                                         std::string(without_extension(path_basename(s))),
                                         "9",
                                         "2"};
    CHECK(split_nul(r.out) == expected);
    // display(), run by sh, does the same.
    CHECK(split_nul(sh(display(t, s, 9, 2))) == expected);
  }
  CHECK_FALSE(std::filesystem::exists(canary));

  SUBCASE("the appended item is quoted too")
  {
    CommandTemplate appended({"printf '%s\\0'"}, Shell::automatic);
    REQUIRE(appended.uses_shell());
    for (const auto& s : hostile_strings(canary)) {
      CAPTURE(s);
      CHECK(run_argv(render(appended, s)).out == s + std::string(1, '\0'));
    }
    CHECK_FALSE(std::filesystem::exists(canary));
  }
}

TEST_CASE("command: direct mode passes items raw and display() reproduces the argv in sh")
{
  auto dir = test::scratch("display");
  auto canary = dir / "pwned";
  // printf is both a utility in PATH and a shell builtin: run the argv directly, and paste
  // display() into sh; both must print the same arguments.
  CommandTemplate with_fields({"printf", "%s\\0", "{}", "a{/}b", "{//}", "{#}", "{%}"},
                              Shell::automatic);
  CommandTemplate appended({"printf", "%s\\0", "fixed arg"}, Shell::automatic);
  REQUIRE_FALSE(with_fields.uses_shell());
  REQUIRE_FALSE(appended.uses_shell());
  for (const auto& s : hostile_strings(canary)) {
    CAPTURE(s);
    auto argv = render(with_fields, s, 5, 3);
    REQUIRE(argv.size() == 7);
    CHECK(argv[2] == s);
    CHECK(argv[3] == "a" + std::string(path_basename(s)) + "b");
    CHECK(argv[5] == "5");
    CHECK(argv[6] == "3");
    std::vector<std::string> expected(argv.begin() + 2, argv.end());
    CHECK(split_nul(run_argv(argv).out) == expected);
    std::string shown = display(with_fields, s, 5, 3);
    CAPTURE(shown);
    CHECK(split_nul(sh(shown)) == expected);

    auto argv2 = render(appended, s);
    CHECK(argv2 == std::vector<std::string>{"printf", "%s\\0", "fixed arg", s});
    CHECK(split_nul(sh(display(appended, s, 1, 1))) ==
          std::vector<std::string>{"fixed arg", s});
  }
  CHECK_FALSE(std::filesystem::exists(canary));
  CHECK(display(appended, "x y", 1, 1) == "printf '%s\\0' 'fixed arg' 'x y'");
}

TEST_CASE("command: text() is the template as written, quoted")
{
  CHECK(CommandTemplate({"echo", "{}"}, Shell::automatic).text() == "echo '{}'");
  CHECK(CommandTemplate({"grep", "-e", "a b"}, Shell::automatic).text() == "grep -e 'a b'");
  CHECK(CommandTemplate({"echo {} | wc -l"}, Shell::automatic).text() ==
        "sh -c 'echo {} | wc -l'");
  CHECK(CommandTemplate({"echo", "{}", "|", "wc"}, Shell::always).text() == "sh -c 'echo {} | wc'");
  CHECK(CommandTemplate({"x", ""}, Shell::never).text() == "x ''");
  // Different templates give different texts (they are compared on resume).
  CHECK(CommandTemplate({"a b"}, Shell::automatic).text() !=
        CommandTemplate({"a", "b"}, Shell::automatic).text());
  CHECK(CommandTemplate({"echo", "{}"}, Shell::automatic).text() !=
        CommandTemplate({"echo", "{.}"}, Shell::automatic).text());
  // The same words through the shell or exec'd directly are different commands.
  CHECK(CommandTemplate({"echo", "{}"}, Shell::always).text() !=
        CommandTemplate({"echo", "{}"}, Shell::never).text());
  CHECK(CommandTemplate({"echo $x"}, Shell::automatic).text() !=
        CommandTemplate({"echo $x"}, Shell::never).text());
  // Pasted into sh, the text gives back the words.
  std::vector<std::string> words = {"printf", "%s\\0", "it's", "$(x)", "{}", ""};
  auto shown = CommandTemplate(words, Shell::never).text();
  CHECK(split_nul(sh(shown)) == std::vector<std::string>{"it's", "$(x)", "{}", ""});
}

// A replacement string the template itself puts inside quotes, $(...), backticks or ${...}
// must stay data, and arrive as exactly the item's bytes.
TEST_CASE("command: items stay data inside quotes the template wrote")
{
  auto dir = test::scratch("quoted-template");
  auto canary = dir / "pwned";
  const std::string touch = "touch " + canary.string();
  const std::vector<std::string> payloads = {"$(" + touch + ")", "`" + touch + "`",
                                             "'; " + touch + "; '", "\"; " + touch + "; \"",
                                             "a b", "x\\y", "`", "'", "\""};
  struct Case {
    std::string tmpl;
    std::string prefix, suffix; ///< What the template adds around the item.
  };
  const std::vector<Case> cases = {
      {"printf '%s\\0' \"{}\"", "", ""},
      {"printf '%s\\0' \"x{}y\"", "x", "y"},
      {"printf '%s\\0' '{}'", "", ""},
      {"printf '%s\\0' 'a'{}'b'", "a", "b"},
      {"printf '%s\\0' \"$(printf '%s' {})\"", "", ""},
      {"printf '%s\\0' \"$(printf '%s' \"{}\")\"", "", ""},
      {"printf '%s\\0' \"`printf '%s' {}`\"", "", ""},
      {"printf '%s\\0' \"${UNSET_PARMAP_VAR:-{}}\"", "", ""},
  };
  for (const auto& c : cases) {
    CommandTemplate t({c.tmpl}, Shell::automatic);
    REQUIRE(t.uses_shell());
    for (const auto& payload : payloads) {
      CAPTURE(c.tmpl);
      CAPTURE(payload);
      Ran r = run_argv(render(t, payload));
      CHECK_FALSE(std::filesystem::exists(canary));
      std::filesystem::remove(canary);
      CHECK(split_nul(r.out) == std::vector<std::string>{c.prefix + payload + c.suffix});
    }
  }
}

TEST_CASE("command: arithmetic on an item works in shell mode")
{
  CommandTemplate t({"echo $(( {} * 2 ))"}, Shell::automatic);
  CHECK(sh_argv_out(render(t, "21")) == "42\n");
}

namespace {

/// The shells to run scripts under: every one installed, each reached through a symlink named
/// "sh" (busybox picks its applet by that name, zsh and mksh their sh mode).
std::vector<std::filesystem::path> installed_shells()
{
  auto dir = test::scratch("shells");
  std::vector<std::filesystem::path> shells;
  for (const char* path : {"/usr/bin/dash", "/usr/bin/bash", "/usr/bin/busybox", "/usr/bin/mksh",
                           "/usr/bin/zsh"}) {
    if (!std::filesystem::exists(path)) {
      continue;
    }
    auto link = dir / std::filesystem::path(path).filename() / "sh";
    std::filesystem::create_directories(link.parent_path());
    std::filesystem::create_symlink(path, link);
    shells.push_back(link);
  }
  return shells;
}

CommandTemplate under(const std::filesystem::path& shell, std::vector<std::string> words,
                      Several several = Several::words)
{
  TemplateOptions o;
  o.shell_path = shell.string();
  o.several = several;
  return CommandTemplate(std::move(words), o);
}

} // namespace

TEST_CASE("command: here-documents and comments, under every shell")
{
  auto dir = test::scratch("heredoc");
  auto canary = dir / "pwned";
  for (const auto& shell : installed_shells()) {
    CAPTURE(shell.parent_path().filename().string());
    CommandTemplate unquoted = under(shell, {"cat <<EOF\n[{}]\nEOF"});
    CommandTemplate quoted = under(shell, {"cat <<'EOF'\n$HOME `x` \\n [{}]\nEOF"});
    CommandTemplate stripped = under(shell, {"cat <<-\"END\"\n\t<{}>\n\tEND\necho after"});
    CommandTemplate commented = under(shell, {"# don't\nprintf '%s\\n' '{}' # it's {}"});
    for (const auto& s : hostile_strings(canary)) {
      CAPTURE(s);
      CHECK(sh_argv_out(render(unquoted, s)) == "[" + s + "]\n");
      CHECK(sh_argv_out(render(quoted, s)) == "$HOME `x` \\n [" + s + "]\n");
      CHECK(sh_argv_out(render(stripped, s)) == "<" + s + ">\nafter\n");
      CHECK(sh_argv_out(render(commented, s)) == s + "\n");
    }
    CHECK_FALSE(std::filesystem::exists(canary));
  }
}

TEST_CASE("command: a value the shell evaluates as arithmetic must be a number")
{
  auto dir = test::scratch("arith");
  auto canary = dir / "pwned";
  const std::string payload = "a[$(touch " + canary.string() + ")]";
  const std::vector<std::string> templates = {
      "echo $(( {} + 1 ))",     "x=abc; echo ${x:{}:1}",   "[ {} -eq 41 ] && echo 42",
      "test \"{}\" -lt 42 && echo 42", "echo $(( $(echo {}) + 1 ))"};
  for (const auto& shell : installed_shells()) {
    CAPTURE(shell.parent_path().filename().string());
    for (const auto& text : templates) {
      CAPTURE(text);
      CommandTemplate t = under(shell, {text});
      std::vector<std::string> argv;
      std::vector<std::string> args{payload};
      auto refused = t.render(RenderContext{args, 1, 1}, argv);
      REQUIRE(refused.has_value());
      CHECK(refused->find("not a number") != std::string::npos);
      args = {"41"};
      CHECK_FALSE(t.render(RenderContext{args, 1, 1}, argv).has_value());
    }
    CHECK(sh_argv_out(render(under(shell, {"echo $(( {} + 1 ))"}), "41")) == "42\n");
    CHECK(sh_argv_out(render(under(shell, {"echo $(( {} + 1 ))"}), "-0x10")) == "-15\n");
  }
  SUBCASE("only where the shell evaluates it")
  {
    CommandTemplate t({"echo {} $(( {#} + 1 ))"}, Shell::automatic);
    CHECK(sh_argv_out(render(t, payload, 4)) == payload + " 5\n");
  }
  SUBCASE("what counts as a plain number")
  {
    for (const char* n : {"0", "42", "-1", "+7", "0x1f", "0XAB", "-0x10", "007"}) {
      CHECK(is_plain_number(n));
    }
    for (const char* n : {"", "-", "0x", "1.5", " 1", "1 ", "a", "1e3", "a[1]", "x", "0x1g",
                          "$(id)", "1+1"}) {
      CAPTURE(n);
      CHECK_FALSE(is_plain_number(n));
    }
  }
  CHECK_FALSE(std::filesystem::exists(canary));
}

TEST_CASE("command: positional and named replacement strings")
{
  std::vector<std::string> args{"d/a.x", "b.y", "c"};
  CommandTemplate t({"e", "{1}", "{2.}", "{-1}", "{-3/}", "{1//}", "{2/.}", "{4}", "{-4}"},
                    Shell::never);
  CHECK(t.has_replacement());
  CHECK(render_args(t, args) ==
        std::vector<std::string>{"e", "d/a.x", "b", "c", "a.x", "d", "b"}); // {4} {-4}: no word
  CommandTemplate inside({"e", "[{4}]", "{4}x"}, Shell::never);
  CHECK(render_args(inside, args) == std::vector<std::string>{"e", "[]", "x"}); // as GNU's
  SUBCASE("in shell mode, each is one parameter")
  {
    CommandTemplate s({"printf '[%s]' {1} \"{-1}\" '{2.}' {4} '{4}'"}, Shell::automatic);
    CHECK(sh_argv_out(render_args(s, args)) == "[d/a.x][c][b][]");
  }
  SUBCASE("--header names")
  {
    TemplateOptions o;
    o.spellings.columns = {"name", "size", "x/"};
    CommandTemplate n({"e", "{name}", "{size.}", "{x/}", "{x//}", "{other}"}, o);
    // {x//} is the column "x/" with the edit "/" (there is no column "x").
    CHECK(render_args(n, args) == std::vector<std::string>{"e", "d/a.x", "b", "c", "c", "{other}"});
  }
  SUBCASE("-I renames {} only")
  {
    TemplateOptions o;
    o.spellings.item = "XX";
    CommandTemplate i({"e", "aXXb", "{}", "{.}"}, o);
    CHECK(render_args(i, {"f.c"}) == std::vector<std::string>{"e", "af.cb", "{}", "f"});
  }
}

TEST_CASE("command: GNU parallel syntax parmap lacks is an error, not text")
{
  for (std::vector<std::string> words : std::vector<std::vector<std::string>>{
           {"echo", "{= s/a/b/ =}"},
           {"echo", "{=", "s/a/b/", "=}"},
           {"echo", "{+/}"},
           {"echo", "x{+.}"},
           {"echo", "{..}"},
           {"echo", "{##}"},
           {"echo", "{0#}"},
           {"echo", "{:-default}"},
           {"echo", "{:2:3}"},
           {"echo {choose_k}"},
           {"echo", "{uniq}"},
       }) {
    CAPTURE(words[1]);
    CHECK_THROWS_AS(CommandTemplate(words, Shell::automatic), Error);
  }
  try {
    CommandTemplate({"echo", "{+/}"}, Shell::automatic);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("--plus") != std::string::npos);
  }
}

TEST_CASE("command: several arguments per command")
{
  std::vector<std::string> args{"a.1", "b c", "d"};
  SUBCASE("direct, as sh's \"pre$@post\": the word's text joins the first and the last")
  {
    CommandTemplate t({"e", "x{}y", "{}", "[{.}]", "{#}"}, Shell::never);
    CHECK(render_args(t, args, 5) ==
          std::vector<std::string>{"e", "xa.1", "b c", "dy", "a.1", "b c", "d", "[a", "b c",
                                   "d]", "5"});
    CHECK(render_args(t, {}, 5) == std::vector<std::string>{"e", "xy", "[]", "5"});
    CommandTemplate two({"e", "{}:{.}"}, Shell::never);
    CHECK(render_args(two, args) == std::vector<std::string>{"e", "a.1 b c d:a b c d"});
  }
  SUBCASE("direct, -X: the word once per argument")
  {
    TemplateOptions o;
    o.several = Several::repeat;
    CommandTemplate t({"e", "x{}y", "{.}-{1}", "z"}, o);
    CHECK(render_args(t, args) == std::vector<std::string>{"e", "xa.1y", "xb cy", "xdy",
                                                           "a-a.1", "b c-a.1", "d-a.1", "z"});
  }
  SUBCASE("appended when the template names none")
  {
    CommandTemplate t({"e", "f"}, Shell::never);
    CHECK(render_args(t, args) == std::vector<std::string>{"e", "f", "a.1", "b c", "d"});
  }
  SUBCASE("shell mode, both ways, quoted as the place needs")
  {
    auto dir = test::scratch("several");
    auto canary = dir / "pwned";
    std::vector<std::string> hostile = {"$(touch " + canary.string() + ")", "a b", "'"};
    CommandTemplate words({"printf '[%s]' x{}y \"<{}>\" '({})'"}, Shell::automatic);
    CHECK(sh_argv_out(render_args(words, hostile)) ==
          "[x" + hostile[0] + "][a b]['y][<" + hostile[0] + " a b '>][(" + hostile[0] +
              " a b ')]");
    TemplateOptions o;
    o.several = Several::repeat;
    CommandTemplate repeat({"printf '[%s]' x{}y \"<{}>\" z"}, o);
    CHECK(sh_argv_out(render_args(repeat, hostile)) ==
          "[x" + hostile[0] + "y][xa by][x'y][<" + hostile[0] + ">][<a b>][<'>][z]");
    CommandTemplate appended({"printf '[%s]'"}, Shell::automatic);
    CHECK(sh_argv_out(render_args(appended, hostile)) ==
          "[" + hostile[0] + "][a b][']");
    CHECK(sh_argv_out(render_args(appended, {})) == "[]");
    CHECK_FALSE(std::filesystem::exists(canary));
  }
}

TEST_CASE("command: shell builtins and functions run through the shell, values as data")
{
  auto dir = test::scratch("builtin");
  auto canary = dir / "pwned";
  TemplateOptions o;
  o.through_shell = true;
  CommandTemplate t({"printf", "[%s]", "{}"}, o);
  CHECK_FALSE(t.uses_shell());
  std::string value = "$(touch " + canary.string() + ")";
  auto argv = render(t, value);
  CHECK(argv == std::vector<std::string>{"/bin/sh", "-c", "\"$@\"", "sh", "printf", "[%s]", value});
  CHECK(sh_argv_out(argv) == "[" + value + "]");
  CHECK(t.text() == "printf '[%s]' '{}'"); // the same command as when exec'd directly
  CHECK_FALSE(std::filesystem::exists(canary));
}

TEST_CASE("command: a shell's -c script holding a replacement string gets a warning")
{
  for (std::vector<std::string> words : std::vector<std::vector<std::string>>{
           {"sh", "-c", "echo {}"},
           {"/bin/bash", "-ec", "echo {1}", "bash"},
           {"zsh", "-c", "x{.}"},
       }) {
    CAPTURE(words[0]);
    auto warning = CommandTemplate(words, Shell::automatic).pasted_script_warning();
    REQUIRE(warning.has_value());
    CHECK(warning->find("parmap ") != std::string::npos);
  }
  CHECK(CommandTemplate({"sh", "-c", "echo {}"}, Shell::automatic).pasted_script_warning().value().find("parmap 'echo {}'") != std::string::npos);
  CHECK(CommandTemplate({"bash", "-c", "echo {}"}, Shell::automatic).pasted_script_warning().value().find("parmap --shell-path bash 'echo {}'") != std::string::npos);
  for (std::vector<std::string> words : std::vector<std::vector<std::string>>{
           {"sh", "-c", "echo \"$1\"", "sh", "{}"},
           {"sh", "script.sh", "{}"},
           {"echo", "-c", "{}"},
           {"sh -c 'echo {}'"},
           {"sh", "-c", "echo {#}"},
       }) {
    CAPTURE(words[0]);
    CHECK_FALSE(CommandTemplate(words, Shell::automatic).pasted_script_warning().has_value());
  }
}

TEST_CASE("command: a backslash before a value of no arguments escapes nothing after it")
{
  // -N0 and --nonall run without arguments: {} is then nothing, and the backslash before it
  // must not take the closing quote (found by fuzzing); it goes, as it does before a value.
  CommandTemplate t({"printf '%s|' \"x\\{}\" y\\{}z"}, Shell::always);
  CHECK(sh_argv_out(render_args(t, {})) == "x|yz|");
  CHECK(sh_argv_out(render_args(t, {"v"})) == "xv|yvz|");
}
