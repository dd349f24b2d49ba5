#include "store/sqlite.hpp"

#include "parmap/error.hpp"

#include <fmt/format.h>

#include <cstring>

namespace parmap::sql {

std::string describe(int rc, sqlite3* db)
{
  int err = db != nullptr ? sqlite3_system_errno(db) : 0;
  std::string cause = err != 0 ? std::string(": ") + std::strerror(err) : std::string();
  switch (rc & 0xff) {
  case SQLITE_CORRUPT:
    return "the checkpoint is damaged (SQLite found a corrupt page)";
  case SQLITE_NOTADB:
    return "not a parmap checkpoint (not an SQLite database)";
  case SQLITE_FULL:
    return "cannot write the checkpoint: the disk is full";
  case SQLITE_IOERR:
    return "cannot read or write the checkpoint" + (cause.empty() ? ": I/O error" : cause);
  case SQLITE_CANTOPEN:
    return "cannot open the checkpoint" + cause;
  case SQLITE_READONLY:
    return "cannot write the checkpoint: it is read-only here";
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return "the checkpoint is locked by another program";
  case SQLITE_NOMEM:
    return "out of memory";
  case SQLITE_PERM:
  case SQLITE_AUTH:
    return "cannot use the checkpoint: permission denied";
  case SQLITE_TOOBIG:
    return "a value is too large for SQLite";
  default:
    // A file that says it is a checkpoint but lacks a table or column: SQLite's message names
    // what is missing ("no such table: run").
    return fmt::format("not laid out as a parmap checkpoint ({})",
                       db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  }
}

void check(int rc, sqlite3* db)
{
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) {
    return;
  }
  const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
  throw Error(fmt::format("{}: {}", file != nullptr ? file : "checkpoint", describe(rc, db)));
}

Db open(const std::string& path, int flags)
{
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    throw Error(fmt::format("{}: {}", path, describe(rc, db.get())));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

void exec(sqlite3* db, const char* sql)
{
  check(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), db);
}

Statement::Statement(sqlite3* db, const char* sql) : m_db(db)
{
  sqlite3_stmt* raw = nullptr;
  check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr), db);
  m_stmt.reset(raw);
}

bool Statement::step()
{
  int rc = sqlite3_step(m_stmt.get());
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  sqlite3_reset(m_stmt.get());
  check(rc, m_db);
  return false;
}

void Statement::reset()
{
  sqlite3_reset(m_stmt.get());
  sqlite3_clear_bindings(m_stmt.get());
}

void Statement::bind(int index, std::int64_t value)
{
  sqlite3_bind_int64(m_stmt.get(), index, value);
}

void Statement::bind(int index, double value)
{
  sqlite3_bind_double(m_stmt.get(), index, value);
}

void Statement::bind_text(int index, std::string_view value)
{
  sqlite3_bind_text64(m_stmt.get(), index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8);
}

void Statement::bind_blob(int index, std::string_view value)
{
  sqlite3_bind_blob64(m_stmt.get(), index, value.data(), value.size(), SQLITE_STATIC);
}

void Statement::bind_zeroblob(int index, std::uint64_t size)
{
  sqlite3_bind_zeroblob64(m_stmt.get(), index, size);
}

void Statement::bind_null(int index)
{
  sqlite3_bind_null(m_stmt.get(), index);
}

std::int64_t Statement::column_int(int index) const
{
  return sqlite3_column_int64(m_stmt.get(), index);
}

double Statement::column_double(int index) const
{
  return sqlite3_column_double(m_stmt.get(), index);
}

bool has_column(sqlite3* db, const char* table, const char* column)
{
  Statement q(db, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?");
  q.bind_text(1, table);
  q.bind_text(2, column);
  q.step();
  return q.column_int(0) > 0;
}

std::string Statement::column_text(int index) const
{
  const auto* text = sqlite3_column_blob(m_stmt.get(), index);
  int n = sqlite3_column_bytes(m_stmt.get(), index);
  return text != nullptr ? std::string(static_cast<const char*>(text), static_cast<std::size_t>(n))
                         : std::string();
}

} // namespace parmap::sql
