#include "store/history.hpp"

#include "base/error.hpp"
#include "exec/command.hpp"
#include "output/format.hpp"
#include "store/checkpoint.hpp"
#include "store/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace parmap {
namespace {

constexpr const char* k_history_schema = R"sql(
  CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    last_commit REAL,
    pid INTEGER NOT NULL,
    command TEXT NOT NULL,
    shell INTEGER NOT NULL,
    options TEXT NOT NULL,
    version TEXT NOT NULL,
    slots INTEGER NOT NULL,
    timeout REAL NOT NULL,
    timeout_percent REAL NOT NULL,
    replayed INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS attempts (
    session INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    item BLOB NOT NULL,
    occurrence INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    is_result INTEGER NOT NULL,
    host TEXT,
    step TEXT,
    slot INTEGER,
    status TEXT NOT NULL,
    exit INTEGER NOT NULL,
    signal INTEGER NOT NULL,
    started REAL NOT NULL,
    duration REAL NOT NULL,
    stdout_bytes INTEGER NOT NULL
  );
)sql";

/// A version 1 file's results as attempts: each the result of its item, in session 0, on a
/// slot nobody recorded. The columns are k_attempt_columns, then occurrence.
constexpr const char* k_results_as_attempts =
    "SELECT 0 AS session, seq, item, NULL AS host, NULL AS step, NULL AS slot, "
    "attempts AS attempt, 1 AS is_result, status, exit, signal, started, duration, "
    "coalesce(length(stdout), 0) AS stdout_bytes, occurrence FROM results";

/// A time read from a damaged file can be anything; beyond about 3000 years it is noise.
double plausible_time(double t)
{
  return std::abs(t) < 1e11 ? finite_or_zero(t) : 0;
}

unsigned small_count(std::int64_t v)
{
  return static_cast<unsigned>(std::clamp<std::int64_t>(v, 0, 1 << 20));
}

bool has_table(sqlite3* db, const char* name)
{
  sql::Statement q(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
  q.bind_text(1, name);
  q.step();
  return q.column_int(0) > 0;
}

} // namespace

double plausible_duration(double seconds)
{
  return std::clamp(finite_or_zero(seconds), 0.0, 1e9);
}

void reject_file(const std::string& path, const Error& e)
{
  std::string what = e.what();
  if (what.starts_with(path)) {
    throw e;
  }
  throw Error(path + ": not a parmap checkpoint (" + what + ")");
}

double finite_or_zero(double v)
{
  return std::isfinite(v) ? v : 0;
}

void add_history_tables(sqlite3* db)
{
  sql::exec(db, k_history_schema);
  sql::exec(db, fmt::format("INSERT INTO attempts ({}, occurrence) {}", k_attempt_columns,
                            k_results_as_attempts)
                    .c_str());
}

History::History(sqlite3* db, const std::string& path) : m_db(db), m_path(path)
{
  reading(path, [&] { sql::exec(db, "BEGIN"); });
  try {
    m_source = has_table(db, "attempts") ? "attempts" : fmt::format("({})", k_results_as_attempts);
    read_sessions();
  } catch (const Error& e) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    reject_file(path, e);
  }
}

History::~History()
{
  sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr); // a read: nothing to lose
}

sql::Statement History::select(std::string_view columns, std::string_view tail) const
{
  return reading(m_path, [&] {
    return sql::Statement(m_db,
                          fmt::format("SELECT {} FROM {} {}", columns, m_source, tail).c_str());
  });
}

bool History::next(sql::Statement& q) const
{
  return reading(m_path, [&] { return q.step(); });
}

void History::read_sessions()
{
  sql::Statement old = select("count(*)", "WHERE session = 0");
  old.step();
  if (old.column_int(0) > 0) {
    // parmap 0.1.0 kept only the run record: the best account of that session there is.
    ReportSession s;
    sql::Statement run(m_db, "SELECT command, options, created FROM run");
    if (run.step()) {
      s.command = run.column_text(0);
      s.options = run.column_text(1);
      s.started = plausible_time(run.column_double(2));
      s.shell = s.command.starts_with("sh -c ");
    }
    m_sessions.push_back(std::move(s));
  }
  if (!has_table(m_db, "sessions")) {
    return;
  }
  sql::Statement q(m_db, "SELECT id, started, last_commit, pid, slots, timeout, timeout_percent, "
                         "command, shell, options, version, replayed FROM sessions "
                         "WHERE id > 0 ORDER BY id");
  while (q.step()) {
    ReportSession s;
    s.id = q.column_int(0);
    s.started = plausible_time(q.column_double(1));
    s.last_commit = plausible_time(q.column_double(2));
    s.pid = q.column_int(3);
    s.slots = small_count(q.column_int(4));
    s.timeout = std::max(0.0, finite_or_zero(q.column_double(5)));
    s.timeout_percent = std::max(0.0, finite_or_zero(q.column_double(6)));
    s.command = q.column_text(7);
    s.shell = q.column_int(8) != 0;
    s.options = q.column_text(9);
    s.version = q.column_text(10);
    s.replayed = static_cast<std::uint64_t>(std::max<std::int64_t>(0, q.column_int(11)));
    m_sessions.push_back(std::move(s));
  }
}

ReportAttempt attempt_at(const sql::Statement& q)
{
  ReportAttempt a;
  a.session = q.column_int(0);
  a.seq = static_cast<std::uint64_t>(q.column_int(1));
  a.args = args_of_key(q.column_text(2));
  a.item = joined(a.args, ' ');
  a.host = q.column_text(3);
  a.step = q.column_text(4);
  a.slot = small_count(q.column_int(5));
  a.attempt = small_count(q.column_int(6));
  a.is_result = q.column_int(7) != 0;
  std::string status = q.column_text(8);
  a.interrupted = status == "interrupted";
  a.status = status_from(status);
  a.exit_code = static_cast<int>(q.column_int(9));
  a.signal = static_cast<int>(q.column_int(10));
  a.started = plausible_time(q.column_double(11));
  a.duration = plausible_duration(q.column_double(12));
  a.stdout_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, q.column_int(13)));
  return a;
}

std::vector<ReportSession> read_sessions(const std::string& path)
{
  ReadableCheckpoint cp = open_for_report(path);
  History history(cp.db.get(), path);
  return history.sessions();
}

void for_each_attempt(const std::string& path,
                      const std::function<void(const ReportAttempt&)>& visit)
{
  ReadableCheckpoint cp = open_for_report(path);
  History history(cp.db.get(), path);
  sql::Statement q = history.select(k_attempt_columns, "ORDER BY session, seq, attempt");
  while (history.next(q)) {
    visit(attempt_at(q)); // outside reading(): what visit throws is its own business
  }
}

std::string command_line(const ReportSession& session, const ReportAttempt& attempt)
{
  auto words = split_quoted_words(session.command);
  if (!words || words->empty() || words->front().empty()) {
    return session.command; // not what CommandTemplate::text() writes: show it as it is
  }
  // text() writes a shell template as `sh -c SCRIPT`.
  bool shell = session.shell && words->size() == 3 && (*words)[0] == "sh" && (*words)[1] == "-c";
  CommandTemplate command(shell ? std::vector<std::string>{(*words)[2]} : std::move(*words),
                          shell ? Shell::always : Shell::never);
  return command.display(RenderContext{attempt.args, attempt.seq, attempt.slot});
}

} // namespace parmap
