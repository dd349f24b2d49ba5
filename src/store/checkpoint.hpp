// Checkpoint: the SQLite record of a run's finished items, for --resume and --report.
#pragma once

#include "parmap/result.hpp"
#include "base/reactor.hpp"
#include "output/spill.hpp"
#include "store/running_items.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace parmap {

/// A status as stored in the checkpoint's text column; anything unknown reads as failed.
Status status_from(const std::string& text);

/// The key a command's arguments are stored under (the `item` column). One argument is its
/// bytes, as parmap 0.1.0 stored items, so old checkpoints resume; several (or one starting
/// with a NUL byte) are a NUL byte and then each argument as its decimal length, ':' and its
/// bytes, which no single argument can be. Returns a view of args[0] or of `buffer`.
std::string_view item_key(std::span<const std::string> args, std::string& buffer);
/// The arguments stored under a key (for --report); a damaged key reads as one argument.
std::vector<std::string> args_of_key(std::string_view key);

/// What a run stores about itself; a resume checks the command against it.
struct RunRecord {
  std::string command; ///< The command template as written.
  std::string options; ///< Options that change results, for --report.
  std::string version; ///< parmap's version.
  // Run history (schema v2, --report --html): kept per start or resume in the sessions table.
  bool shell = false;         ///< The command runs through /bin/sh -c.
  unsigned slots = 0;         ///< Slots the run uses (-j); 0 when not known.
  double timeout = 0;         ///< --timeout in seconds; 0 for none (or a percentage).
  double timeout_percent = 0; ///< --timeout N%: N; 0 for none.
};

/// An attempt at an item that is not its result (run history, schema v2): a failure that was
/// retried, or an attempt parmap stopped (an interrupt, a halt). Results are recorded by
/// Checkpoint::record(), which adds their attempt row itself.
struct AttemptRecord {
  std::string_view item;
  std::uint64_t occurrence = 0;
  std::uint64_t seq = 0;
  unsigned attempt = 1; ///< 1 for the first try.
  unsigned slot = 0;
  std::string_view host; ///< Empty: this machine.
  std::string_view step; ///< The Slurm job step, "JOBID.STEPID"; empty: none.
  Status status = Status::failed;
  bool interrupted = false; ///< parmap stopped it: stored as status "interrupted".
  int exit_code = 0;
  int signal = 0;
  std::chrono::system_clock::time_point started;
  double duration = 0;
  std::uint64_t stdout_bytes = 0; ///< What it wrote to stdout (then dropped).
};

/// How to open a checkpoint.
struct CheckpointMode {
  bool resume = false;       ///< Continue a recorded run.
  bool force = false;        ///< Accept a different command on resume.
  bool retry_failed = false; ///< Stored failures are not replayed (they run again).
  std::size_t commit_every = 100;
  double commit_interval = 1.0; ///< Seconds between commits, at most.
  /// An output larger than this is stored in chunks of this size (SQLite holds at most 1 GB in
  /// one value).
  std::uint64_t chunk_bytes = 256 << 20;
};

/// One SQLite file in WAL mode. Results are added in transactions of at most `commit_every`
/// rows; while results come, commits are `commit_interval` apart, so none waits longer than
/// that; every exit path calls commit(). A process killed with SIGKILL loses only the open
/// transaction, and the file stays readable.
class Checkpoint {
public:
  /// Opens (or creates) the file, upgrading a schema 1 file (parmap 0.1.0) to the current one.
  /// Throws, creating nothing and leaving an existing file untouched: parmap::Error for a path
  /// that cannot hold a checkpoint (see check_writable_path()), a file that is not a parmap
  /// checkpoint, a newer schema or a damaged file; CheckpointConflict for finished items
  /// without `resume`, or another command on resume without `force`.
  Checkpoint(const std::string& path, const RunRecord& run, const CheckpointMode& mode);
  ~Checkpoint();
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  /// The stored result of the `occurrence`-th (1-based) item with this key (item_key()), if it
  /// is to be replayed. Its outputs are read into memory or the spill file.
  std::optional<Result> lookup(std::string_view key, std::uint64_t occurrence, SpillFactory& spill);
  /// Adds a result to the open transaction (commits when the batch is full), keyed by its
  /// arguments (item_key()). Outputs of any size are stored, streamed from where they are,
  /// never held in memory whole. Throws parmap::Error when the database fails (a full disk, a
  /// damaged page).
  void record(const Result& result, std::uint64_t occurrence);
  /// Adds an attempt that is not a result to the open transaction. Throws parmap::Error when
  /// the database fails.
  void record_attempt(const AttemptRecord& attempt);
  /// Commits if the open transaction is due (see deadline()).
  void tick(Clock::time_point now);
  /// When the open transaction is due (or running items are to be recorded), if at all:
  /// commit_interval after the last commit, or at once when a transaction opens after a longer
  /// pause.
  std::optional<Clock::time_point> deadline() const;
  /// Commits the open transaction, if any.
  void commit();
  /// Results stored before this run that will be replayed when their items come.
  std::uint64_t replayable() const { return m_replayable; }

  /// Items an earlier run recorded as running and did not see end: it died (the lock held by
  /// this run proves it is gone), and their process groups may live on.
  const std::vector<RunningItem>& left_running() const;
  /// Forgets left_running() (committed at once), once their groups are gone.
  void forget_left_running();
  /// An item of this run started: recorded if it is still running at a commit after
  /// RunningItems::k_record_after, so that a run after a crash can find its process group.
  void item_running(RunningItem item);
  /// The item started last under `seq` ended (or never started a process).
  void item_ended(std::uint64_t seq);

private:
  struct Impl;
  /// What the file holds of an earlier run.
  struct Stored {
    std::int64_t finished = 0;
    std::string command;
  };
  void open_and_check(const RunRecord& run);
  /// Throws CheckpointConflict for a run this checkpoint cannot serve. Writes nothing.
  Stored check_run(const RunRecord& run);
  void write_run(const RunRecord& run);
  /// Adds this run's row to sessions (run history), in open_and_check()'s transaction.
  void start_session(const RunRecord& run);

  std::unique_ptr<Impl> m_impl;
  std::string m_path;
  std::uint64_t m_replayable = 0;
};

/// Counts equal items: the n-th time a text is seen it gets occurrence n. Texts are kept as
/// 64-bit hashes (two texts colliding would share one count; at 2^-64 per pair this is not a
/// practical risk) in an open-addressing table of 8-byte slots, at most 3/4 full, so a run
/// of distinct items costs 11-21 bytes per item; repeated texts also get a map entry.
class OccurrenceCounter {
public:
  std::uint64_t next(std::string_view item);
  /// Bytes held (for tests of the memory bound).
  std::size_t memory() const { return m_slots.size() * sizeof(std::uint64_t); }

private:
  /// Inserts h; false when it was there already.
  bool insert(std::uint64_t h);
  void grow();

  std::vector<std::uint64_t> m_slots; ///< 0 is an empty slot; hashes are never 0.
  std::size_t m_used = 0;
  std::unordered_map<std::uint64_t, std::uint64_t> m_repeats; ///< Counts from 2 up.
};

} // namespace parmap
