// LocalExecutor: runs items as local processes, each in its own process group, with per-item
// deadlines (SIGTERM, then SIGKILL after a grace) and both output pipes read as they fill.
#pragma once

#include "exec/executor.hpp"
#include "exec/launch.hpp"
#include "base/fd.hpp"
#include "base/reactor.hpp"
#include "exec/local/spawn.hpp"

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
  void resume_output(std::uint64_t seq) override;
  std::size_t running() const override;

  /// The number of slots the open-file limit allows (three descriptors per running item).
  static unsigned fd_limited_slots(unsigned wanted);

private:
  struct Running;
  struct Slot {
    unsigned number = 0;
    std::deque<Item> queue;
    std::unique_ptr<Running> running;
    bool busy = false;
    Reactor::TimerId delayed = 0; ///< Pending --delay start, 0 if none.
  };

  void start_next(Slot& slot);
  void drop(Slot& slot, Item item);
  void launch(Slot& slot, Item item);
  void fail_to_start(Slot& slot, Item item, int exit_code, const std::string& message);
  void read_pipe(Running& r, Stream stream);
  void on_exit(Running& r);
  void maybe_finish(Running& r);
  void finish(Running& r);
  void close_pipe(Running& r, Stream stream);
  void grow_pipe(Running& r, Stream stream);
  void signal_group(Running& r, int signal);
  void arm_kill(Running& r);
  void schedule_exit_poll(Running& r);

  Reactor& m_reactor;
  const LaunchBuilder& m_launch_builder;
  OutputListener& m_listener;
  LocalExecutorConfig m_config;
  Spawner m_spawner;
  std::vector<Slot> m_slots;
  std::vector<ExecutorEvent> m_events;
  /// Finished items, destroyed after the reactor returns (their watchers may still be on the
  /// stack of the current dispatch).
  std::vector<std::unique_ptr<Running>> m_dead;
  /// Leaders of groups still in their kill grace after the item finished; reaped by a timer.
  std::unordered_map<pid_t, Reactor::TimerId> m_doomed;
  std::vector<std::string> m_env;
  Launch m_launch; ///< The item being started (kept to reuse its buffers).
  std::unique_ptr<char[]> m_read_buf; ///< Allocated at the first read, not zero-filled.
  Clock::time_point m_next_start{};
  /// Items with seq >= this are not started (cancel()).
  std::uint64_t m_cancel_from = UINT64_MAX;
  bool m_use_pidfd = true;
};

} // namespace parmap
