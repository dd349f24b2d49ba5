#include "run.hpp"

#include "printable.hpp"
#include "progress_display.hpp"
#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <string_view>
#include <utility>
#include <sys/prctl.h>
#include <unistd.h>

namespace parmap::cli {
namespace {

std::string cause(const Result& r)
{
  switch (r.status) {
  case Status::timeout:
    return "timed out (exit status 124)";
  case Status::signaled: {
    const char* name = sigabbrev_np(r.signal);
    return fmt::format("killed by signal {}{}{}", r.signal, name ? " (SIG" : "",
                       name ? std::string(name) + ")" : "");
  }
  case Status::failed:
  case Status::ok:
    break;
  }
  if (r.exit_code == 127) {
    return "command not found (exit status 127)";
  }
  return fmt::format("exit status {}", r.exit_code);
}

void report_failure(const Result& r, const char* lead)
{
  std::string where = r.host.empty() ? std::string() : " on " + printable(r.host, 80);
  std::fprintf(stderr, "parmap: %sitem %llu (%s)%s %s: %s\n", lead,
               static_cast<unsigned long long>(r.seq), printable(r.item, 80).c_str(),
               where.c_str(), r.replayed ? "failed in the recorded run" : "failed",
               cause(r).c_str());
}

/// The flag that sets an Options member ("round_robin" -> "--round-robin").
std::string flag_of(std::string_view member)
{
  static const std::pair<std::string_view, std::string_view> k_flags[] = {
      {"shuffle", "--shuf"},          {"block_input file", "--cat"},
      {"forward.ungroup", "-u"},      {"forward.line_buffer", "--line-buffer"},
      {"timeout_percent", "--timeout N%"}, {"remote.sshlogins", "-S"},
      {"retries", "--retries"},       {"remote.slurm", "--slurm"}};
  for (auto [name, flag] : k_flags) {
    if (member.starts_with(name)) {
      return std::string(flag);
    }
  }
  std::string flag = "--" + std::string(member);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

/// A library message naming Options members ("Options::round_robin cannot be used with
/// Options::checkpoint"), in the command line's flags ("--round-robin ... --checkpoint").
std::string as_flags(std::string message)
{
  static const std::string k_prefix = "Options::";
  for (auto at = message.find(k_prefix); at != std::string::npos;
       at = message.find(k_prefix, at)) {
    auto end = message.find_first_not_of("abcdefghijklmnopqrstuvwxyz_.", at + k_prefix.size());
    end = end == std::string::npos ? message.size() : end;
    std::string member = message.substr(at + k_prefix.size(), end - at - k_prefix.size());
    if (member.starts_with("block_input") && message.compare(end, 5, " file") == 0) {
      member += " file";
      end += 5;
    }
    std::string flag = flag_of(member);
    message.replace(at, end - at, flag);
    at += flag.size();
  }
  return message;
}

/// The library's message, worded for the command line where it names Options members.
std::string message_of(const Error& e)
{
  if (const auto* conflict = dynamic_cast<const CheckpointConflict*>(&e)) {
    std::uint64_t n = conflict->finished();
    if (conflict->kind() == CheckpointConflict::Kind::not_resumed) {
      return fmt::format("{}: holds {} finished item{} of an earlier run; add --resume to "
                         "continue it, or remove the file to start over",
                         conflict->path(), n, n == 1 ? "" : "s");
    }
    return fmt::format("{}: recorded for the command {}, not {} (add --force to resume with the "
                       "new command)",
                       conflict->path(), conflict->recorded_command(), conflict->command());
  }
  const auto* option = dynamic_cast<const OptionError*>(&e);
  if (option != nullptr && option->field() == "halt") {
    // The one option check that depends on the input, which only the library sees.
    return "--halt with a percentage needs an input of known length (::: or regular files)";
  }
  return option != nullptr ? as_flags(e.what()) : std::string(e.what());
}

[[noreturn]] void die_of(int signal)
{
  std::fflush(stdout);
  std::fflush(stderr);
  // An orderly end, not a crash: no core file for SIGQUIT, SIGXCPU or SIGXFSZ, whose default
  // action would write one (the shell still sees the signal: $? is 128+N).
  ::prctl(PR_SET_DUMPABLE, 0);
  std::signal(signal, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  std::raise(signal);
  std::_Exit(128 + signal); // the signal was ignored by the environment
}

} // namespace

void ensure_standard_fds()
{
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) {
      int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
      if (null >= 0 && null != fd) {
        ::dup2(null, fd);
        ::close(null);
      }
    }
  }
}

namespace {

/// --shellquote: each item quoted for the shell, `times` times, one per line. The items are
/// read the way a run reads them (-a, ::: , -0, -d), by a dry run that starts nothing.
int print_quoted(const Config& c)
{
  Options options;
  options.dry_run = true;
  options.jobs = 1;
  for (const Result& r : imap({"true"}, c.items, options)) {
    std::string text = r.item;
    for (unsigned i = 0; i < c.shellquote; ++i) {
      text = shell_quote(text);
    }
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return std::ferror(stdout) != 0 ? 255 : 0;
}

} // namespace

int run(Config& c)
{
  if (c.report && (!c.html.empty() || !c.options.joblog.empty())) {
    return write_report_files(c.options.checkpoint, c.html, c.options.joblog);
  }
  if (c.report) {
    return print_report(c.options.checkpoint, c.options.forward.format == Format::json);
  }
  std::optional<ProgressDisplay> display;
  std::optional<Results> results;
  try {
    if (c.shellquote > 0) {
      return print_quoted(c);
    }
    if (!c.options.temp_dir.empty()) {
      ::setenv("TMPDIR", c.options.temp_dir.c_str(), 1); // jobs see --tmpdir, as GNU's do
    }
    bool terminal = ::isatty(STDERR_FILENO) == 1;
    if ((c.bar || c.eta) && (c.progress_always || terminal)) {
      display.emplace(c.bar, c.eta, terminal);
      c.options.on_progress = [&display](const Progress& p) { display->draw(p); };
      if (terminal) {
        c.options.forward.on_terminal_output = [&display](bool writing) {
          display->on_terminal_output(writing);
        };
      }
      c.options.read_ahead = true; // a total and a percentage on piped input too
    }
    results.emplace(imap(c.command, c.items, c.options));
    for (const Result& r : *results) {
      if (!r.ok()) {
        if (display) {
          display->clear();
        }
        report_failure(r, "");
      }
    }
    if (display) {
      display->finish();
    }
    Summary summary = results->summary();
    if (summary.output_closed) {
      results.reset(); // the run's end: its items' groups are gone before parmap is
      die_of(SIGPIPE); // like any filter whose reader went away, quietly
    }
    return summary.exit_status();
  } catch (const ItemFailed& e) {
    if (display) {
      display->finish();
    }
    report_failure(e.result(), "stopped: ");
    return results->summary().exit_status();
  } catch (const Interrupted& e) {
    if (display) {
      display->finish();
    }
    results.reset(); // kills what is left of the items' groups (those still in their grace)
    die_of(e.signal());
  } catch (const Error& e) {
    if (display) {
      display->finish();
    }
    std::fprintf(stderr, "parmap: %s\n", message_of(e).c_str());
    return 255;
  }
}

} // namespace parmap::cli
