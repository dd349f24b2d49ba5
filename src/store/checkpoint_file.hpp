// The checkpoint file itself: which paths can hold one, how it is opened to write or only to
// read, and the checks that tell a sound parmap checkpoint from another file or a damaged one.
#pragma once

#include "store/sqlite.hpp"

#include <cstdint>
#include <string>

namespace parmap {

/// "PMAP": marks a SQLite file as a parmap checkpoint (PRAGMA application_id).
inline constexpr std::int64_t k_checkpoint_application_id = 0x504D4150;
/// The newest checkpoint schema (PRAGMA user_version) this parmap reads and writes.
inline constexpr std::int64_t k_checkpoint_schema = 2;

/// Whether a regular file is at `path` (false: nothing is there). Throws parmap::Error saying
/// what is wrong for a dangling symbolic link, or for anything but a regular file (a device such
/// as /dev/null, a directory, a FIFO): SQLite would write beside it (/dev/null-journal) or
/// block on it.
bool regular_file_at(const std::string& path);

/// Refuses, before anything is created, a checkpoint path that cannot be written: the checks of
/// regular_file_at(), and a directory this user cannot write (SQLite's WAL mode creates
/// PATH-wal and PATH-shm beside the file, so a writable file alone is not enough). Returns
/// whether the file exists.
bool check_writable_path(const std::string& path);

/// Checks what an open database is: returns its schema version, 0 for an empty database (a new
/// file). Throws parmap::Error naming `path` for another SQLite database, a schema newer than
/// this parmap's, or damage (PRAGMA quick_check: reads every page; see the man page for what it
/// costs). Writes nothing.
std::int64_t check_checkpoint(sqlite3* db, const std::string& path);

/// A checkpoint opened to be read.
struct ReadableCheckpoint {
  sql::Db db;
  std::int64_t schema = 0; ///< As check_checkpoint() returns it.
};

/// A connection that only reads `path` (for --report), checked with check_checkpoint(). When
/// this user cannot write the file or its directory (a monitoring user reading a cron job's
/// checkpoint), SQLite could not create the -shm file a WAL database needs: the file is then
/// opened read-only while a run has its -wal there, else immutable, and nothing is created
/// beside it either way.
ReadableCheckpoint open_for_reading(const std::string& path);

} // namespace parmap
