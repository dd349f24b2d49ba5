#include "store/checkpoint.hpp"

#include "base/error.hpp"
#include "store/sqlite.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace parmap {
namespace {

constexpr std::int64_t k_schema_version = 2;

constexpr const char* k_schema = R"sql(
  CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    command TEXT NOT NULL,
    options TEXT NOT NULL,
    version TEXT NOT NULL,
    created REAL NOT NULL
  );
  CREATE TABLE results (
    item BLOB NOT NULL,
    occurrence INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    exit INTEGER NOT NULL,
    signal INTEGER NOT NULL,
    started REAL NOT NULL,
    duration REAL NOT NULL,
    attempts INTEGER NOT NULL,
    stdout BLOB,
    stderr BLOB,
    PRIMARY KEY (item, occurrence)
  );
)sql";

/// True when `table` has a column `column` (schema 2 adds some; older files lack them).
bool has_column(sqlite3* db, const char* table, const char* column)
{
  sql::Statement q(db, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?");
  q.bind_text(1, table);
  q.bind_text(2, column);
  q.step();
  return q.column_int(0) > 0;
}

/// Schema 2 is schema 1 plus these additions (each slice's in its own block), applied to a new
/// file and to a schema 1 file being resumed, inside the caller's transaction.
void add_schema_2(sqlite3* db, const std::string& path)
{
  // --sshlogin: the host that ran the item (NULL: this machine).
  if (!has_column(db, "results", "host")) {
    sql::exec(db, "ALTER TABLE results ADD COLUMN host TEXT", path);
  }
}

double unix_seconds(std::chrono::system_clock::time_point t)
{
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

bool file_exists(const std::string& path)
{
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

} // namespace

Status status_from(const std::string& text)
{
  if (text == "ok") {
    return Status::ok;
  }
  if (text == "timeout") {
    return Status::timeout;
  }
  if (text == "signaled") {
    return Status::signaled;
  }
  return Status::failed;
}

std::string_view item_key(std::span<const std::string> args, std::string& buffer)
{
  if (args.size() == 1 && !args[0].starts_with('\0')) {
    return args[0];
  }
  buffer.assign(1, '\0');
  for (const auto& a : args) {
    buffer += std::to_string(a.size());
    buffer.push_back(':');
    buffer += a;
  }
  return buffer;
}

std::vector<std::string> args_of_key(std::string_view key)
{
  if (!key.starts_with('\0')) {
    return {std::string(key)};
  }
  std::vector<std::string> args;
  for (std::size_t at = 1; at < key.size();) {
    auto colon = key.find(':', at);
    std::size_t size = 0;
    auto [end, ec] = std::from_chars(key.data() + at, key.data() + (colon == key.npos ? at : colon), size);
    if (colon == key.npos || ec != std::errc() || end != key.data() + colon ||
        size > key.size() - colon - 1) {
      return {std::string(key)}; // not what item_key() writes: show it as it is
    }
    args.emplace_back(key.substr(colon + 1, size));
    at = colon + 1 + size;
  }
  return args;
}

struct Checkpoint::Impl {
  sql::Db db;
  Fd lock;
  sql::Statement insert;
  sql::Statement lookup;
  CheckpointMode mode;
  bool in_transaction = false;
  std::size_t rows = 0;
  Clock::time_point opened{};

  void begin()
  {
    sql::exec(db.get(), "BEGIN IMMEDIATE", "checkpoint");
    in_transaction = true;
    rows = 0;
    opened = Clock::now();
  }
  void write_blob(std::int64_t rowid, const char* column, const Output& out);
  Output read_blob(std::int64_t rowid, const char* column, std::uint64_t size, SpillFactory& spill);
};

Checkpoint::Checkpoint(const std::string& path, const RunRecord& run, const CheckpointMode& mode)
    : m_impl(std::make_unique<Impl>()), m_path(path)
{
  m_impl->mode = mode;
  bool existed = file_exists(path);
  if (!existed) {
    // Created here, not by SQLite, to get mode 0600 (SQLite gives its -wal and -shm files the
    // same mode as the database).
    Fd created(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!created) {
      throw_errno(path + ": cannot create the checkpoint", errno);
    }
  } else if (::access(path.c_str(), R_OK | W_OK) != 0) {
    throw_errno(path + ": cannot open the checkpoint for writing", errno);
  }
  // One run at a time per checkpoint.
  m_impl->lock.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!m_impl->lock || ::flock(m_impl->lock.get(), LOCK_EX | LOCK_NB) != 0) {
    throw Error(path + ": in use by another parmap run");
  }
  try {
    open_and_check(run);
  } catch (...) {
    m_impl.reset();
    if (!existed) {
      ::unlink(path.c_str()); // refusing must not leave a new empty file behind
    }
    throw;
  }
}

Checkpoint::~Checkpoint()
{
  try {
    commit();
  } catch (...) {
    // Best effort; commit() is called explicitly on every orderly path.
  }
}

void Checkpoint::open_and_check(const RunRecord& run)
{
  auto& db = m_impl->db;
  db = sql::open(m_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  sqlite3_busy_timeout(db.get(), 5000);
  std::int64_t app_id = 0;
  std::int64_t version = 0;
  std::int64_t tables = 0;
  try {
    sql::Statement q(db.get(), "SELECT (SELECT application_id FROM pragma_application_id), "
                               "(SELECT user_version FROM pragma_user_version), "
                               "(SELECT count(*) FROM sqlite_master)");
    q.step();
    app_id = q.column_int(0);
    version = q.column_int(1);
    tables = q.column_int(2);
  } catch (const Error&) {
    throw Error(m_path + ": not a parmap checkpoint (not an SQLite database)");
  }
  bool empty = app_id == 0 && version == 0 && tables == 0;
  if (!empty && app_id != k_checkpoint_application_id) {
    throw Error(m_path + ": not a parmap checkpoint");
  }
  if (version > k_schema_version) {
    throw Error(fmt::format("{}: written by a newer parmap (checkpoint schema {}; this parmap "
                            "reads schema {} and older)",
                            m_path, version, k_schema_version));
  }
  std::int64_t done = 0;
  if (empty) {
    sql::exec(db.get(), "PRAGMA journal_mode=WAL", m_path);
    sql::exec(db.get(), "BEGIN IMMEDIATE", m_path);
    sql::exec(db.get(), k_schema, m_path);
    add_schema_2(db.get(), m_path);
    sql::exec(db.get(), fmt::format("PRAGMA application_id={}; PRAGMA user_version={}",
                                    k_checkpoint_application_id, k_schema_version)
                            .c_str(),
              m_path);
    write_run(run);
    sql::exec(db.get(), "COMMIT", m_path);
  } else {
    done = check_run(run);
    sql::exec(db.get(), "PRAGMA journal_mode=WAL", m_path);
    if (version < k_schema_version) {
      // A checkpoint of an older parmap: it gains the new columns and goes on.
      sql::exec(db.get(), "BEGIN IMMEDIATE", m_path);
      add_schema_2(db.get(), m_path);
      sql::exec(db.get(), fmt::format("PRAGMA user_version={}", k_schema_version).c_str(), m_path);
      sql::exec(db.get(), "COMMIT", m_path);
    }
  }
  sql::exec(db.get(), "PRAGMA synchronous=NORMAL", m_path);
  sql::exec(db.get(), "PRAGMA journal_size_limit=67108864", m_path);
  m_impl->insert = sql::Statement(
      db.get(), "INSERT OR REPLACE INTO results (item, occurrence, seq, status, exit, signal, "
                "started, duration, attempts, stdout, stderr, host) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  m_impl->lookup = sql::Statement(
      db.get(), "SELECT status, exit, signal, started, duration, attempts, rowid, "
                "length(stdout), length(stderr), host FROM results WHERE item = ? AND occurrence = ?");
  if (done > 0 && m_impl->mode.retry_failed) {
    // Failures run again, so only the successes will be replayed.
    sql::Statement ok(db.get(), "SELECT count(*) FROM results WHERE status = 'ok'");
    ok.step();
    done = ok.column_int(0);
  }
  m_replayable = static_cast<std::uint64_t>(done);
}

void Checkpoint::write_run(const RunRecord& run)
{
  sql::Statement q(m_impl->db.get(), "INSERT OR REPLACE INTO run (id, command, options, version, "
                                     "created) VALUES (1, ?, ?, ?, ?)");
  q.bind_text(1, run.command);
  q.bind_text(2, run.options);
  q.bind_text(3, run.version);
  q.bind(4, unix_seconds(std::chrono::system_clock::now()));
  q.step();
}

std::int64_t Checkpoint::check_run(const RunRecord& run)
{
  auto* db = m_impl->db.get();
  sql::Statement finished(db, "SELECT count(*) FROM results");
  finished.step();
  std::int64_t done = finished.column_int(0);
  sql::Statement stored(db, "SELECT command FROM run WHERE id = 1");
  std::string command = stored.step() ? stored.column_text(0) : std::string();
  if (done > 0 && !m_impl->mode.resume) {
    throw Error(fmt::format("{}: holds {} finished item{} of an earlier run; add --resume to "
                            "continue it, or remove the file to start over",
                            m_path, done, done == 1 ? "" : "s"));
  }
  if (done > 0 && command != run.command && !m_impl->mode.force) {
    throw Error(fmt::format("{}: recorded for the command {}, not {} (add --force to resume "
                            "with the new command)",
                            m_path, command, run.command));
  }
  if (done == 0 || command != run.command) {
    // A fresh start, or --force: this run's command is the one the results now stand for.
    sql::exec(db, "BEGIN IMMEDIATE", m_path);
    write_run(run);
    sql::exec(db, "COMMIT", m_path);
  }
  return done;
}

std::optional<Result> Checkpoint::lookup(std::string_view key,
                                         std::uint64_t occurrence,
                                         SpillFactory& spill)
{
  auto& q = m_impl->lookup;
  q.bind_blob(1, key);
  q.bind(2, static_cast<std::int64_t>(occurrence));
  if (!q.step()) {
    q.reset();
    return std::nullopt;
  }
  Result r;
  r.status = status_from(q.column_text(0));
  if (r.status != Status::ok && m_impl->mode.retry_failed) {
    q.reset();
    return std::nullopt;
  }
  r.exit_code = static_cast<int>(q.column_int(1));
  r.signal = static_cast<int>(q.column_int(2));
  // A damaged file can hold any number here; a time outside what system_clock holds (about
  // +-292 years around 1970) would make the conversion undefined, so it reads as 0.
  double started = q.column_double(3);
  if (!(std::abs(started) < 9e9)) {
    started = 0;
  }
  r.started = std::chrono::system_clock::time_point(std::chrono::duration_cast<
      std::chrono::system_clock::duration>(std::chrono::duration<double>(started)));
  r.duration = q.column_double(4);
  if (!std::isfinite(r.duration)) {
    r.duration = 0; // an infinity would make invalid --json
  }
  r.attempts = static_cast<unsigned>(q.column_int(5));
  std::int64_t rowid = q.column_int(6);
  auto out_size = static_cast<std::uint64_t>(q.column_int(7));
  auto err_size = static_cast<std::uint64_t>(q.column_int(8));
  r.host = q.column_text(9);
  q.reset();
  r.out = m_impl->read_blob(rowid, "stdout", out_size, spill);
  r.err = m_impl->read_blob(rowid, "stderr", err_size, spill);
  r.replayed = true;
  return r;
}

Output Checkpoint::Impl::read_blob(std::int64_t rowid,
                                   const char* column,
                                   std::uint64_t size,
                                   SpillFactory& spill)
{
  if (size == 0) {
    return Output{};
  }
  sqlite3_blob* blob = nullptr;
  sql::check(sqlite3_blob_open(db.get(), "main", "results", column, rowid, 0, &blob), db.get(),
             "checkpoint");
  std::unique_ptr<sqlite3_blob, int (*)(sqlite3_blob*)> guard(blob, sqlite3_blob_close);
  Capture capture;
  std::string buf;
  for (std::uint64_t done = 0; done < size;) {
    auto n = static_cast<int>(std::min<std::uint64_t>(size - done, 1 << 20));
    buf.resize(static_cast<std::size_t>(n));
    sql::check(sqlite3_blob_read(blob, buf.data(), n, static_cast<int>(done)), db.get(),
               "checkpoint");
    capture.append(buf, spill, 64 * 1024);
    done += static_cast<std::uint64_t>(n);
  }
  return capture.finish();
}

void Checkpoint::Impl::write_blob(std::int64_t rowid, const char* column, const Output& out)
{
  sqlite3_blob* blob = nullptr;
  sql::check(sqlite3_blob_open(db.get(), "main", "results", column, rowid, 1, &blob), db.get(),
             "checkpoint");
  std::unique_ptr<sqlite3_blob, int (*)(sqlite3_blob*)> guard(blob, sqlite3_blob_close);
  int offset = 0;
  out.for_each_chunk([&](std::string_view piece) {
    sql::check(sqlite3_blob_write(blob, piece.data(), static_cast<int>(piece.size()), offset),
               db.get(), "checkpoint");
    offset += static_cast<int>(piece.size());
  });
}

bool Checkpoint::record(const Result& r, std::uint64_t occurrence)
{
  // SQLite cannot hold a value over its length limit (1 GB by default): such a result is not
  // recorded, and the item runs again on resume.
  auto limit = static_cast<std::uint64_t>(sqlite3_limit(m_impl->db.get(), SQLITE_LIMIT_LENGTH, -1));
  std::string buffer;
  std::string_view key = item_key(r.args, buffer);
  if (r.out.size() >= limit || r.err.size() >= limit || key.size() >= limit) {
    return false;
  }
  if (!m_impl->in_transaction) {
    m_impl->begin();
  }
  auto& q = m_impl->insert;
  q.bind_blob(1, key);
  q.bind(2, static_cast<std::int64_t>(occurrence));
  q.bind(3, static_cast<std::int64_t>(r.seq));
  q.bind_text(4, to_string(r.status));
  q.bind(5, static_cast<std::int64_t>(r.exit_code));
  q.bind(6, static_cast<std::int64_t>(r.signal));
  q.bind(7, unix_seconds(r.started));
  q.bind(8, r.duration);
  q.bind(9, static_cast<std::int64_t>(r.attempts));
  if (r.host.empty()) {
    q.bind_null(12);
  } else {
    q.bind_text(12, r.host);
  }
  // Outputs held in memory are bound where they are; spilled ones are written in pieces after
  // the insert. Either way a large output is never in memory whole, nor twice.
  const Output* outs[2] = {&r.out, &r.err};
  bool pieces[2] = {false, false};
  for (int i = 0; i < 2; ++i) {
    const auto& stored = detail::OutputAccess::handle(*outs[i]);
    if (!stored || outs[i]->size() == 0) {
      q.bind_blob(10 + i, std::string_view());
    } else if (stored->extents.empty()) {
      q.bind_blob(10 + i, stored->memory);
    } else {
      q.bind_zeroblob(10 + i, outs[i]->size());
      pieces[i] = true;
    }
  }
  q.step();
  q.reset();
  if (pieces[0] || pieces[1]) {
    std::int64_t rowid = sqlite3_last_insert_rowid(m_impl->db.get());
    if (pieces[0]) {
      m_impl->write_blob(rowid, "stdout", r.out);
    }
    if (pieces[1]) {
      m_impl->write_blob(rowid, "stderr", r.err);
    }
  }
  if (++m_impl->rows >= m_impl->mode.commit_every) {
    commit();
  }
  return true;
}

std::optional<Clock::time_point> Checkpoint::deadline() const
{
  if (!m_impl || !m_impl->in_transaction) {
    return std::nullopt;
  }
  return m_impl->opened + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(m_impl->mode.commit_interval));
}

void Checkpoint::tick(Clock::time_point now)
{
  auto due = deadline();
  if (due && now >= *due) {
    commit();
  }
}

void Checkpoint::commit()
{
  if (!m_impl || !m_impl->in_transaction) {
    return;
  }
  m_impl->in_transaction = false;
  sql::exec(m_impl->db.get(), "COMMIT", m_path);
}

std::uint64_t OccurrenceCounter::next(std::string_view item)
{
  std::uint64_t h = std::hash<std::string_view>{}(item);
  h = h == 0 ? 1 : h;
  if (insert(h)) {
    return 1;
  }
  auto [it, fresh] = m_repeats.try_emplace(h, 1);
  return ++it->second;
}

bool OccurrenceCounter::insert(std::uint64_t h)
{
  if (4 * (m_used + 1) > 3 * m_slots.size()) {
    grow();
  }
  std::size_t mask = m_slots.size() - 1;
  // The hash's high bits pick the slot: std::hash of short strings varies most there.
  for (std::size_t i = (h ^ (h >> 29)) & mask;; i = (i + 1) & mask) {
    if (m_slots[i] == h) {
      return false;
    }
    if (m_slots[i] == 0) {
      m_slots[i] = h;
      ++m_used;
      return true;
    }
  }
}

void OccurrenceCounter::grow()
{
  std::vector<std::uint64_t> old = std::move(m_slots);
  m_slots.assign(old.empty() ? 1024 : old.size() * 2, 0);
  m_used = 0;
  for (std::uint64_t h : old) {
    if (h != 0) {
      insert(h);
    }
  }
}

} // namespace parmap
