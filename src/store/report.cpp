// read_report(): the --report summary of a checkpoint, read-only.
#include "store/report.hpp"

#include "store/checkpoint.hpp"
#include "base/error.hpp"
#include "output/format.hpp"
#include "output/json.hpp"
#include "store/history.hpp"
#include "store/running_items.hpp"
#include "store/sqlite.hpp"

#include <fmt/format.h>

#include <algorithm>

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
    it.args = args_of_key(q.column_text(1));
    it.item = joined(it.args, ' ');
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

/// The Slurm job steps each host ran items in, in the order of their first item.
void read_steps(sqlite3* db, std::vector<HostReport>& hosts)
{
  if (!sql::has_column(db, "results", "step")) {
    return;
  }
  sql::Statement q(db, "SELECT coalesce(host, ':'), step FROM results WHERE step IS NOT NULL "
                       "GROUP BY 1, 2 ORDER BY 1, min(seq)");
  auto host = hosts.begin();
  while (q.step()) {
    std::string name = q.column_text(0);
    while (host != hosts.end() && host->host < name) {
      ++host; // both lists are in the order of the host names
    }
    if (host != hosts.end() && host->host == name) {
      host->steps.push_back(q.column_text(1));
    }
  }
}

/// Counts per host, when some item ran on a remote host (schema 2 files only).
std::vector<HostReport> read_hosts(sqlite3* db)
{
  std::vector<HostReport> hosts;
  if (!sql::has_column(db, "results", "host")) {
    return hosts;
  }
  sql::Statement q(db, "SELECT coalesce(host, ':'), count(*), total(status != 'ok'), "
                       "total(duration) FROM results GROUP BY 1 ORDER BY 1");
  while (q.step()) {
    hosts.push_back(HostReport{q.column_text(0), static_cast<std::uint64_t>(q.column_int(1)),
                               static_cast<std::uint64_t>(q.column_double(2)),
                               finite_or_zero(q.column_double(3)), {}});
  }
  if (hosts.size() == 1 && hosts.front().host == ":") {
    hosts.clear(); // everything ran here: nothing to say per host
  }
  read_steps(db, hosts);
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

std::vector<ReportRunning> read_running(sqlite3* db)
{
  std::vector<RunningItem> rows = RunningItems::read(db);
  std::vector<RecordedGroup> groups;
  for (const RunningItem& row : rows) {
    groups.push_back(row.group);
  }
  std::vector<RecordedGroup> living = living_groups(groups);
  std::vector<ReportRunning> running;
  for (RunningItem& row : rows) {
    bool alive = std::any_of(living.begin(), living.end(),
                             [&](const RecordedGroup& g) { return g.seq == row.seq; });
    std::vector<std::string> args = args_of_key(row.item);
    std::string item = joined(args, ' ');
    running.push_back(
        ReportRunning{row.seq, std::move(args), std::move(item), row.group.pgid, row.started, alive});
  }
  return running;
}

std::string running_json(const ReportRunning& r)
{
  std::string s = "{";
  append_seq_and_item(s, r.seq, r.item, r.args);
  return s + fmt::format(",\"pgid\":{},\"started\":{:.3f},\"alive\":{}}}", r.pgid,
                         r.started, r.alive);
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
  s += fmt::format("],\"run_active\":{},\"running\":[", r.run_active);
  for (std::size_t i = 0; i < r.running.size(); ++i) {
    s += i > 0 ? "," : "";
    s += running_json(r.running[i]);
  }
  s += "]";
  if (!r.hosts.empty()) {
    s += ",\"hosts\":[";
    for (std::size_t i = 0; i < r.hosts.size(); ++i) {
      const HostReport& h = r.hosts[i];
      s += i > 0 ? ",{\"host\":" : "{\"host\":";
      append_json_string(s, h.host);
      s += fmt::format(",\"done\":{},\"failed\":{},\"busy_s\":{:.3f}", h.done, h.failed,
                       h.busy_seconds);
      if (!h.steps.empty()) {
        s += ",\"steps\":[";
        for (std::size_t j = 0; j < h.steps.size(); ++j) {
          s += j > 0 ? "," : "";
          append_json_string(s, h.steps[j]);
        }
        s += "]";
      }
      s += "}";
    }
    s += "]";
  }
  return s + "}\n";
}


std::string describe_end(Status status, int exit_code, int signal)
{
  return status == Status::timeout    ? std::string("timed out")
         : status == Status::signaled ? fmt::format("signal {}", signal)
                                      : fmt::format("exit {}", exit_code);
}

CheckpointReport read_report(const std::string& path, std::size_t top, std::size_t tail_bytes)
{
  return read_report(open_for_report(path), path, top, tail_bytes);
}

ReadableCheckpoint open_for_report(const std::string& path)
{
  ReadableCheckpoint cp = open_for_reading(path);
  if (cp.schema == 0) {
    throw Error(path + ": not a parmap checkpoint (it is empty)");
  }
  return cp;
}

CheckpointReport read_report(const ReadableCheckpoint& cp, const std::string& path,
                             std::size_t top, std::size_t tail_bytes)
{
  sqlite3* db = cp.db.get();
  CheckpointReport r;
  r.path = path;
  sql::Statement run(db, "SELECT command, options, version, created FROM run");
  if (run.step()) {
    r.command = run.column_text(0);
    r.options = run.column_text(1);
    r.version = run.column_text(2);
    r.created = finite_or_zero(run.column_double(3));
  }
  sql::Statement counts(db, "SELECT count(*), total(status = 'ok'), total(status = 'failed'), "
                            "total(status = 'timeout'), total(status = 'signaled'), "
                            "total(duration) FROM results");
  counts.step();
  r.total = static_cast<std::uint64_t>(counts.column_int(0));
  r.ok = static_cast<std::uint64_t>(counts.column_double(1));
  r.failed = static_cast<std::uint64_t>(counts.column_double(2));
  r.timeout = static_cast<std::uint64_t>(counts.column_double(3));
  r.signaled = static_cast<std::uint64_t>(counts.column_double(4));
  r.busy_seconds = finite_or_zero(counts.column_double(5));
  r.slowest = read_items(db,
                         "SELECT seq, item, status, exit, signal, duration, attempts, ?2 "
                         "FROM results ORDER BY duration DESC LIMIT ?1",
                         top, false, tail_bytes);
  // The tail is cut in SQL. A stderr stored in chunks (schema 2) has its tail in the last one.
  r.failures = read_items(
      db,
      cp.schema >= 2
          ? "SELECT seq, item, status, exit, signal, duration, attempts, "
            "coalesce(substr(stderr, max(1, length(stderr) - ?2 + 1)), "
            "(SELECT substr(bytes, max(1, length(bytes) - ?2 + 1)) FROM output_chunks "
            "WHERE result = results.rowid AND stream = 2 ORDER BY rowid DESC LIMIT 1)) "
            "FROM results WHERE status != 'ok' ORDER BY seq LIMIT ?1"
          : "SELECT seq, item, status, exit, signal, duration, attempts, "
            "substr(stderr, max(1, length(stderr) - ?2 + 1)) FROM results WHERE status != 'ok' "
            "ORDER BY seq LIMIT ?1",
      top, true, tail_bytes);
  r.hosts = read_hosts(db);
  r.run_active = checkpoint_in_use(path);
  r.running = read_running(db);
  return r;
}

} // namespace parmap
