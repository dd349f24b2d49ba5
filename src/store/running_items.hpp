// RunningItems: the checkpoint's table of items running now and their process groups (schema
// version 2), so that a run started after this one died can find what it left running.
#pragma once

#include "base/process_groups.hpp"
#include "base/reactor.hpp"
#include "store/sqlite.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace parmap {

/// True when a parmap run holds the checkpoint at `path` (its flock), read from /proc/locks:
/// trying the lock would take it, for a moment, from a run starting at the same time.
bool checkpoint_in_use(const std::string& path);

/// An item running now, as the checkpoint records it.
struct RunningItem {
  std::uint64_t seq = 0;
  std::string item;
  std::uint64_t occurrence = 0;
  double started = 0; ///< Unix time; set by RunningItems::started().
  RecordedGroup group;
};

/// The `running_items` table of one checkpoint. A row is written at the first commit after its
/// item has run `k_record_after` (0.1 s; most short items never get one) and deleted with the
/// item's end, so the table is empty after any run that ended in an orderly way; what a killed
/// run leaves there is what may still be running. It writes only inside the transactions the
/// Checkpoint opens.
class RunningItems {
public:
  static constexpr double k_record_after = 0.1;

  /// Creates the table (new files, and version 1 files when they are upgraded).
  static void create_table(sqlite3* db);
  /// Rows in the table; empty when there is none (or no table: a version 1 file).
  static std::vector<RunningItem> read(sqlite3* db);

  RunningItems() = default;
  explicit RunningItems(sqlite3* db);

  /// Rows from an earlier run, read before this run wrote any.
  const std::vector<RunningItem>& left() const { return m_left; }
  /// Deletes the earlier run's rows (their groups are gone or were terminated).
  void forget_left();

  /// An item started; `item.group.leader_start` may be 0 (read from /proc when written), and
  /// the group's boot id is this boot's.
  void started(RunningItem item);
  /// An item ended: its row goes, or is never written.
  void ended(std::uint64_t seq);
  /// True when ended(seq) will delete a row (the caller opens a transaction for it).
  bool written(std::uint64_t seq) const { return m_written.contains(seq); }
  /// When rows are due to be written; nullopt when none is waiting.
  std::optional<Clock::time_point> due() const;
  bool has_unwritten() const { return !m_unwritten.empty(); }
  /// Writes the rows of every item still running that has none yet.
  void write_unwritten();

private:
  struct Waiting {
    RunningItem item;
    Clock::time_point since;
  };
  sqlite3* m_db = nullptr;
  sql::Statement m_insert;
  sql::Statement m_delete;
  std::vector<RunningItem> m_left;
  std::map<std::uint64_t, Waiting> m_unwritten; ///< By seq.
  std::unordered_set<std::uint64_t> m_written;
};

} // namespace parmap
