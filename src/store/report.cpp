// read_report(): the --report summary of a checkpoint, read-only.
#include "parmap/report.hpp"

#include "store/checkpoint.hpp"
#include "base/error.hpp"
#include "output/format.hpp"
#include "output/json.hpp"
#include "store/sqlite.hpp"

#include <fmt/format.h>

#include <cmath>

#include <sys/stat.h>
#include <unistd.h>

namespace parmap {
namespace {

/// A number read from the file, which may be damaged: an infinity (SQLite reads a NaN as NULL)
/// becomes 0, so that the report stays printable and its JSON valid.
double finite(double v)
{
  return std::isfinite(v) ? v : 0;
}

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
    it.args = args_of_key(q.column_text(1));
    it.item = joined(it.args, ' ');
    it.status = status_from(q.column_text(2));
    it.exit_code = static_cast<int>(q.column_int(3));
    it.signal = static_cast<int>(q.column_int(4));
    it.duration = finite(q.column_double(5));
    it.attempts = static_cast<unsigned>(q.column_int(6));
    if (tails) {
      it.stderr_tail = q.column_text(7);
    }
    items.push_back(std::move(it));
  }
  return items;
}

/// Counts per host, when some item ran on a remote host (schema 2 files only).
std::vector<HostReport> read_hosts(sqlite3* db)
{
  sql::Statement has(db, "SELECT count(*) FROM pragma_table_info('results') WHERE name = 'host'");
  has.step();
  std::vector<HostReport> hosts;
  if (has.column_int(0) == 0) {
    return hosts;
  }
  sql::Statement q(db, "SELECT coalesce(host, ':'), count(*), total(status != 'ok'), "
                       "total(duration) FROM results GROUP BY 1 ORDER BY 1");
  while (q.step()) {
    hosts.push_back(HostReport{q.column_text(0), static_cast<std::uint64_t>(q.column_int(1)),
                               static_cast<std::uint64_t>(q.column_double(2)),
                               finite(q.column_double(3))});
  }
  if (hosts.size() == 1 && hosts.front().host == ":") {
    hosts.clear(); // everything ran here: nothing to say per host
  }
  return hosts;
}

std::string item_json(const ReportItem& it, bool with_tail)
{
  std::string s = "{";
  append_item_fields(s, it.seq, it.item, it.args, it.status, it.exit_code, it.signal, it.duration,
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
  s += "]";
  if (!r.hosts.empty()) {
    s += ",\"hosts\":[";
    for (std::size_t i = 0; i < r.hosts.size(); ++i) {
      const HostReport& h = r.hosts[i];
      s += i > 0 ? ",{\"host\":" : "{\"host\":";
      append_json_string(s, h.host);
      s += fmt::format(",\"done\":{},\"failed\":{},\"busy_s\":{:.3f}}}", h.done, h.failed,
                       h.busy_seconds);
    }
    s += "]";
  }
  return s + "}\n";
}


CheckpointReport read_report(const std::string& path, std::size_t top, std::size_t tail_bytes)
{
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw_errno(path, errno);
  }
  // Only read, but opened for writing when allowed: the last connection to a WAL database
  // removes its -wal and -shm files on close, which a read-only one cannot do.
  bool writable = ::access(path.c_str(), W_OK) == 0;
  sql::Db db = sql::open(path, (writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) |
                                   SQLITE_OPEN_NOMUTEX);
  sqlite3_busy_timeout(db.get(), 5000);
  CheckpointReport r;
  r.path = path;
  try {
    sql::Statement id(db.get(), "SELECT (SELECT application_id FROM pragma_application_id)");
    id.step();
    if (id.column_int(0) != k_checkpoint_application_id) {
      throw Error(path + ": not a parmap checkpoint");
    }
    sql::Statement run(db.get(), "SELECT command, options, version, created FROM run");
    if (run.step()) {
      r.command = run.column_text(0);
      r.options = run.column_text(1);
      r.version = run.column_text(2);
      r.created = finite(run.column_double(3));
    }
    sql::Statement counts(db.get(),
                          "SELECT count(*), total(status = 'ok'), total(status = 'failed'), "
                          "total(status = 'timeout'), total(status = 'signaled'), "
                          "total(duration) FROM results");
    counts.step();
    r.total = static_cast<std::uint64_t>(counts.column_int(0));
    r.ok = static_cast<std::uint64_t>(counts.column_double(1));
    r.failed = static_cast<std::uint64_t>(counts.column_double(2));
    r.timeout = static_cast<std::uint64_t>(counts.column_double(3));
    r.signaled = static_cast<std::uint64_t>(counts.column_double(4));
    r.busy_seconds = finite(counts.column_double(5));
    // The tail is cut in SQL, so a huge stderr is never read whole.
    r.slowest = read_items(db.get(),
                           "SELECT seq, item, status, exit, signal, duration, attempts, ?2 "
                           "FROM results ORDER BY duration DESC LIMIT ?1",
                           top, false, tail_bytes);
    r.failures = read_items(
        db.get(),
        "SELECT seq, item, status, exit, signal, duration, attempts, "
        "substr(stderr, max(1, length(stderr) - ?2 + 1)) FROM results WHERE status != 'ok' "
        "ORDER BY seq LIMIT ?1",
        top, true, tail_bytes);
    r.hosts = read_hosts(db.get());
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.starts_with(path)) {
      throw;
    }
    throw Error(path + ": not a parmap checkpoint (" + what + ")");
  }
  return r;
}

} // namespace parmap
