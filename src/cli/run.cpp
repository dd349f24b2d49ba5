#include "run.hpp"

#include "printable.hpp"
#include "progress_display.hpp"
#include "report.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <optional>
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
  std::fprintf(stderr, "parmap: %sitem %llu (%s) %s: %s\n", lead,
               static_cast<unsigned long long>(r.seq), printable(r.item, 80).c_str(),
               r.replayed ? "failed in the recorded run" : "failed", cause(r).c_str());
}

[[noreturn]] void die_of(int signal)
{
  std::fflush(stdout);
  std::fflush(stderr);
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
    if ((c.bar || c.eta) && (c.progress_always || ::isatty(STDERR_FILENO))) {
      display.emplace(c.bar, c.eta);
      c.options.on_progress = [&display](const Progress& p) { display->draw(p); };
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
    std::fprintf(stderr, "parmap: %s\n", e.what());
    return 255;
  }
}

} // namespace parmap::cli
