#include "store/sqlite.hpp"

#include "parmap/error.hpp"

#include <fmt/format.h>

namespace parmap::sql {

void check(int rc, sqlite3* db, std::string_view context)
{
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) {
    return;
  }
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw Error(fmt::format("{}: {}", context, message));
}

Db open(const std::string& path, int flags)
{
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);
  check(rc, db.get(), path);
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

void exec(sqlite3* db, const char* sql, std::string_view context)
{
  check(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), db, context);
}

Statement::Statement(sqlite3* db, const char* sql) : m_db(db)
{
  sqlite3_stmt* raw = nullptr;
  check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr), db, sql);
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
  std::string message = sqlite3_errmsg(m_db);
  sqlite3_reset(m_stmt.get());
  throw Error(fmt::format("{}: {}", sqlite3_db_filename(m_db, "main"), message));
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

std::string Statement::column_text(int index) const
{
  const auto* text = sqlite3_column_blob(m_stmt.get(), index);
  int n = sqlite3_column_bytes(m_stmt.get(), index);
  return text != nullptr ? std::string(static_cast<const char*>(text), static_cast<std::size_t>(n))
                         : std::string();
}

} // namespace parmap::sql
