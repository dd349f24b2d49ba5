#include "report.hpp"

#include "printable.hpp"
#include "parmap/error.hpp"
#include "parmap/report.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <ctime>

namespace parmap::cli {
namespace {

/// ", steps 12.0 12.1" for a host whose items ran in Slurm job steps (the first few of them).
std::string steps_text(const std::vector<std::string>& steps)
{
  constexpr std::size_t k_shown = 8;
  std::string s;
  for (std::size_t i = 0; i < steps.size() && i < k_shown; ++i) {
    s += (i == 0 ? ", steps " : " ") + printable(steps[i], 24);
  }
  if (steps.size() > k_shown) {
    s += fmt::format(" and {} more", steps.size() - k_shown);
  }
  return s;
}

std::string running_text(const CheckpointReport& r)
{
  if (r.running.empty()) {
    return "";
  }
  std::string s = r.run_active ? "\nrunning now\n"
                               : "\nleft running by a run that was killed (--resume terminates "
                                 "what still runs before running them again)\n";
  for (const auto& it : r.running) {
    const char* state = r.run_active ? "" : it.alive ? ", still running" : ", gone";
    s += fmt::format("  #{}  {}  (process group {}{})\n", it.seq, printable(it.item, 70), it.pgid,
                     state);
  }
  return s;
}

std::string as_text(const CheckpointReport& r)
{
  std::string s = fmt::format("checkpoint  {}\ncommand     {}\n", r.path, r.command);
  char when[64] = "?";
  // The file may be damaged: a number outside time_t's range would make the cast undefined.
  std::time_t created = std::abs(r.created) < 1e15 ? static_cast<std::time_t>(r.created) : 0;
  if (std::tm tm{}; created != 0 && localtime_r(&created, &tm) != nullptr) {
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  }
  s += fmt::format("started     {} (parmap {})\n", when, r.version);
  s += fmt::format("done        {}: {} ok, {} failed, {} timed out, {} killed by a signal\n",
                   r.total, r.ok, r.failed, r.timeout, r.signaled);
  s += fmt::format("busy time   {:.1f}s in all\n", r.busy_seconds);
  if (!r.hosts.empty()) {
    s += "\nhosts\n";
    for (const auto& h : r.hosts) {
      s += fmt::format("  {:<24}  {} done, {} failed, {:.1f}s busy{}\n", printable(h.host, 24),
                       h.done, h.failed, h.busy_seconds, steps_text(h.steps));
    }
  }
  if (!r.slowest.empty()) {
    s += "\nslowest\n";
    for (const auto& it : r.slowest) {
      s += fmt::format("  {:>10.3f}s  #{}  {}\n", it.duration, it.seq, printable(it.item, 70));
    }
  }
  if (!r.failures.empty()) {
    s += "\nfailures\n";
    for (const auto& it : r.failures) {
      std::string why = it.status == Status::timeout    ? std::string("timed out")
                        : it.status == Status::signaled ? fmt::format("signal {}", it.signal)
                                                        : fmt::format("exit {}", it.exit_code);
      s += fmt::format("  #{}  {}  ({}, {} attempt{})\n", it.seq, printable(it.item, 70), why,
                       it.attempts, it.attempts == 1 ? "" : "s");
      std::string tail = printable(it.stderr_tail, 400, /*keep_newlines=*/true);
      std::size_t start = 0;
      while (start < tail.size()) {
        auto nl = tail.find('\n', start);
        std::string line = tail.substr(start, nl == std::string::npos ? nl : nl - start);
        if (!line.empty()) {
          s += "      | " + line + "\n";
        }
        if (nl == std::string::npos) {
          break;
        }
        start = nl + 1;
      }
    }
  }
  return s + running_text(r);
}

} // namespace

int print_report(const std::string& path, bool json)
{
  try {
    CheckpointReport r = read_report(path);
    std::string text = json ? to_json(r) : as_text(r);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 255;
  } catch (const Error& e) {
    std::fprintf(stderr, "parmap: %s\n", e.what());
    return 255;
  }
}

} // namespace parmap::cli
