#include "report.hpp"

#include "joblog.hpp"
#include "output_file.hpp"
#include "printable.hpp"
#include "parmap/error.hpp"
#include "parmap/report.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

namespace parmap::cli {
namespace {

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
  if (!r.slowest.empty()) {
    s += "\nslowest\n";
    for (const auto& it : r.slowest) {
      s += fmt::format("  {:>10.3f}s  #{}  {}\n", it.duration, it.seq, printable(it.item, 70));
    }
  }
  if (!r.failures.empty()) {
    s += "\nfailures\n";
    for (const auto& it : r.failures) {
      std::string why = describe_end(it.status, it.exit_code, it.signal);
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
  return s;
}

void write_joblog(const std::string& path, OutputFile& out)
{
  std::map<std::int64_t, ReportSession> sessions;
  for (auto& s : read_sessions(path)) {
    sessions.emplace(s.id, std::move(s));
  }
  out.write(Joblog::k_header);
  for_each_attempt(path, [&](const ReportAttempt& a) {
    if (a.is_result) { // GNU parallel logs a job once, however often it was retried
      out.write(Joblog::line(a, command_line(sessions[a.session], a)));
    }
  });
}

} // namespace

int write_report_files(const std::string& path, const std::string& html, const std::string& joblog)
{
  try {
    if (!html.empty()) {
      OutputFile out(html);
      write_html_report(path, [&out](std::string_view piece) { out.write(piece); });
      out.commit();
    }
    if (!joblog.empty()) {
      OutputFile out(joblog);
      write_joblog(path, out);
      out.commit();
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "parmap: %s\n", e.what());
    return 255;
  }
}

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
