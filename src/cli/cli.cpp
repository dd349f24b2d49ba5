#include "cli.hpp"

#include "apply.hpp"
#include "arguments.hpp"
#include "pipe_options.hpp"
#include "printable.hpp"
#include "raw_options.hpp"
#include "remote_options.hpp"
#include "sources.hpp"
#include "unknown_option.hpp"
#include "values.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <cstdio>
#include <memory>
#include <unistd.h>

namespace parmap::cli {
namespace {

[[noreturn]] void bad(const std::string& message, bool hint_help = false)
{
  throw UsageError(message, hint_help);
}

/// An option whose value parmap parses itself (so that every message is its own).
CLI::Option* value(CLI::App& app,
                   const char* names,
                   std::optional<std::string>& into,
                   const char* help,
                   const char* type,
                   const char* group)
{
  return app
      .add_option_function<std::string>(
          names, [&into](const std::string& v) { into = v; }, help)
      ->type_name(type)
      ->group(group);
}

void add_input_options(CLI::App& app, Raw& r)
{
  const char* input = "Input";
  app.add_option("-a,--arg-file", r.arg_files, "Read items from FILE ('-' is stdin); repeatable")
      ->type_name("FILE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false)
      ->group(input);
  app.add_flag("-0,--null", r.null, "Items end with NUL instead of newline")->group(input);
  value(app, "-d,--delimiter", r.delimiter, "Items end with character C (\\n \\t \\0 \\xHH)", "C",
        input);
  app.add_option("--arg-sep,--argsep", r.arg_sep, "Use SEP instead of ::: before items")
      ->type_name("SEP")
      ->group(input);
  app.add_option("--arg-file-sep,--argfilesep", r.arg_file_sep,
                 "Use SEP instead of :::: before item files")
      ->type_name("SEP")
      ->group(input);
  app.add_flag("--link,--xapply", r.link,
               "Pair the input sources side by side (shorter ones wrap) instead of combining")
      ->group(input);
  add_argument_options(app, r.arguments);
}

void add_running_options(CLI::App& app, Config& c, Raw& r)
{
  Options& o = c.options;
  const char* running = "Running";
  value(app, "-j,-P,--jobs,--max-procs", r.jobs,
        "Run N items at once: N, N% of CPUs, +N, -N, 0 = max, or FILE holding N", "N", running)
      ->default_str(std::to_string(cpu_count()));
  value(app, "--timeout", r.timeout,
        "Kill an item's process group after SECS (or N% of the median runtime)", "SECS", running);
  value(app, "--kill-grace", r.kill_grace, "Seconds between SIGTERM and SIGKILL", "SECS", running)
      ->default_str("1");
  value(app, "--delay", r.delay, "Wait SECS between starting two items", "SECS", running)
      ->default_str("0");
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
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false)
      ->group(running);
  value(app, "--nice", r.nice, "Run items at parmap's niceness plus N", "N", running);
  app.add_option("--wd,--workdir", o.work_dir,
                 "Run items in DIR ({} etc. allowed; ... = a new temporary dir; remote: from ~)")
      ->type_name("DIR")
      ->group(running);
  app.add_option("--tmpdir", o.temp_dir, "Temporary files go to DIR (default $TMPDIR or /tmp)")
      ->type_name("DIR")
      ->group(running);
  app.add_flag("--shuf", o.shuffle, "Run the items in random order (reads all input first)")
      ->group(running);
  app.add_flag("--dry-run,--dryrun", o.dry_run, "Print the commands that would run; run nothing")
      ->group(running);
  app.add_flag("-v,--verbose", o.verbose, "Print each command before its output, then run it")
      ->group(running);
  app.add_flag("-q,--quote,--will-cite,--no-notice", r.no_op,
               "Accepted for GNU parallel scripts; parmap already behaves so")
      ->group(running);
}

void add_failure_options(CLI::App& app, Raw& r)
{
  const char* failures = "Failures";
  app.add_flag("--keep-going,--safe", r.keep_going,
               "Record failures as results and go on (default: stop at the first)")
      ->group(failures);
  value(app, "--retries", r.retries, "Run a failed item up to N more times", "N", failures)
      ->default_str("0");
  value(app, "--halt,--halt-on-error", r.halt,
        "When to stop: never, or [now|soon,]fail|success|done=N[%]", "WHEN", failures);
}

void add_output_options(CLI::App& app, Config& c, Raw& r)
{
  Options& o = c.options;
  const char* output = "Output";
  app.add_flag("-k,--keep-order", r.keep_order, "Write results in input order (the default)")
      ->group(output);
  app.add_flag("--as-ready", r.as_ready, "Write results as they finish")->group(output);
  app.add_flag("--group", r.no_op, "Write each item's output whole (the default)")
      ->group(output);
  app.add_flag("-u,--ungroup", o.forward.ungroup,
               "Items write straight to stdout and stderr: fastest, lines may mix")
      ->group(output);
  app.add_flag("--tag", r.tag, "Prefix each output line with the item and a TAB")->group(output);
  app.add_option("--tagstring", o.forward.tag_string,
                 "Prefix each output line with STR ({} etc. filled in) and a TAB")
      ->type_name("STR")
      ->group(output);
  app.add_flag("--json", r.json, "Write one JSON object per item instead of its output")
      ->group(output);
  app.add_flag("--files,--output-as-files", r.files,
               "Write each item's stdout to a file and print the file's name")
      ->group(output);
  app.add_option("--results,--res", o.results,
                 "Save outputs as GNU parallel does: NAME/1/ITEM/{stdout,stderr,seq}, or a "
                 ".csv/.tsv/.json file")
      ->type_name("NAME")
      ->group(output);
  app.add_flag("--line-buffer,--lb,--linebuffer", o.forward.line_buffer,
               "With --as-ready: write whole lines as they come, from all items")
      ->group(output);
}

void add_flow_options(CLI::App& app, Raw& r)
{
  const char* flow = "Flow control";
  value(app, "-b,--batch-size", r.batch_size, "Items per dispatch unit", "N", flow)
      ->default_str("1");
  value(app, "--max-pending", r.max_pending, "Batches dispatched but not written, at most", "N",
        flow)
      ->default_str("jobs + 16");
  app.add_flag("--no-adaptive-tail", r.no_adaptive_tail, "Keep batches full to the end")
      ->group(flow);
  value(app, "--tail-batches-per-core", r.tail_batches_per_core,
        "Adaptive tail starts when this many batches per slot are left", "N", flow)
      ->default_str("2");
  value(app, "--tail-min-batch-size", r.tail_min_batch_size, "Smallest batch in the tail", "N",
        flow)
      ->default_str("1");
}

void add_checkpoint_options(CLI::App& app, Config& c, Raw& r)
{
  Options& o = c.options;
  const char* checkpoint = "Checkpoint";
  app.add_option("--checkpoint", o.checkpoint, "Record finished items in this SQLite file")
      ->type_name("PATH")
      ->group(checkpoint);
  app.add_flag("--resume", o.resume, "Continue the recorded run: replay finished items")
      ->group(checkpoint);
  app.add_flag("--retry-failed", o.retry_failed, "With --resume: run recorded failures again")
      ->group(checkpoint);
  app.add_flag("--resume-failed", r.resume_failed, "The same as --resume --retry-failed")
      ->group(checkpoint);
  app.add_flag("--force", o.force, "With --resume: accept a changed command")->group(checkpoint);
  value(app, "--checkpoint-every", r.checkpoint_every,
        "Commit at least every N items (and every second)", "N", checkpoint)
      ->default_str("100");
  app.add_flag("--report", c.report, "Summarise the checkpoint's run; run nothing")
      ->group(checkpoint);
  app.add_option("--html", c.html,
                 "With --report: an HTML page (timeline, durations) to FILE (-: stdout)")
      ->type_name("FILE")
      ->group(checkpoint);
}

void add_progress_options(CLI::App& app, Config& c, Raw& r)
{
  const char* progress = "Progress and logs";
  app.add_flag("--bar", c.bar, "Show a progress bar on stderr (when it is a terminal)")
      ->group(progress);
  app.add_flag("--eta", c.eta, "Show the estimated time left on stderr (when a terminal)")
      ->group(progress);
  app.add_flag("--progress-always", c.progress_always,
               "Draw --bar / --eta even when stderr is not a terminal (plain lines)")
      ->group(progress);
  app.add_option("--joblog,--jl", c.options.joblog,
                 "Log each finished item, GNU parallel's columns ('-' stdout, +FILE appends; "
                 "with --report: rebuilt from the checkpoint)")
      ->type_name("FILE")
      ->group(progress);

  const char* info = "Information";
  app.add_flag("--number-of-cores,--number-of-cpus", r.number_of_cores,
               "Print the number of physical CPU cores parmap may use and exit")
      ->group(info);
  app.add_flag("--shellquote,--shell-quote", c.shellquote,
               "Print the items quoted for the shell (twice: quoted twice); run nothing")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->group(info);
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
       parmap [OPTIONS] --pipe COMMAND [ARG...] < INPUT  blocks of stdin on the jobs' stdin
       parmap [OPTIONS] --pipepart -a FILE COMMAND [ARG...]
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
with --halt, GNU parallel's (the failures, or their percentage with N%);
255 usage or configuration error; 128+N when parmap dies of signal N (130 Ctrl-C).

Examples:
  find . -name '*.log' | parmap -j4 gzip -9
  parmap --timeout 30 --keep-going curl -fsS -o {/}.html {} :::: urls.txt
  parmap --checkpoint run.db --resume --json ./score.sh ::: data/*.csv)";
}

/// Every option as it is spelled on the command line: "--jobs", "-j".
std::vector<std::string> spellings(const CLI::App& app)
{
  std::vector<std::string> names;
  for (const CLI::Option* opt : app.get_options()) {
    for (const auto& name : opt->get_lnames()) {
      if (name != "dump-options") {
        names.push_back("--" + name);
      }
    }
    for (const auto& name : opt->get_snames()) {
      names.push_back("-" + name);
    }
  }
  return names;
}

/// The number of physical cores among the CPUs parmap may use, as GNU parallel counts them:
/// distinct sets of hyperthread siblings, at most the CPUs in the affinity mask.
unsigned physical_cores()
{
  std::vector<std::string> seen;
  for (unsigned cpu = 0;; ++cpu) {
    auto path = fmt::format("/sys/devices/system/cpu/cpu{}/topology/thread_siblings", cpu);
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) {
      break;
    }
    char buf[256] = {};
    std::string siblings = std::fgets(buf, sizeof buf, f) ? buf : "";
    std::fclose(f);
    if (std::find(seen.begin(), seen.end(), siblings) == seen.end()) {
      seen.push_back(siblings);
    }
  }
  auto cores = static_cast<unsigned>(seen.size());
  return cores == 0 ? cpu_count() : std::min(cores, cpu_count());
}

/// A word that looks like an option parmap does not have; interpret() names it.
struct UnknownOption {
  std::string word;
};

/// Pipe mode: the files named by -a or after ::::, whose blocks the jobs get.
std::vector<std::string> pipe_files(std::span<const std::string> groups, const Raw& r,
                                    const SourceSyntax& syntax)
{
  if (groups.empty()) {
    return r.arg_files;
  }
  auto is_arg_sep = [&](const std::string& w) {
    return is_source_separator(w, syntax) && w.starts_with(r.arg_sep) &&
           !w.starts_with(r.arg_file_sep);
  };
  if (std::any_of(groups.begin(), groups.end(), is_arg_sep)) {
    bad(fmt::format("--pipe and --pipepart take no {} arguments: their input is stdin, or -a FILE",
                    r.arg_sep));
  }
  std::vector<std::string> files = r.arg_files;
  std::copy_if(groups.begin(), groups.end(), std::back_inserter(files),
               [&](const std::string& w) { return !is_source_separator(w, syntax); });
  return files;
}

/// Splits what follows the options into the command and its input sources.
void split_command(std::vector<std::string> rest, const Raw& r, Config& c, bool need_command)
{
  SourceSyntax syntax;
  syntax.arg_sep = r.arg_sep;
  syntax.arg_file_sep = r.arg_file_sep;
  syntax.delimiter = r.null ? '\0' : r.delimiter ? parse_delimiter(*r.delimiter) : '\n';
  syntax.split_words = r.delimiter.has_value();
  syntax.link = r.link;
  if (!rest.empty() && rest.front() == "--") {
    rest.erase(rest.begin());
  } else if (!rest.empty() && rest.front().size() > 1 && rest.front()[0] == '-' &&
             !is_source_separator(rest.front(), syntax)) {
    throw UnknownOption{rest.front()};
  }
  auto sep = std::find_if(rest.begin(), rest.end(),
                          [&](const std::string& w) { return is_source_separator(w, syntax); });
  c.command.assign(rest.begin(), sep);
  if (c.command.empty() && need_command) {
    bad("no command given (to run each input line as a shell command, use: parmap sh -c {})",
        true);
  }
  auto groups =
      std::span<const std::string>(rest).subspan(static_cast<std::size_t>(sep - rest.begin()));
  if (pipe_mode(r.pipe)) {
    if (c.options.remote.on_all) {
      bad(fmt::format("--{} does not go with --pipe or --pipepart: blocks run on this machine",
                      r.nonall ? "nonall" : "onall"));
    }
    apply_pipe_options(r.pipe, r.arguments, pipe_files(groups, r, syntax), c);
    return;
  }
  reject_pipe_options(r.pipe);
  if (r.nonall) {
    if (!groups.empty() || !r.arg_files.empty()) {
      bad("--nonall runs the command once on each host and takes no input: drop the ::: or "
          ":::: or -a sources, or use --onall");
    }
    c.items = Items({""});
    c.options.grouping = Grouping{};
    c.options.grouping.no_arguments = true; // as -N0: one command, without its item
    c.options.null_stdin = true;
    return;
  }
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

/// --report: what it writes, where.
void check_report_files(const Raw& r, const Config& c)
{
  const std::string& joblog = c.options.joblog;
  if (c.options.checkpoint.empty()) {
    bad("--report needs --checkpoint PATH");
  }
  if (r.json && (!c.html.empty() || !joblog.empty())) {
    bad("--json does not go with --html or --joblog: with --report, they are written instead of "
        "the summary");
  }
  if (c.html == "-" && joblog == "-") {
    bad("--html - and --joblog - would both write to stdout");
  }
  if (joblog.starts_with('+')) {
    bad("--report --joblog writes a whole joblog: +FILE (append) does not go with --report");
  }
}

void finish_config(const Raw& r, Config& c, const std::vector<std::string>& rest)
{
  Options& o = c.options;
  apply_values(r, o);
  if (c.report) {
    check_report_files(r, c);
    return;
  }
  if (!c.html.empty()) {
    bad("--html needs --report (parmap --checkpoint PATH --report --html FILE)");
  }
  if (!pipe_mode(r.pipe)) {
    apply_argument_options(r.arguments, o); // pipe mode reads -N, -L and --header its own way
  }
  finish_remote(r, o);
  split_command(rest, r, c, c.shellquote == 0);
  o.run_options = fmt::format("shell={} batch-size={} timeout={}{}{}{}",
                              r.shell ? "always" : r.no_shell ? "never" : "auto", o.batch_size,
                              r.timeout.value_or("none"), r.json ? " json" : r.tag ? " tag" : "",
                              r.nonall ? " nonall" : r.onall ? " onall" : "",
                              !pipe_mode(r.pipe) ? describe_argument_options(r.arguments)
                              : r.pipe.pipepart  ? " pipepart"
                                                 : " pipe");
  o.forward.stdout_fd = STDOUT_FILENO;
  o.forward.stderr_fd = STDERR_FILENO;
  o.handle_signals = true;
}

/// A name given empty (a variable unset in a script: --joblog "$LOG") is a mistake, not "none":
/// `--checkpoint "$CP"` with CP unset in a crontab must not run without a checkpoint.
void refuse_empty_names(const CLI::App& app, const Config& c, const Raw& r)
{
  const Options& o = c.options;
  const std::pair<const char*, const std::string*> names[] = {
      {"--checkpoint", &o.checkpoint}, {"--joblog", &o.joblog},   {"--results", &o.results},
      {"--wd", &o.work_dir},           {"--html", &c.html},
      {"--tmpdir", &o.temp_dir},  {"--tagstring", &o.forward.tag_string},
      {"--arg-sep", &r.arg_sep},  {"--arg-file-sep", &r.arg_file_sep}};
  for (auto [name, value] : names) {
    if (app.count(name) > 0 && value->empty()) {
      bad(fmt::format("{} was given an empty value", name));
    }
  }
}

Outcome usage(const std::string& message, bool hint_help)
{
  // One line, whatever the values quoted in it hold.
  return {255, "",
          "parmap: " + printable(message, 1000) + "\n" +
              (hint_help ? "Try 'parmap --help' for more information.\n" : "")};
}

/// CLI11's own errors, in parmap's words. Values are parsed by parmap, so what is left is a
/// value that is missing (an option at the end, or followed by another option).
Outcome translate(const CLI::ParseError& e)
{
  std::string what = e.what();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
    std::string name = what.substr(0, what.find(':'));
    if (name.starts_with("-") && name.find(' ') == std::string::npos) {
      return usage(name + " needs a value", true);
    }
  }
  return usage("the command line cannot be read; see the synopsis", true);
}

} // namespace

std::variant<Config, Outcome> interpret(int argc, const char* const* argv)
{
  CLI::App app{"parmap: run a command for each item, in parallel, with timeouts, ordered "
               "output and a checkpoint to resume from.",
               "parmap"};
  app.prefix_command();
  app.formatter(std::make_shared<Formatter>());
  app.set_version_flag("--version", std::string("parmap ") + version());
  app.footer(footer());
  // As in GNU parallel and xargs, a repeated option takes its last value (alias pm='parmap
  // -j4'; pm -j8); the list options say otherwise where they are added.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  Config c;
  Raw r;
  add_input_options(app, r);
  add_running_options(app, c, r);
  add_remote_options(app, c.options, r);
  add_failure_options(app, r);
  add_output_options(app, c, r);
  add_flow_options(app, r);
  add_checkpoint_options(app, c, r);
  add_progress_options(app, c, r);
  add_pipe_options(app, r.pipe);
  try {
    app.parse(argc, argv);
    if (r.dump_options) {
      std::string out;
      for (const auto& name : spellings(app)) {
        out += name + "\n";
      }
      return Outcome{0, out, ""};
    }
    if (r.number_of_cores) {
      return Outcome{0, fmt::format("{}\n", physical_cores()), ""};
    }
    refuse_empty_names(app, c, r);
    finish_config(r, c, app.remaining());
  } catch (const CLI::CallForHelp&) {
    return Outcome{0, app.help(), ""};
  } catch (const CLI::CallForVersion& e) {
    return Outcome{0, std::string(e.what()) + "\n", ""};
  } catch (const CLI::ParseError& e) {
    return translate(e);
  } catch (const UnknownOption& unknown) {
    bool hint_help = false;
    std::string message = unknown_option_message(unknown.word, spellings(app), hint_help);
    return usage(message, hint_help);
  } catch (const UsageError& e) {
    return usage(e.what(), e.hint_help());
  } catch (const Error& e) {
    return usage(e.what(), false); // an input file that cannot be opened
  }
  return c;
}

std::variant<Config, int> parse(int argc, const char* const* argv)
{
  auto result = interpret(argc, argv);
  if (auto* outcome = std::get_if<Outcome>(&result)) {
    std::fputs(outcome->out.c_str(), stdout);
    std::fputs(outcome->err.c_str(), stderr);
    return outcome->status;
  }
  return std::get<Config>(std::move(result));
}

} // namespace parmap::cli
