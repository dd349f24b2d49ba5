#include "store/checkpoint.hpp"

#include "base/error.hpp"
#include "store/checkpoint_file.hpp"
#include "store/history.hpp"
#include "store/sqlite.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace parmap {
namespace {

// Schema 1: what parmap 0.1.0 wrote.
constexpr const char* k_schema_v1 = R"sql(
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

// Schema 2 = schema 1 plus these additions only (new tables, nullable columns, columns with
// defaults), one block per feature. A new file gets schema 1 then these; a schema 1 file gets
// these in one transaction, so that 0.1.0 checkpoints still resume.
constexpr const char* k_schema_v2_additions = R"sql(
  -- Output chunks: an output larger than CheckpointMode::chunk_bytes (SQLite holds at most
  -- 1 GB in one value) is stored here in pieces, in rowid order; its column in results is then
  -- NULL. The trigger drops the chunks with their result (also when INSERT OR REPLACE replaces
  -- it, which needs recursive_triggers).
  CREATE TABLE output_chunks (
    result INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    bytes BLOB NOT NULL
  );
  CREATE INDEX output_chunks_of_result ON output_chunks (result, stream);
  CREATE TRIGGER output_chunks_go_with_their_result AFTER DELETE ON results
  BEGIN
    DELETE FROM output_chunks WHERE result = old.rowid;
  END;
  -- --sshlogin: the host that ran the item (NULL: this machine).
  ALTER TABLE results ADD COLUMN host TEXT;
  -- --slurm: the job step that ran the item, "JOBID.STEPID" (NULL: none).
  ALTER TABLE results ADD COLUMN step TEXT;
)sql";

/// Schema 2's additions, inside the caller's transaction (a new file, or a schema 1 file).
void add_schema_2(sqlite3* db)
{
  sql::exec(db, k_schema_v2_additions);
  RunningItems::create_table(db); // issue 12, no orphans: running process groups
  add_history_tables(db);         // issue 16, --report --html: sessions and attempts
}

/// output_chunks.stream: which output of a result a chunk belongs to.
constexpr std::int64_t k_stdout_stream = 1;
constexpr std::int64_t k_stderr_stream = 2;

/// The results column of a stream.
const char* column_of(std::int64_t stream)
{
  return stream == k_stdout_stream ? "stdout" : "stderr";
}

/// Binds `text`, or NULL when it is empty (a column that only some runs fill).
void bind_text_or_null(sql::Statement& q, int index, std::string_view text)
{
  if (text.empty()) {
    q.bind_null(index);
  } else {
    q.bind_text(index, text);
  }
}

double unix_seconds(std::chrono::system_clock::time_point t)
{
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

Clock::duration seconds(double s)
{
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

using Blob = std::unique_ptr<sqlite3_blob, int (*)(sqlite3_blob*)>;

Blob open_blob(sqlite3* db, const char* table, const char* column, std::int64_t rowid, bool write)
{
  sqlite3_blob* blob = nullptr;
  int rc = sqlite3_blob_open(db, "main", table, column, rowid, write ? 1 : 0, &blob);
  Blob guard(blob, sqlite3_blob_close);
  sql::check(rc, db);
  return guard;
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

CheckpointConflict::CheckpointConflict(Kind kind, std::string path, std::uint64_t finished,
                                       std::string recorded_command, std::string command)
    : Error(kind == Kind::not_resumed
                ? fmt::format("{}: holds {} finished item{} of an earlier run; set "
                              "Options::resume to continue it, or remove the file to start over",
                              path, finished, finished == 1 ? "" : "s")
                : fmt::format("{}: recorded for the command {}, not {} (set Options::force to "
                              "resume with the new command)",
                              path, recorded_command, command)),
      m_kind(kind), m_path(std::move(path)), m_finished(finished),
      m_recorded(std::move(recorded_command)), m_command(std::move(command))
{
}

struct Checkpoint::Impl {
  sql::Db db;
  Fd lock;
  sql::Statement insert;
  sql::Statement lookup;
  sql::Statement chunks;
  sql::Statement add_chunk;
  RunningItems running;
  CheckpointMode mode;
  bool in_transaction = false;
  std::size_t rows = 0;
  Clock::time_point opened{};
  Clock::time_point last_commit = Clock::now();
  // Run history.
  std::int64_t session = 0;   ///< This run's row in sessions.
  std::uint64_t replayed = 0; ///< Results lookup() gave back in this session.
  sql::Statement insert_attempt;
  sql::Statement update_session;

  void begin()
  {
    sql::exec(db.get(), "BEGIN IMMEDIATE");
    in_transaction = true;
    rows = 0;
    opened = Clock::now();
  }
  void prepare();
  void add_attempt(const AttemptRecord& a, bool is_result);

  /// Where an output goes: bound to the insert as it is (in memory, or empty), written into
  /// its results column after the insert (spilled), or into output_chunks (too large).
  enum class Placement { bound, column, chunks };
  /// The largest output stored in its results column.
  std::uint64_t max_inline() const;
  Placement bind_output(int index, const Output& out);
  void write_output(std::int64_t rowid, std::int64_t stream, const Output& out, Placement where);
  /// Writes `out` piece by piece into blobs of at most `limit` bytes, each opened by
  /// `next_blob(size)`: never in memory whole.
  void write_pieces(const Output& out, std::uint64_t limit,
                    const std::function<Blob(std::uint64_t)>& next_blob);
  /// A new output_chunks row of `size` zero bytes, open for writing.
  Blob add_chunk_row(std::int64_t result, std::int64_t stream, std::uint64_t size);
  Output read_output(std::int64_t rowid, std::int64_t stream, std::uint64_t inline_size,
                     SpillFactory& spill);
  /// Appends the `size` bytes of a blob to `capture`, a megabyte at a time.
  void read_blob(Capture& capture, const char* table, const char* column, std::int64_t rowid,
                 std::uint64_t size, SpillFactory& spill);
};

Checkpoint::Checkpoint(const std::string& path, const RunRecord& run, const CheckpointMode& mode)
    : m_impl(std::make_unique<Impl>()), m_path(path)
{
  m_impl->mode = mode;
  bool existed = check_writable_path(path);
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
  // Everything that refuses the file comes before the first write.
  std::int64_t schema = check_checkpoint(db.get(), m_path);
  Stored stored = schema > 0 ? check_run(run) : Stored{};
  sql::exec(db.get(), "PRAGMA journal_mode=WAL");
  sql::exec(db.get(), "BEGIN IMMEDIATE");
  if (schema == 0) {
    sql::exec(db.get(), k_schema_v1);
  }
  if (schema < 2) {
    add_schema_2(db.get());
  }
  if (schema < k_checkpoint_schema) {
    sql::exec(db.get(), fmt::format("PRAGMA application_id={}; PRAGMA user_version={}",
                                    k_checkpoint_application_id, k_checkpoint_schema)
                            .c_str());
  }
  if (stored.finished == 0 || stored.command != run.command) {
    // A fresh start, or --force: this run's command is the one the results now stand for.
    write_run(run);
  }
  start_session(run);
  sql::exec(db.get(), "COMMIT");
  sql::exec(db.get(), "PRAGMA synchronous=NORMAL");
  sql::exec(db.get(), "PRAGMA journal_size_limit=67108864");
  sql::exec(db.get(), "PRAGMA recursive_triggers=ON"); // see output_chunks
  m_impl->prepare();
  std::int64_t done = stored.finished;
  if (done > 0 && m_impl->mode.retry_failed) {
    // Failures run again, so only the successes will be replayed.
    sql::Statement ok(db.get(), "SELECT count(*) FROM results WHERE status = 'ok'");
    ok.step();
    done = ok.column_int(0);
  }
  m_replayable = static_cast<std::uint64_t>(done);
}

void Checkpoint::start_session(const RunRecord& run)
{
  auto* db = m_impl->db.get();
  sql::Statement q(db, "INSERT INTO sessions (started, pid, command, shell, options, version, "
                       "slots, timeout, timeout_percent) VALUES (?,?,?,?,?,?,?,?,?)");
  q.bind(1, unix_seconds(std::chrono::system_clock::now()));
  q.bind(2, static_cast<std::int64_t>(::getpid()));
  q.bind_text(3, run.command);
  q.bind(4, static_cast<std::int64_t>(run.shell));
  q.bind_text(5, run.options);
  q.bind_text(6, run.version);
  q.bind(7, static_cast<std::int64_t>(run.slots));
  q.bind(8, run.timeout);
  q.bind(9, run.timeout_percent);
  q.step();
  m_impl->session = sqlite3_last_insert_rowid(db);
}

void Checkpoint::Impl::prepare()
{
  insert = sql::Statement(
      db.get(), "INSERT OR REPLACE INTO results (item, occurrence, seq, status, exit, signal, "
                "started, duration, attempts, stdout, stderr, host, step) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
  lookup = sql::Statement(
      db.get(), "SELECT status, exit, signal, started, duration, attempts, rowid, "
                "length(stdout), length(stderr), host, step FROM results "
                "WHERE item = ? AND occurrence = ?");
  running = RunningItems(db.get());
  chunks = sql::Statement(db.get(), "SELECT rowid, length(bytes) FROM output_chunks "
                                    "WHERE result = ? AND stream = ? ORDER BY rowid");
  add_chunk = sql::Statement(
      db.get(), "INSERT INTO output_chunks (result, stream, bytes) VALUES (?, ?, zeroblob(?))");
  insert_attempt = sql::Statement(
      db.get(), "INSERT INTO attempts (session, seq, item, occurrence, attempt, is_result, host, "
                "step, slot, status, exit, signal, started, duration, stdout_bytes) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  update_session =
      sql::Statement(db.get(), "UPDATE sessions SET last_commit = ?, replayed = ? WHERE id = ?");
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

Checkpoint::Stored Checkpoint::check_run(const RunRecord& run)
{
  auto* db = m_impl->db.get();
  sql::Statement finished(db, "SELECT count(*) FROM results");
  finished.step();
  Stored stored;
  stored.finished = finished.column_int(0);
  sql::Statement command(db, "SELECT command FROM run WHERE id = 1");
  stored.command = command.step() ? command.column_text(0) : std::string();
  auto done = static_cast<std::uint64_t>(stored.finished);
  if (done > 0 && !m_impl->mode.resume) {
    throw CheckpointConflict(CheckpointConflict::Kind::not_resumed, m_path, done, stored.command,
                             run.command);
  }
  if (done > 0 && stored.command != run.command && !m_impl->mode.force) {
    throw CheckpointConflict(CheckpointConflict::Kind::other_command, m_path, done,
                             stored.command, run.command);
  }
  return stored;
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
  r.step = q.column_text(10);
  q.reset();
  r.out = m_impl->read_output(rowid, k_stdout_stream, out_size, spill);
  r.err = m_impl->read_output(rowid, k_stderr_stream, err_size, spill);
  r.replayed = true;
  // Counted in the session's row at the next commit; a resume that only replays commits too.
  ++m_impl->replayed;
  if (!m_impl->in_transaction) {
    m_impl->begin();
  }
  return r;
}

Output Checkpoint::Impl::read_output(std::int64_t rowid,
                                     std::int64_t stream,
                                     std::uint64_t inline_size,
                                     SpillFactory& spill)
{
  Capture capture;
  if (inline_size > 0) {
    read_blob(capture, "results", column_of(stream), rowid, inline_size, spill);
    return capture.finish();
  }
  // Empty, or stored in chunks.
  chunks.bind(1, rowid);
  chunks.bind(2, stream);
  std::vector<std::pair<std::int64_t, std::uint64_t>> pieces;
  while (chunks.step()) {
    pieces.emplace_back(chunks.column_int(0), static_cast<std::uint64_t>(chunks.column_int(1)));
  }
  chunks.reset();
  for (auto [id, size] : pieces) {
    read_blob(capture, "output_chunks", "bytes", id, size, spill);
  }
  return capture.finish();
}

void Checkpoint::Impl::read_blob(Capture& capture, const char* table, const char* column,
                                 std::int64_t rowid, std::uint64_t size, SpillFactory& spill)
{
  Blob blob = open_blob(db.get(), table, column, rowid, false);
  std::string buf;
  for (std::uint64_t done = 0; done < size;) {
    auto n = static_cast<int>(std::min<std::uint64_t>(size - done, 1 << 20));
    buf.resize(static_cast<std::size_t>(n));
    sql::check(sqlite3_blob_read(blob.get(), buf.data(), n, static_cast<int>(done)), db.get());
    capture.append(buf, spill, 64 * 1024);
    done += static_cast<std::uint64_t>(n);
  }
}

std::uint64_t Checkpoint::Impl::max_inline() const
{
  auto limit = static_cast<std::uint64_t>(sqlite3_limit(db.get(), SQLITE_LIMIT_LENGTH, -1));
  return std::min(mode.chunk_bytes, limit);
}

Checkpoint::Impl::Placement Checkpoint::Impl::bind_output(int index, const Output& out)
{
  const auto& stored = detail::OutputAccess::handle(out);
  if (!stored || out.size() == 0) {
    insert.bind_blob(index, std::string_view()); // NULL
    return Placement::bound;
  }
  if (out.size() > max_inline()) {
    insert.bind_blob(index, std::string_view()); // NULL: the chunks hold it
    return Placement::chunks;
  }
  if (stored->extents.empty()) {
    insert.bind_blob(index, stored->memory);
    return Placement::bound;
  }
  insert.bind_zeroblob(index, out.size());
  return Placement::column;
}

void Checkpoint::Impl::write_output(std::int64_t rowid, std::int64_t stream, const Output& out,
                                    Placement where)
{
  if (where == Placement::column) {
    write_pieces(out, out.size(), [&](std::uint64_t) {
      return open_blob(db.get(), "results", column_of(stream), rowid, true);
    });
  } else if (where == Placement::chunks) {
    write_pieces(out, max_inline(),
                 [&](std::uint64_t size) { return add_chunk_row(rowid, stream, size); });
  }
}

void Checkpoint::Impl::write_pieces(const Output& out, std::uint64_t limit,
                                    const std::function<Blob(std::uint64_t)>& next_blob)
{
  std::uint64_t left = out.size();
  Blob blob(nullptr, sqlite3_blob_close);
  std::uint64_t size = 0; // of the open blob
  std::uint64_t room = 0; // what it still takes
  out.for_each_chunk([&](std::string_view piece) {
    while (!piece.empty()) {
      if (room == 0) {
        blob.reset();
        size = room = std::min(limit, left);
        blob = next_blob(size);
      }
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), room));
      sql::check(sqlite3_blob_write(blob.get(), piece.data(), static_cast<int>(n),
                                    static_cast<int>(size - room)),
                 db.get());
      piece.remove_prefix(n);
      room -= n;
      left -= n;
    }
  });
}

Blob Checkpoint::Impl::add_chunk_row(std::int64_t result, std::int64_t stream, std::uint64_t size)
{
  add_chunk.bind(1, result);
  add_chunk.bind(2, stream);
  add_chunk.bind(3, static_cast<std::int64_t>(size));
  add_chunk.step();
  add_chunk.reset();
  return open_blob(db.get(), "output_chunks", "bytes", sqlite3_last_insert_rowid(db.get()), true);
}

void Checkpoint::record(const Result& r, std::uint64_t occurrence)
{
  std::string buffer;
  std::string_view key = item_key(r.args, buffer);
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
  bind_text_or_null(q, 12, r.host);
  bind_text_or_null(q, 13, r.step);
  // Outputs held in memory are bound where they are; spilled ones are written in pieces after
  // the insert. Either way a large output is never in memory whole, nor twice.
  auto out = m_impl->bind_output(10, r.out);
  auto err = m_impl->bind_output(11, r.err);
  q.step();
  q.reset();
  std::int64_t rowid = sqlite3_last_insert_rowid(m_impl->db.get());
  m_impl->write_output(rowid, k_stdout_stream, r.out, out);
  m_impl->write_output(rowid, k_stderr_stream, r.err, err);
  m_impl->add_attempt(AttemptRecord{key, occurrence, r.seq, r.attempts, r.slot, r.host, r.step,
                                    r.status, false, r.exit_code, r.signal, r.started,
                                    r.duration, r.out.size()},
                      true);
  if (++m_impl->rows >= m_impl->mode.commit_every) {
    commit();
  }
}

void Checkpoint::record_attempt(const AttemptRecord& attempt)
{
  if (!m_impl->in_transaction) {
    m_impl->begin();
  }
  m_impl->add_attempt(attempt, false);
}

void Checkpoint::Impl::add_attempt(const AttemptRecord& a, bool is_result)
{
  auto& q = insert_attempt;
  q.bind(1, session);
  q.bind(2, static_cast<std::int64_t>(a.seq));
  q.bind_blob(3, a.item);
  q.bind(4, static_cast<std::int64_t>(a.occurrence));
  q.bind(5, static_cast<std::int64_t>(a.attempt));
  q.bind(6, static_cast<std::int64_t>(is_result));
  bind_text_or_null(q, 7, a.host);
  bind_text_or_null(q, 8, a.step);
  q.bind(9, static_cast<std::int64_t>(a.slot));
  q.bind_text(10, a.interrupted ? "interrupted" : to_string(a.status));
  q.bind(11, static_cast<std::int64_t>(a.exit_code));
  q.bind(12, static_cast<std::int64_t>(a.signal));
  q.bind(13, unix_seconds(a.started));
  q.bind(14, a.duration);
  q.bind(15, static_cast<std::int64_t>(a.stdout_bytes));
  q.step();
  q.reset();
}

std::optional<Clock::time_point> Checkpoint::deadline() const
{
  if (!m_impl) {
    return std::nullopt;
  }
  // On a grid from the last commit, so that while results keep coming commits are exactly
  // commit_interval apart; after a pause longer than that, at once. Running items are recorded
  // when they have run long enough to matter.
  std::optional<Clock::time_point> due = m_impl->running.due();
  if (m_impl->in_transaction) {
    auto commit_due =
        std::max(m_impl->opened, m_impl->last_commit + seconds(m_impl->mode.commit_interval));
    due = due ? std::min(*due, commit_due) : commit_due;
  }
  return due;
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
  if (!m_impl) {
    return;
  }
  if (m_impl->running.has_unwritten()) {
    if (!m_impl->in_transaction) {
      m_impl->begin();
    }
    m_impl->running.write_unwritten();
  }
  if (!m_impl->in_transaction) {
    return;
  }
  auto& q = m_impl->update_session;
  q.bind(1, unix_seconds(std::chrono::system_clock::now()));
  q.bind(2, static_cast<std::int64_t>(m_impl->replayed));
  q.bind(3, m_impl->session);
  q.step();
  q.reset();
  m_impl->in_transaction = false;
  m_impl->last_commit = Clock::now();
  sql::exec(m_impl->db.get(), "COMMIT");
}

const std::vector<RunningItem>& Checkpoint::left_running() const
{
  return m_impl->running.left();
}

void Checkpoint::forget_left_running()
{
  commit();
  m_impl->running.forget_left();
}

void Checkpoint::item_running(RunningItem item)
{
  m_impl->running.started(std::move(item));
}

void Checkpoint::item_ended(std::uint64_t seq)
{
  if (m_impl->running.written(seq) && !m_impl->in_transaction) {
    m_impl->begin();
  }
  m_impl->running.ended(seq);
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
