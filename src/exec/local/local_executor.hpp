// LocalExecutor: runs items as local processes, each in its own process group, with per-item
// deadlines (SIGTERM, then SIGKILL after a grace) and both output pipes read as they fill.
#pragma once

#include "exec/executor.hpp"
#include "exec/launch.hpp"
#include "base/fd.hpp"
#include "base/reactor.hpp"
#include "exec/local/block_files.hpp"
#include "exec/local/spawn.hpp"
#include "exec/local/work_dir.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace parmap {

struct LocalExecutorConfig {
  unsigned slots = 1;
  /// The number of the first slot; the others follow (slots of several executors in one run).
  unsigned first_slot = 1;
  double kill_grace = 1.0;
  /// Seconds between two starts (--delay).
  double delay = 0;
  bool null_stdin = false;
  /// NAME=VALUE set for every item, over the inherited environment.
  std::vector<std::string> env;
  bool reset_sigpipe = true;
  /// Print the commands instead of running them.
  bool dry_run = false;
  /// Each item's stdout starts with its command line (-v).
  bool verbose = false;
  /// When >= 0 (-u): items write straight to these descriptors; no pipes, nothing is read.
  int direct_out = -1;
  int direct_err = -1;
  /// Items run at parmap's niceness plus this.
  int nice = 0;
  /// Where items run: replacement strings filled in per item; "..." makes a fresh directory
  /// in `temp_dir` for each item, removed when it ends. Empty: parmap's own directory.
  std::string work_dir;
  /// How an item's block reaches its process: its stdin, or a file or FIFO named by {}.
  BlockInput block_input = BlockInput::pipe;
  /// Where --wd ... directories, --cat files and --fifo FIFOs go; empty: $TMPDIR or /tmp.
  std::string temp_dir;
  /// How long to wait for the pipes to close after the item's own process exited (a background
  /// grandchild may hold them) before the item is finished without the rest of its output.
  double linger = 0.5;
};

class LocalExecutor final : public Executor {
public:
  /// Throws parmap::Error if pidfds or spawning are unavailable.
  LocalExecutor(Reactor& reactor,
                const LaunchBuilder& launch,
                OutputListener& listener,
                LocalExecutorConfig config);
  /// Kills (SIGKILL) and reaps whatever still runs: no process group outlives the executor.
  ~LocalExecutor() override;
  LocalExecutor(const LocalExecutor&) = delete;
  LocalExecutor& operator=(const LocalExecutor&) = delete;

  void start(unsigned slot, Batch batch) override;
  void wait(std::optional<Clock::time_point> until, std::vector<ExecutorEvent>& events) override;
  void cancel(std::uint64_t from_seq, int signal) override;
  void kill_all() override;
  void stop_all() override;
  void continue_all() override;
  void resume_output(std::uint64_t seq) override;
  std::size_t running() const override;

  /// The number of slots the open-file limit allows (three descriptors per running item, four
  /// when items get blocks on stdin).
  static unsigned fd_limited_slots(unsigned wanted, bool feeds_stdin = false);

private:
  struct Running;
  struct Slot {
    unsigned number = 0;
    std::deque<Item> queue;
    std::unique_ptr<Running> running;
    bool busy = false;
    Reactor::TimerId delayed = 0; ///< Pending --delay start, 0 if none.
  };

  Slot& slot_at(unsigned number);
  struct BlockStdin;
  void start_next(Slot& slot);
  void drop(Slot& slot, Item item);
  void launch(Slot& slot, Item item);
  /// --dry-run: the item "runs" by printing its command.
  void pretend(Slot& slot, const Item& item);
  /// Watches a started item: its pipes (unless -u), its exit and its deadline.
  void watch(Slot& slot, Item item, pid_t pid, Pipe& out, Pipe& err, ItemDir dir);
  void fail_to_start(Slot& slot, Item item, int exit_code, const std::string& message);
  void read_pipe(Running& r, Stream stream);
  void on_exit(Running& r);
  void maybe_finish(Running& r);
  void finish(Running& r);
  void close_pipe(Running& r, Stream stream);
  void grow_pipe(Running& r, Stream stream);
  void signal_group(Running& r, int signal);
  /// `signal` to the group of every item running now, and of those in their kill grace.
  void signal_running(int signal);
  void arm_kill(Running& r);
  /// Writes -v's command line where the item's stdout goes, before it runs.
  void announce(const Item& item, unsigned slot);
  BlockStdin block_stdin(const Item& item, const std::string& path);
  int null_input();
  void schedule_exit_poll(Running& r);

  Reactor& m_reactor;
  const LaunchBuilder& m_launch_builder;
  OutputListener& m_listener;
  LocalExecutorConfig m_config;
  Spawner m_spawner;
  WorkDirs m_work_dirs;
  std::deque<Slot> m_slots; ///< A deque: slots are added during a run, and referred to.
  std::vector<ExecutorEvent> m_events;
  /// Finished items, destroyed after the reactor returns (their watchers may still be on the
  /// stack of the current dispatch).
  std::vector<std::unique_ptr<Running>> m_dead;
  /// Leaders of groups still in their kill grace after the item finished; reaped by a timer.
  std::unordered_map<pid_t, Reactor::TimerId> m_doomed;
  std::vector<std::string> m_env;
  Launch m_launch; ///< The item being started (kept to reuse its buffers).
  int m_nice = 0;  ///< The niceness items get (parmap's own + config.nice).
  std::unique_ptr<char[]> m_read_buf; ///< Allocated at the first read, not zero-filled.
  BlockFiles m_block_files;
  Fd m_devnull; ///< stdin of --cat and --fifo items; opened at first use.
  Clock::time_point m_next_start{};
  /// Items with seq >= this are not started (cancel()).
  std::uint64_t m_cancel_from = UINT64_MAX;
  bool m_use_pidfd = true;
};

} // namespace parmap
