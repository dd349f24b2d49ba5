// Checkpoint: the SQLite record of a run's finished items, for --resume and --report.
#pragma once

#include "parmap/result.hpp"
#include "base/reactor.hpp"
#include "output/spill.hpp"

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

/// "PMAP": marks a SQLite file as a parmap checkpoint (PRAGMA application_id).
inline constexpr std::int64_t k_checkpoint_application_id = 0x504D4150;

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
};

/// How to open a checkpoint.
struct CheckpointMode {
  bool resume = false;       ///< Continue a recorded run.
  bool force = false;        ///< Accept a different command on resume.
  bool retry_failed = false; ///< Stored failures are not replayed (they run again).
  std::size_t commit_every = 100;
  double commit_interval = 1.0; ///< Seconds between commits, at most.
};

/// One SQLite file in WAL mode. Results are added in transactions of at most `commit_every`
/// rows and at most `commit_interval` apart; every exit path calls commit(). A process killed
/// with SIGKILL loses only the open transaction, and the file stays readable.
class Checkpoint {
public:
  /// Opens (or creates) the file. Throws parmap::Error, leaving an existing file untouched, for
  /// a file that is not a parmap checkpoint, a newer schema, finished items without `resume`,
  /// or another command on resume without `force`.
  Checkpoint(const std::string& path, const RunRecord& run, const CheckpointMode& mode);
  ~Checkpoint();
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  /// The stored result of the `occurrence`-th (1-based) item with this key (item_key()), if it
  /// is to be replayed. Its outputs are read into memory or the spill file.
  std::optional<Result> lookup(std::string_view key, std::uint64_t occurrence, SpillFactory& spill);
  /// Adds a result to the open transaction (commits when the batch is full). Returns false,
  /// recording nothing, for an output too large for SQLite (1 GB): that item runs again on
  /// resume. Throws parmap::Error when the database fails (a full disk).
  bool record(const Result& result, std::uint64_t occurrence);
  /// Commits if the open transaction has waited commit_interval.
  void tick(Clock::time_point now);
  /// When the open transaction is due, if one is open.
  std::optional<Clock::time_point> deadline() const;
  /// Commits the open transaction, if any.
  void commit();
  /// Results stored before this run that will be replayed when their items come.
  std::uint64_t replayable() const { return m_replayable; }

private:
  struct Impl;
  void open_and_check(const RunRecord& run);
  /// Refuses a run this checkpoint cannot serve; returns the number of stored results.
  std::int64_t check_run(const RunRecord& run);
  void write_run(const RunRecord& run);

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
