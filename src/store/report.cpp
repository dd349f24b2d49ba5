// read_report(): the --report summary of a checkpoint, read-only.
#include "store/report.hpp"

#include "store/checkpoint.hpp"
#include "store/history.hpp"
#include "output/format.hpp"
#include "output/json.hpp"

#include <fmt/format.h>

namespace parmap {
namespace {

std::vector<ReportItem> read_items(sqlite3* db, const char* sql, std::size_t top, bool tails,
                                   std::size_t tail_bytes)
{
  sql::Statement q(db, sql);
  q.bind(1, static_cast<std::int64_t>(top));
  q.bind(2, static_cast<std::int64_t>(tail_bytes));
  std::vector<ReportItem> items;
  while (q.step()) {
    ReportItem it;
    it.seq = static_cast<std::uint64_t>(q.column_int(0));
    it.item = q.column_text(1);
    it.status = status_from(q.column_text(2));
    it.exit_code = static_cast<int>(q.column_int(3));
    it.signal = static_cast<int>(q.column_int(4));
    it.duration = finite_or_zero(q.column_double(5));
    it.attempts = static_cast<unsigned>(q.column_int(6));
    if (tails) {
      it.stderr_tail = q.column_text(7);
    }
    items.push_back(std::move(it));
  }
  return items;
}

std::string item_json(const ReportItem& it, bool with_tail)
{
  std::string s = "{";
  append_item_fields(s, it.seq, it.item, it.status, it.exit_code, it.signal, it.duration,
                     it.attempts);
  if (with_tail) {
    s += ",\"stderr_tail\":";
    append_json_string(s, it.stderr_tail);
  }
  return s + "}";
}

}  // namespace

std::string to_json(const CheckpointReport& r)
{
  std::string s = "{\"path\":";
  append_json_string(s, r.path);
  s += ",\"command\":";
  append_json_string(s, r.command);
  s += ",\"options\":";
  append_json_string(s, r.options);
  s += ",\"version\":";
  append_json_string(s, r.version);
  s += fmt::format(",\"created\":{:.3f},\"done\":{},\"ok\":{},\"failed\":{},\"timeout\":{},"
                   "\"signaled\":{},\"busy_s\":{:.3f},\"slowest\":[",
                   r.created, r.total, r.ok, r.failed, r.timeout, r.signaled, r.busy_seconds);
  for (std::size_t i = 0; i < r.slowest.size(); ++i) {
    s += i > 0 ? "," : "";
    s += item_json(r.slowest[i], false);
  }
  s += "],\"failures\":[";
  for (std::size_t i = 0; i < r.failures.size(); ++i) {
    s += i > 0 ? "," : "";
    s += item_json(r.failures[i], true);
  }
  return s + "]}\n";
}


std::string describe_end(Status status, int exit_code, int signal)
{
  return status == Status::timeout    ? std::string("timed out")
         : status == Status::signaled ? fmt::format("signal {}", signal)
                                      : fmt::format("exit {}", exit_code);
}

CheckpointReport read_report(const std::string& path, std::size_t top, std::size_t tail_bytes)
{
  sql::Db db = open_for_reading(path);
  return read_report(db.get(), path, top, tail_bytes);
}

CheckpointReport read_report(sqlite3* db, const std::string& path, std::size_t top,
                             std::size_t tail_bytes)
{
  CheckpointReport r;
  r.path = path;
  try {
    sql::Statement run(db, "SELECT command, options, version, created FROM run");
    if (run.step()) {
      r.command = run.column_text(0);
      r.options = run.column_text(1);
      r.version = run.column_text(2);
      r.created = finite_or_zero(run.column_double(3));
    }
    sql::Statement counts(db,
                          "SELECT count(*), total(status = 'ok'), total(status = 'failed'), "
                          "total(status = 'timeout'), total(status = 'signaled'), "
                          "total(duration) FROM results");
    counts.step();
    r.total = static_cast<std::uint64_t>(counts.column_int(0));
    r.ok = static_cast<std::uint64_t>(counts.column_double(1));
    r.failed = static_cast<std::uint64_t>(counts.column_double(2));
    r.timeout = static_cast<std::uint64_t>(counts.column_double(3));
    r.signaled = static_cast<std::uint64_t>(counts.column_double(4));
    r.busy_seconds = finite_or_zero(counts.column_double(5));
    // The tail is cut in SQL, so a huge stderr is never read whole.
    r.slowest = read_items(db,
                           "SELECT seq, item, status, exit, signal, duration, attempts, ?2 "
                           "FROM results ORDER BY duration DESC LIMIT ?1",
                           top, false, tail_bytes);
    r.failures = read_items(
        db,
        "SELECT seq, item, status, exit, signal, duration, attempts, "
        "substr(stderr, max(1, length(stderr) - ?2 + 1)) FROM results WHERE status != 'ok' "
        "ORDER BY seq LIMIT ?1",
        top, true, tail_bytes);
  } catch (const Error& e) {
    reject_file(path, e);
  }
  return r;
}

} // namespace parmap
