#include "cli.hpp"

#include "arguments.hpp"
#include "sources.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <charconv>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace parmap::cli {
namespace {

/// The raw strings of options that need parsing beyond CLI11's.
struct Raw {
  std::string jobs;
  std::string timeout;
  std::string delimiter;
  std::string halt;
  std::vector<std::string> arg_files;
  std::vector<std::string> env;
  std::vector<std::string> sshlogins;
  std::vector<std::string> sshloginfiles;
  std::vector<std::string> trc;
  bool transfer = false;
  bool null = false;
  bool keep_going = false;
  bool keep_order = false;
  bool as_ready = false;
  bool tag = false;
  bool json = false;
  bool shell = false;
  bool no_shell = false;
  bool no_adaptive_tail = false;
  bool link = false;
  bool dump_options = false;
  ArgumentFlags arguments;
};

unsigned cpus()
{
  static const unsigned count = cpu_count();
  return count;
}

[[noreturn]] void bad(const std::string& message)
{
  throw CLI::ValidationError(message);
}

std::size_t parse_count(const std::string& text, const char* option, long long min_value)
{
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < min_value) {
    bad(fmt::format("{}: '{}' is not a whole number of at least {}", option, text, min_value));
  }
  return static_cast<std::size_t>(value);
}

double parse_seconds(const std::string& text, const char* option)
{
  std::size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(value) || value < 0) {
    bad(fmt::format("{}: '{}' is not a number of seconds", option, text));
  }
  return value;
}

/// -j: N, N% of the CPUs, +N / -N relative to them, or 0 for as many as the system allows.
std::size_t parse_jobs(const std::string& text)
{
  if (text.empty()) {
    return 0;
  }
  if (text.back() == '%') {
    double pct = parse_seconds(text.substr(0, text.size() - 1), "--jobs");
    return std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(cpus() * pct / 100.0)));
  }
  if (text.front() == '+') {
    return cpus() + parse_count(text.substr(1), "--jobs", 0);
  }
  if (text.front() == '-') {
    auto less = parse_count(text.substr(1), "--jobs", 0);
    return less >= cpus() ? 1 : cpus() - less;
  }
  std::size_t n = parse_count(text, "--jobs", 0);
  return n == 0 ? 1024 : n; // -j 0: as many as possible (the open-file limit still applies)
}

char parse_delimiter(const std::string& text)
{
  if (text.size() == 1) {
    return text[0];
  }
  if (text.size() == 2 && text[0] == '\\') {
    switch (text[1]) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case 'r':
      return '\r';
    case '0':
      return '\0';
    case '\\':
      return '\\';
    default:
      break;
    }
  }
  if (text.size() == 4 && text.starts_with("\\x")) {
    // from_chars, not stoi: stoi throws on "\x--" and accepts "\x-1" and "\x 1".
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data() + 2, text.data() + 4, value, 16);
    if (ec == std::errc() && end == text.data() + 4) {
      return static_cast<char>(value);
    }
  }
  bad(fmt::format("--delimiter: '{}' is not one character (escapes: \\n \\t \\r \\0 \\\\ \\xHH)",
                  text));
}

/// --halt: never | [now|soon,](fail|success|done)=N[%] | GNU parallel's 0, 1, 2.
Halt parse_halt(const std::string& text)
{
  if (text == "never" || text == "0") {
    return Halt::keep_going();
  }
  if (text == "1") {
    return Halt{Halt::When::soon, Halt::On::fail, 1, false};
  }
  if (text == "2") {
    return Halt::fail_fast();
  }
  Halt h;
  std::string rest = text;
  auto comma = rest.find(',');
  if (comma != std::string::npos) {
    std::string when = rest.substr(0, comma);
    if (when == "now") {
      h.when = Halt::When::now;
    } else if (when == "soon") {
      h.when = Halt::When::soon;
    } else {
      bad(fmt::format("--halt: '{}' should be 'now' or 'soon'", when));
    }
    rest = rest.substr(comma + 1);
  }
  auto eq = rest.find('=');
  std::string on = rest.substr(0, eq);
  if (on == "fail") {
    h.on = Halt::On::fail;
  } else if (on == "success") {
    h.on = Halt::On::success;
  } else if (on == "done") {
    h.on = Halt::On::done;
  } else {
    bad(fmt::format("--halt: '{}' is not of the form [now|soon,]fail|success|done=N[%]", text));
  }
  std::string count = eq == std::string::npos ? "1" : rest.substr(eq + 1);
  if (!count.empty() && count.back() == '%') {
    h.percent = true;
    count.pop_back();
  }
  h.threshold = parse_seconds(count, "--halt");
  if (h.threshold <= 0) {
    bad("--halt: the count must be above 0");
  }
  return h;
}

void apply_timeout(const std::string& text, Options& o)
{
  if (text.empty()) {
    return;
  }
  if (text.back() == '%') {
    o.timeout_percent = parse_seconds(text.substr(0, text.size() - 1), "--timeout");
    if (o.timeout_percent <= 0) {
      bad("--timeout: the percentage must be above 0");
    }
    return;
  }
  o.timeout = parse_seconds(text, "--timeout");
}

void add_options(CLI::App& app, Config& c, Raw& r)
{
  Options& o = c.options;
  const char* input = "Input";
  app.add_option("-a,--arg-file", r.arg_files, "Read items from FILE ('-' is stdin); repeatable")
      ->type_name("FILE")
      ->allow_extra_args(false)
      ->group(input);
  app.add_flag("-0,--null", r.null, "Items end with NUL instead of newline")->group(input);
  app.add_option("-d,--delimiter", r.delimiter, "Items end with character C (\\n \\t \\0 \\xHH)")
      ->type_name("C")
      ->group(input);
  app.add_flag("--link,--xapply", r.link,
               "Pair the input sources side by side (shorter ones wrap) instead of combining")
      ->group(input);

  add_argument_options(app, r.arguments);

  const char* running = "Running";
  app.add_option("-j,--jobs", r.jobs, "Run N items at once: N, N% of CPUs, +N, -N, 0 = max")
      ->type_name("N")
      ->default_str(std::to_string(cpus()))
      ->group(running);
  app.add_option("--timeout", r.timeout,
                 "Kill an item's process group after SECS (or N% of the median runtime)")
      ->type_name("SECS")
      ->group(running);
  app.add_option("--kill-grace", o.kill_grace, "Seconds between SIGTERM and SIGKILL")
      ->type_name("SECS")
      ->capture_default_str()
      ->group(running);
  app.add_option("--delay", o.delay, "Wait SECS between starting two items")
      ->type_name("SECS")
      ->capture_default_str()
      ->group(running);
  app.add_flag("--shell", r.shell, "Run the command through /bin/sh -c")->group(running);
  app.add_flag("--no-shell", r.no_shell, "Exec the command directly, never through a shell")
      ->group(running);
  app.add_option("--shell-path", o.shell_path,
                 "The shell for shell commands and builtins (default $PARALLEL_SHELL, /bin/sh)")
      ->type_name("SHELL")
      ->group(running);
  app.add_option("--env", r.env,
                 "Set variable VAR for remote jobs (local ones inherit everything); _ = all")
      ->type_name("VAR")
      ->allow_extra_args(false)
      ->group(running);
  app.add_flag("--dry-run", o.dry_run, "Print the commands that would run; run nothing")
      ->group(running);

  const char* remote = "Remote hosts";
  Remote& rm = o.remote;
  app.add_option("-S,--sshlogin", r.sshlogins,
                 "Run jobs on [N/][user@]HOST[:PORT] too (: is this machine); comma lists")
      ->type_name("LOGIN")
      ->allow_extra_args(false)
      ->group(remote);
  app.add_option("--sshloginfile,--slf", r.sshloginfiles,
                 "Read sshlogins from FILE, one a line (.. = ~/.parallel/sshloginfile, - = stdin)")
      ->type_name("FILE")
      ->allow_extra_args(false)
      ->group(remote);
  app.add_option("--ssh", rm.ssh, "The ssh command (also $PARALLEL_SSH)")
      ->type_name("CMD")
      ->default_str("ssh")
      ->group(remote);
  app.add_option("--remote-parmap", rm.remote_parmap, "parmap on the remote hosts")
      ->type_name("PATH")
      ->capture_default_str()
      ->group(remote);
  app.add_option("--transferfile,--tf", rm.transfer, "Send FILE (a template) to the host first")
      ->type_name("FILE")
      ->allow_extra_args(false)
      ->group(remote);
  app.add_flag("--transfer", r.transfer, "Send the item's file first (--transferfile {})")
      ->group(remote);
  app.add_option("--return", rm.returns, "Bring FILE (a template) back after the job")
      ->type_name("FILE")
      ->allow_extra_args(false)
      ->group(remote);
  app.add_flag("--cleanup", rm.cleanup, "Remove transferred and returned files on the host")
      ->group(remote);
  app.add_option("--trc", r.trc, "--transfer --return FILE --cleanup")
      ->type_name("FILE")
      ->allow_extra_args(false)
      ->group(remote);
  app.add_option("--basefile,--bf", rm.basefiles, "Send FILE once to each host before its jobs")
      ->type_name("FILE")
      ->allow_extra_args(false)
      ->group(remote);
  app.add_option("--workdir,--wd", rm.workdir,
                 "Run remote jobs in DIR (... = a new temporary dir, removed at the end)")
      ->type_name("DIR")
      ->group(remote);

  const char* failures = "Failures";
  app.add_flag("--keep-going,--safe", r.keep_going,
               "Record failures as results and go on (default: stop at the first)")
      ->group(failures);
  app.add_option("--retries", o.retries, "Run a failed item up to N more times")
      ->type_name("N")
      ->capture_default_str()
      ->group(failures);
  app.add_option("--halt", r.halt, "When to stop: never, or [now|soon,]fail|success|done=N[%]")
      ->type_name("WHEN")
      ->group(failures);

  const char* output = "Output";
  app.add_flag("-k,--keep-order", r.keep_order, "Write results in input order (the default)")
      ->group(output);
  app.add_flag("--as-ready", r.as_ready, "Write results as they finish")->group(output);
  app.add_flag("--tag", r.tag, "Prefix each output line with the item and a TAB")->group(output);
  app.add_flag("--json", r.json, "Write one JSON object per item instead of its output")
      ->group(output);
  app.add_flag("--line-buffer", o.forward.line_buffer,
               "With --as-ready: write whole lines as they come, from all items")
      ->group(output);

  const char* flow = "Flow control";
  app.add_option("-b,--batch-size", o.batch_size, "Items per dispatch unit")
      ->type_name("N")
      ->capture_default_str()
      ->group(flow);
  app.add_option("--max-pending", o.max_pending, "Batches dispatched but not written, at most")
      ->type_name("N")
      ->default_str("jobs + 16")
      ->group(flow);
  app.add_flag("--no-adaptive-tail", r.no_adaptive_tail, "Keep batches full to the end")
      ->group(flow);
  app.add_option("--tail-batches-per-core", o.tail_batches_per_core,
                 "Adaptive tail starts when this many batches per slot are left")
      ->type_name("N")
      ->capture_default_str()
      ->group(flow);
  app.add_option("--tail-min-batch-size", o.tail_min_batch_size, "Smallest batch in the tail")
      ->type_name("N")
      ->capture_default_str()
      ->group(flow);

  const char* checkpoint = "Checkpoint";
  app.add_option("--checkpoint", o.checkpoint, "Record finished items in this SQLite file")
      ->type_name("PATH")
      ->group(checkpoint);
  app.add_flag("--resume", o.resume, "Continue the recorded run: replay finished items")
      ->group(checkpoint);
  app.add_flag("--retry-failed", o.retry_failed, "With --resume: run recorded failures again")
      ->group(checkpoint);
  app.add_flag("--force", o.force, "With --resume: accept a changed command")->group(checkpoint);
  app.add_option("--checkpoint-every", o.checkpoint_every,
                 "Commit at least every N items (and every second)")
      ->type_name("N")
      ->capture_default_str()
      ->group(checkpoint);
  app.add_flag("--report", c.report, "Summarise the checkpoint's run; run nothing")
      ->group(checkpoint);

  const char* progress = "Progress and logs";
  app.add_flag("--bar", c.bar, "Show a progress bar on stderr (when it is a terminal)")
      ->group(progress);
  app.add_flag("--eta", c.eta, "Show the estimated time left on stderr (when a terminal)")
      ->group(progress);
  app.add_flag("--progress-always", c.progress_always,
               "Draw --bar / --eta even when stderr is not a terminal")
      ->group(progress);
  app.add_option("--joblog", c.joblog, "Log each finished item, GNU parallel's columns")
      ->type_name("FILE")
      ->group(progress);

  app.add_flag("--dump-options", r.dump_options, "List every long option (for the docs test)")
      ->group("");
}

/// CLI11 knows only "parmap [OPTIONS]": the synopsis comes from here.
class Formatter final : public CLI::Formatter {
public:
  std::string make_usage(const CLI::App*, std::string) const override
  {
    return R"(Usage: parmap [OPTIONS] COMMAND [ARG...]               items from stdin, one per line
       parmap [OPTIONS] COMMAND [ARG...] ::: ITEM...
       parmap [OPTIONS] COMMAND [ARG...] :::: FILE...
       parmap [OPTIONS] -a FILE COMMAND [ARG...]
)";
  }
};

std::string footer()
{
  return R"(
Replacement strings: {} item, {.} without extension, {/} basename, {//} dirname,
{/.} basename without extension, {#} sequence number, {%} slot. Without one, the item is
appended. A one-word command with shell syntax runs through /bin/sh -c; items are passed to
it as arguments ("${1}"...), so no item is ever run as code.

Exit status: 0 all ok; with --keep-going the number of failed items (1-100, 101 for more);
on the first failure that item's status (124 timeout, 127 not found, 128+N signal N);
255 usage or configuration error; 129/130/143 after SIGHUP/SIGINT/SIGTERM.

Examples:
  find . -name '*.log' | parmap -j4 gzip -9
  parmap --timeout 30 --keep-going curl -fsS -o {/}.html {} :::: urls.txt
  parmap --checkpoint run.db --resume --json ./score.sh ::: data/*.csv)";
}

void dump_options(const CLI::App& app)
{
  for (const CLI::Option* opt : app.get_options()) {
    for (const auto& name : opt->get_lnames()) {
      if (name != "dump-options") {
        std::printf("--%s\n", name.c_str());
      }
    }
    for (const auto& name : opt->get_snames()) {
      std::printf("-%s\n", name.c_str());
    }
  }
}

/// Splits what follows the options into the command and its input sources.
void split_command(std::vector<std::string> rest, const Raw& r, Config& c)
{
  SourceSyntax syntax;
  syntax.delimiter = r.null ? '\0' : r.delimiter.empty() ? '\n' : parse_delimiter(r.delimiter);
  syntax.split_words = !r.delimiter.empty();
  syntax.link = r.link;
  if (!rest.empty() && rest.front() == "--") {
    rest.erase(rest.begin());
  } else if (!rest.empty() && rest.front().size() > 1 && rest.front()[0] == '-' &&
             !is_source_separator(rest.front(), syntax)) {
    bad(fmt::format("unknown option {}", rest.front()));
  }
  auto sep = std::find_if(rest.begin(), rest.end(),
                          [&](const std::string& w) { return is_source_separator(w, syntax); });
  c.command.assign(rest.begin(), sep);
  if (c.command.empty()) {
    bad("no command given (to run each input line as a shell command, use: parmap sh -c {})");
  }
  auto groups = std::span<const std::string>(rest).subspan(static_cast<std::size_t>(sep - rest.begin()));
  Sources sources = read_sources(r.arg_files, groups, syntax);
  c.items = std::move(sources.items);
  c.options.null_stdin = sources.reads_stdin;
  if (!sources.given) {
    c.items = Items::from_fd(STDIN_FILENO, syntax.delimiter, "stdin");
    c.options.null_stdin = true;
  }
  // Jobs run in their own process groups: one reading the terminal would be stopped (SIGTTIN).
  if (!c.options.null_stdin && ::isatty(STDIN_FILENO)) {
    c.options.null_stdin = true;
  }
}

/// $PARALLEL_HOME, or ~/.parallel: where GNU parallel keeps sshloginfile and ignored_vars.
std::string parallel_home()
{
  const char* home = std::getenv("PARALLEL_HOME");
  if (home != nullptr && *home != '\0') {
    return home;
  }
  home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.parallel";
}

std::string read_text(const std::string& path, const char* option)
{
  std::ifstream in(path, std::ios::binary);
  if (path != "-" && !in) {
    bad(fmt::format("{} {}: {}", option, path, std::strerror(errno)));
  }
  std::istream& from = path == "-" ? std::cin : in;
  return std::string(std::istreambuf_iterator<char>(from), {});
}

/// An sshloginfile's logins: one a line, blank lines and '#' comments skipped.
void add_sshloginfile(const std::string& name, std::vector<std::string>& logins)
{
  std::string path = name == ".." ? parallel_home() + "/sshloginfile" : name;
  std::istringstream text(read_text(path, "--sshloginfile"));
  for (std::string line; std::getline(text, line);) {
    auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '#') {
      logins.push_back(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
    }
  }
}

/// --env: names, comma lists allowed; "_" is every variable not named in ignored_vars (a
/// clean environment's, as env_parallel --record-env writes it).
std::vector<std::string> env_names(const std::vector<std::string>& values)
{
  std::vector<std::string> names;
  for (const auto& value : values) {
    std::istringstream parts(value);
    for (std::string name; std::getline(parts, name, ',');) {
      if (name != "_") {
        names.push_back(name);
        continue;
      }
      std::string path = parallel_home() + "/ignored_vars";
      std::ifstream in(path);
      if (!in) {
        bad(fmt::format("--env _ copies the variables a clean environment lacks, listed in {}, "
                        "which cannot be read ({}); write it from a clean shell with: "
                        "compgen -e > {}",
                        path, std::strerror(errno), path));
      }
      std::set<std::string> ignored;
      for (std::string line; std::getline(in, line);) {
        ignored.insert(line);
      }
      for (char** e = environ; *e != nullptr; ++e) {
        std::string var(*e, std::strcspn(*e, "="));
        if (!ignored.contains(var)) {
          names.push_back(var);
        }
      }
    }
  }
  return names;
}

void finish_remote(const Raw& r, Options& o)
{
  Remote& rm = o.remote;
  for (const auto& login : r.sshlogins) {
    if (login == "..") {
      add_sshloginfile("..", rm.sshlogins);
    } else {
      rm.sshlogins.push_back(login);
    }
  }
  for (const auto& file : r.sshloginfiles) {
    add_sshloginfile(file, rm.sshlogins);
  }
  if (rm.ssh == "ssh") {
    if (const char* ssh = std::getenv("PARALLEL_SSH"); ssh != nullptr && *ssh != '\0') {
      rm.ssh = ssh;
    }
  }
  if (r.transfer || !r.trc.empty()) {
    rm.transfer.emplace_back("{}");
  }
  rm.returns.insert(rm.returns.end(), r.trc.begin(), r.trc.end());
  rm.cleanup = rm.cleanup || !r.trc.empty();
  rm.env = env_names(r.env);
}

void finish_config(const Raw& r, Config& c, const std::vector<std::string>& rest)
{
  Options& o = c.options;
  if (r.shell && r.no_shell) {
    bad("--shell and --no-shell contradict each other");
  }
  if (r.keep_order && r.as_ready) {
    bad("--keep-order and --as-ready contradict each other");
  }
  if (r.tag && r.json) {
    bad("--tag and --json contradict each other");
  }
  if (r.null && !r.delimiter.empty()) {
    bad("-0 and --delimiter contradict each other (-0 is --delimiter '\\0')");
  }
  if (o.forward.line_buffer && r.json) {
    bad("--line-buffer and --json contradict each other (a JSON record is written whole)");
  }
  o.shell = r.shell ? Shell::always : r.no_shell ? Shell::never : Shell::automatic;
  if (const char* shell = std::getenv("PARALLEL_SHELL"); o.shell_path.empty() && shell) {
    o.shell_path = shell; // GNU parallel's variable; --shell-path wins
  }
  o.order = r.as_ready ? Order::as_ready : Order::input;
  o.forward.format = r.json ? Format::json : r.tag ? Format::tag : Format::raw;
  o.jobs = parse_jobs(r.jobs);
  apply_timeout(r.timeout, o);
  o.adaptive_tail = !r.no_adaptive_tail;
  if (!r.halt.empty()) {
    if (r.keep_going) {
      bad("--keep-going and --halt contradict each other; use --halt never");
    }
    o.halt = parse_halt(r.halt);
  } else if (r.keep_going) {
    o.halt = Halt::keep_going();
  }
  if (o.batch_size == 0) {
    bad("--batch-size must be at least 1");
  }
  if (o.tail_batches_per_core == 0 || o.tail_min_batch_size == 0 || o.checkpoint_every == 0) {
    bad("--tail-batches-per-core, --tail-min-batch-size and --checkpoint-every must be at "
        "least 1");
  }
  if (c.report) {
    if (o.checkpoint.empty()) {
      bad("--report needs --checkpoint PATH");
    }
    return;
  }
  apply_argument_options(r.arguments, o);
  finish_remote(r, o);
  split_command(rest, r, c);
  o.run_options = fmt::format("shell={} batch-size={} timeout={}{}{}", r.shell ? "always" : r.no_shell ? "never" : "auto",
                              o.batch_size, r.timeout.empty() ? "none" : r.timeout,
                              r.json ? " json" : r.tag ? " tag" : "",
                              describe_argument_options(r.arguments));
  o.forward.stdout_fd = STDOUT_FILENO;
  o.forward.stderr_fd = STDERR_FILENO;
  o.handle_signals = true;
  o.record_command = !c.joblog.empty();
}

} // namespace

int usage_error(const std::string& message)
{
  std::fprintf(stderr, "parmap: %s\nTry 'parmap --help' for more information.\n",
               message.c_str());
  return 255;
}

std::variant<Config, int> parse(int argc, const char* const* argv)
{
  CLI::App app{"parmap: run a command for each item, in parallel, with timeouts, ordered "
               "output and a checkpoint to resume from.",
               "parmap"};
  app.prefix_command();
  app.formatter(std::make_shared<Formatter>());
  app.set_version_flag("--version", std::string("parmap ") + version());
  app.footer(footer());
  Config c;
  Raw r;
  add_options(app, c, r);
  try {
    app.parse(argc, argv);
    if (r.dump_options) {
      dump_options(app);
      return 0;
    }
    finish_config(r, c, app.remaining());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      return app.exit(e); // --help or --version
    }
    return usage_error(e.what());
  } catch (const Error& e) {
    return usage_error(e.what());
  }
  return c;
}

} // namespace parmap::cli
