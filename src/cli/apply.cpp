#include "apply.hpp"

#include "jobs_file.hpp"
#include "values.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <limits>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace parmap::cli {
namespace {

[[noreturn]] void bad(const std::string& message)
{
  throw UsageError(message);
}

/// -j: a count, or a file holding one (GNU parallel's procfile), read again when it changes.
void apply_jobs(const std::string& text, Options& o)
{
  try {
    o.jobs = parse_jobs(text, cpu_count());
  } catch (const UsageError&) {
    struct stat st {};
    if (::stat(text.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      auto file = std::make_shared<JobsFile>(text, cpu_count());
      o.jobs = file->jobs();
      o.jobs_update = [file] { return file->poll(); };
      return;
    }
    if (text.find_first_not_of("0123456789.%+-") == std::string::npos) {
      throw; // a number gone wrong: its own message says how
    }
    bad(fmt::format("--jobs: '{}' is neither a number of jobs (N, N%, +N, -N) nor a file "
                    "holding one",
                    text));
  }
}

void apply_timeout(const std::string& text, Options& o)
{
  if (text.ends_with('%')) {
    o.timeout_percent = parse_seconds(text.substr(0, text.size() - 1), "--timeout");
    if (o.timeout_percent <= 0) {
      bad("--timeout: the percentage must be above 0");
    }
    return;
  }
  o.timeout = parse_seconds(text, "--timeout");
}

/// The numbers, each parsed by parmap itself so that every message names the option.
void apply_numbers(const Raw& r, Options& o)
{
  if (r.jobs) {
    apply_jobs(*r.jobs, o);
  }
  if (r.timeout) {
    apply_timeout(*r.timeout, o);
  }
  auto set_seconds = [](const std::optional<std::string>& text, const char* option, double& into) {
    if (text) {
      into = parse_seconds(*text, option);
    }
  };
  auto set_count = [](const std::optional<std::string>& text, const char* option,
                      std::size_t min, auto& into) {
    using T = std::remove_reference_t<decltype(into)>;
    if (!text) {
      return;
    }
    std::size_t n = parse_count(*text, option, min);
    if (n > std::numeric_limits<T>::max()) {
      bad(fmt::format("{}: {} is too large", option, *text));
    }
    into = static_cast<T>(n);
  };
  set_seconds(r.kill_grace, "--kill-grace", o.kill_grace);
  set_seconds(r.delay, "--delay", o.delay);
  set_count(r.retries, "--retries", 0, o.retries);
  set_count(r.batch_size, "--batch-size", 1, o.batch_size);
  set_count(r.max_pending, "--max-pending", 0, o.max_pending);
  set_count(r.tail_batches_per_core, "--tail-batches-per-core", 1, o.tail_batches_per_core);
  set_count(r.tail_min_batch_size, "--tail-min-batch-size", 1, o.tail_min_batch_size);
  set_count(r.checkpoint_every, "--checkpoint-every", 1, o.checkpoint_every);
  if (r.nice) {
    o.nice = parse_nice(*r.nice);
  }
}

/// Options that cannot go together, refused before anything runs.
void check_contradictions(const Raw& r, const Options& o)
{
  auto refuse = [](bool both, const char* a, const char* b, const char* why = "") {
    if (both) {
      bad(fmt::format("{} and {} contradict each other{}", a, b, why));
    }
  };
  refuse(r.shell && r.no_shell, "--shell", "--no-shell");
  refuse(r.keep_order && r.as_ready, "--keep-order", "--as-ready");
  refuse(r.tag && r.json, "--tag", "--json");
  refuse(r.files && r.json, "--files", "--json");
  refuse(!o.forward.tag_string.empty() && r.json, "--tagstring", "--json");
  refuse(r.null && r.delimiter, "-0", "--delimiter", " (-0 is --delimiter '\\0')");
  refuse(o.forward.line_buffer && r.json, "--line-buffer", "--json",
         " (a JSON record is written whole)");
  refuse(r.keep_going && r.halt, "--keep-going", "--halt", "; use --halt never");
  const bool u = o.forward.ungroup;
  refuse(u && r.json, "--ungroup", "--json", " (-u does not capture output)");
  refuse(u && (r.tag || !o.forward.tag_string.empty()), "--ungroup", "--tag",
         " (-u does not capture output)");
  refuse(u && r.files, "--ungroup", "--files", " (-u does not capture output)");
  refuse(u && !o.results.empty(), "--ungroup", "--results", " (-u does not capture output)");
  refuse(u && o.forward.line_buffer, "--ungroup", "--line-buffer");
  refuse(r.files && !o.results.empty(), "--files", "--results");
  refuse(r.json && !o.results.empty(), "--json", "--results");
}

/// The temporary directory must exist: it is used before the first item needs it.
void check_temp_dir(const Options& o)
{
  if (o.temp_dir.empty()) {
    return;
  }
  struct stat st {};
  if (::stat(o.temp_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    bad(fmt::format("--tmpdir {}: not a directory", o.temp_dir));
  }
  if (::access(o.temp_dir.c_str(), W_OK | X_OK) != 0) {
    bad(fmt::format("--tmpdir {}: not writable", o.temp_dir));
  }
}

} // namespace

void apply_values(const Raw& r, Options& o)
{
  check_contradictions(r, o);
  apply_numbers(r, o);
  check_temp_dir(o);
  o.shell = r.shell ? Shell::always : r.no_shell ? Shell::never : Shell::automatic;
  if (const char* shell = std::getenv("PARALLEL_SHELL"); o.shell_path.empty() && shell) {
    o.shell_path = shell; // GNU parallel's variable; --shell-path wins
  }
  o.order = r.as_ready ? Order::as_ready : Order::input;
  bool tag = r.tag || !o.forward.tag_string.empty();
  if (r.files && r.tag && o.forward.tag_string.empty()) {
    o.forward.tag_string = "{}"; // --files --tag: each file name after its item and a TAB
  }
  o.forward.format = r.json ? Format::json : r.files ? Format::files : tag ? Format::tag
                                                                          : Format::raw;
  o.adaptive_tail = !r.no_adaptive_tail;
  if (r.halt) {
    o.halt = parse_halt(*r.halt);
  } else if (r.keep_going) {
    o.halt = Halt::keep_going();
  }
  o.resume = o.resume || r.resume_failed;
  o.retry_failed = o.retry_failed || r.resume_failed;
}

} // namespace parmap::cli
