#include "store/checkpoint_file.hpp"

#include "base/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace parmap {
namespace {

const char* kind_of(mode_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFDIR:
    return "a directory";
  case S_IFCHR:
    return "a character device";
  case S_IFBLK:
    return "a block device";
  case S_IFIFO:
    return "a FIFO";
  case S_IFSOCK:
    return "a socket";
  default:
    return "not a regular file";
  }
}

/// The directory SQLite puts the -wal and -shm files in: the one of the file itself, symbolic
/// links resolved (SQLite resolves them too).
std::string directory_of(const std::string& path)
{
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), std::free);
  std::string p = real ? std::string(real.get()) : path;
  auto slash = p.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : p.substr(0, slash);
}

bool writable(const std::string& path)
{
  return ::access(path.c_str(), W_OK) == 0;
}

/// `path` as an SQLite URI with the given query: the characters a URI gives a meaning to are
/// escaped, so that any file name works.
std::string file_uri(const std::string& path, const char* query)
{
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x21 || c >= 0x7f) {
      uri += fmt::format("%{:02X}", c);
    } else {
      uri += static_cast<char>(c);
    }
  }
  return uri + "?" + query;
}

/// The first line of what PRAGMA quick_check found, or "" when the file is sound.
std::string quick_check(sqlite3* db)
{
  sql::Statement q(db, "PRAGMA quick_check(1)");
  std::string found = q.step() ? q.column_text(0) : std::string("ok");
  if (found == "ok") {
    return {};
  }
  // "*** in database main ***\nPage 51: ..." : the line after the heading says what.
  auto nl = found.find('\n');
  return nl == std::string::npos ? found : found.substr(nl + 1, found.find('\n', nl + 1) - nl - 1);
}

} // namespace

bool regular_file_at(const std::string& path)
{
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      throw Error(fmt::format("{}: {}, not a file a checkpoint can be kept in", path,
                              kind_of(st.st_mode)));
    }
    return true;
  }
  int err = errno;
  if (err == ENOENT && ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    char target[PATH_MAX] = {};
    ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    throw Error(fmt::format("{}: a symbolic link to {}, which does not exist", path,
                            n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?"));
  }
  if (err != ENOENT) {
    throw_errno(path, err);
  }
  return false;
}

bool check_writable_path(const std::string& path)
{
  bool exists = regular_file_at(path);
  std::string dir = directory_of(path);
  if (::access(dir.c_str(), W_OK | X_OK) != 0 && errno != ENOENT) {
    // ENOENT (no such directory) is left to the creation, which says so.
    throw Error(fmt::format("{}: the directory {} is not writable ({}), and the checkpoint needs "
                            "it: SQLite keeps {}-wal and {}-shm beside the file",
                            path, dir, std::strerror(errno), path, path));
  }
  return exists;
}

std::int64_t check_checkpoint(sqlite3* db, const std::string& path)
{
  sql::Statement q(db, "SELECT (SELECT application_id FROM pragma_application_id), "
                       "(SELECT user_version FROM pragma_user_version), "
                       "(SELECT count(*) FROM sqlite_master)");
  q.step();
  std::int64_t app_id = q.column_int(0);
  std::int64_t schema = q.column_int(1);
  if (app_id == 0 && schema == 0 && q.column_int(2) == 0) {
    return 0;
  }
  if (app_id != k_checkpoint_application_id) {
    throw Error(path + ": not a parmap checkpoint");
  }
  if (schema > k_checkpoint_schema) {
    throw Error(fmt::format("{}: written by a newer parmap (checkpoint schema {}; this parmap "
                            "reads schema {} and older)",
                            path, schema, k_checkpoint_schema));
  }
  // Damage shows as a corrupt page when the check reads it, or in what the check reports.
  std::string found = quick_check(db);
  if (!found.empty()) {
    throw Error(fmt::format("{}: the checkpoint is damaged ({}); restore it, or move it away to "
                            "start over",
                            path, found));
  }
  return schema;
}

ReadableCheckpoint open_for_reading(const std::string& path)
{
  if (!regular_file_at(path)) {
    throw_errno(path, ENOENT);
  }
  // Opened for writing when allowed, though only read: the last connection to a WAL database
  // removes its -wal and -shm files on close, which a read-only one cannot do.
  int flags = SQLITE_OPEN_NOMUTEX;
  std::string name = path;
  if (writable(path) && writable(directory_of(path))) {
    flags |= SQLITE_OPEN_READWRITE;
  } else if (::access((path + "-wal").c_str(), F_OK) == 0) {
    flags |= SQLITE_OPEN_READONLY; // a run is on: read its -wal too, through its -shm
  } else {
    flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
    name = file_uri(path, "immutable=1");
  }
  ReadableCheckpoint opened{sql::open(name, flags)};
  sqlite3_busy_timeout(opened.db.get(), 5000);
  opened.schema = check_checkpoint(opened.db.get(), path);
  return opened;
}

} // namespace parmap
