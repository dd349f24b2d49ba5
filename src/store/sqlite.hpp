// Thin RAII over SQLite: a connection, prepared statements, and errors as parmap::Error.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace parmap::sql {

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Db = std::unique_ptr<sqlite3, CloseDb>;

/// What went wrong, in parmap's words (a damaged file, a full disk, an I/O error and its
/// errno...): never SQL text, which means nothing to someone running parmap.
std::string describe(int rc, sqlite3* db);

/// Throws parmap::Error("<file>: <describe(rc)>") unless rc is one of the ok codes; `file` is
/// the database's file name.
void check(int rc, sqlite3* db);

/// Opens `path` with `flags` (SQLITE_OPEN_*). Throws parmap::Error naming the path.
Db open(const std::string& path, int flags);

/// Runs SQL without results. Throws parmap::Error.
void exec(sqlite3* db, const char* sql);

/// A prepared statement, reset after each use.
class Statement;

/// True when `table` has a column `column` (later schemas add some; older files lack them).
bool has_column(sqlite3* db, const char* table, const char* column);

/// A prepared statement, reset after each use.
class Statement {
public:
  Statement() = default;
  Statement(sqlite3* db, const char* sql);
  sqlite3_stmt* get() const { return m_stmt.get(); }
  /// Steps once: true for a row, false when done. Throws parmap::Error.
  bool step();
  void reset();
  void bind(int index, std::int64_t value);
  void bind(int index, double value);
  void bind_text(int index, std::string_view value);
  void bind_blob(int index, std::string_view value);
  void bind_zeroblob(int index, std::uint64_t size);
  void bind_null(int index);
  std::int64_t column_int(int index) const;
  double column_double(int index) const;
  std::string column_text(int index) const;

private:
  sqlite3* m_db = nullptr;
  std::unique_ptr<sqlite3_stmt, FinalizeStmt> m_stmt;
};

} // namespace parmap::sql
