// History: a checkpoint's run history (schema v2), one row per start or resume of a run
// (sessions) and one per attempt at an item (attempts); created here, written by Checkpoint,
// read for --report --html and --report --joblog.
#pragma once

#include "parmap/error.hpp"
#include "parmap/report.hpp"
#include "store/sqlite.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// Adds the history's tables to a checkpoint that is becoming schema version 2, in the
/// caller's transaction, and files the results a version 1 file holds as the attempts of
/// session 0 (slots unknown). Runs once per file. Throws parmap::Error.
void add_history_tables(sqlite3* db);

/// Rethrows an error met while reading the checkpoint at `path`: as it is when it names the
/// file, else as "<path>: not a parmap checkpoint (<what>)".
[[noreturn]] void reject_file(const std::string& path, const Error& e);

/// Runs read() and returns what it returns; an Error it throws goes through reject_file().
template <class Read> auto reading(const std::string& path, Read&& read)
{
  try {
    return read();
  } catch (const Error& e) {
    reject_file(path, e);
  }
}

/// The columns attempt_at() reads, for a SELECT over History::attempts().
inline constexpr const char* k_attempt_columns =
    "session, seq, item, host, step, slot, attempt, is_result, status, exit, signal, started, "
    "duration, stdout_bytes";

/// A read-only view of a checkpoint's history in one read transaction, so that every query
/// sees the same snapshot while a run goes on writing. A version 1 file reads as session 0.
class History {
public:
  /// Starts the read transaction. Throws parmap::Error.
  History(sqlite3* db, const std::string& path);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  sqlite3* db() const { return m_db; }
  /// Sessions in start order, session 0 first when the file has results from parmap 0.1.0.
  const std::vector<ReportSession>& sessions() const { return m_sessions; }
  /// What to select attempts FROM: the attempts table, or a version 1 file's results as
  /// attempts. Has the columns of k_attempt_columns.
  const std::string& attempts() const { return m_source; }
  /// Prepares `SELECT <columns> FROM <attempts()> <tail>`. Throws parmap::Error naming the
  /// file (reject_file()).
  sql::Statement select(std::string_view columns, std::string_view tail) const;
  /// Steps a statement of this history: true for a row. Throws as select().
  bool next(sql::Statement& q) const;

private:
  void read_sessions();

  sqlite3* m_db;
  std::string m_path;
  std::string m_source;
  std::vector<ReportSession> m_sessions;
};

/// The attempt in the current row of a statement that selected k_attempt_columns. Values a
/// damaged file holds are made safe to draw (finite times, no negative durations).
ReportAttempt attempt_at(const sql::Statement& q);

/// A duration read from a file that may be damaged: finite, 0 to 1e9 seconds.
double plausible_duration(double seconds);

/// A number read from a file that may be damaged: an infinity (SQLite reads a NaN as NULL)
/// becomes 0, so that reports stay printable and their JSON valid.
double finite_or_zero(double v);

} // namespace parmap
