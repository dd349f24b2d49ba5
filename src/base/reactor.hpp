// Reactor: one epoll set plus a timer heap; the only place the engine's thread ever sleeps.
#pragma once

#include "base/fd.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

namespace parmap {

using Clock = std::chrono::steady_clock;

/// Something that wants to hear when a descriptor is ready. The reactor stores a pointer; the
/// watcher must outlive its registration.
class Watcher {
public:
  virtual void on_ready(std::uint32_t epoll_events) = 0;

protected:
  ~Watcher() = default;
};

/// Single-threaded readiness loop. Handlers run inside run_once(), one after another.
class Reactor {
public:
  using TimerId = std::uint64_t;

  Reactor();

  /// Registers fd for `events` (EPOLLIN / EPOLLOUT). Throws Error on failure.
  void add(int fd, std::uint32_t events, Watcher* watcher);
  void modify(int fd, std::uint32_t events, Watcher* watcher);
  /// Unregisters fd. Events already collected for `watcher` in the current wait are dropped, so
  /// a handler may unregister (and destroy) other watchers safely.
  void remove(int fd, Watcher* watcher);

  /// Calls fn once at `when` (inside a later run_once). Returns an id for cancel().
  TimerId at(Clock::time_point when, std::function<void()> fn);
  /// Forgets a timer; a no-op for an id that already fired or was cancelled.
  void cancel(TimerId id);
  /// When a timer is due; nullopt once it fired or was cancelled.
  std::optional<Clock::time_point> due(TimerId id) const;
  /// Moves every timer `by` later: the time the whole process was stopped (job control) does
  /// not count against deadlines.
  void postpone(Clock::duration by);

  /// Heap entries, cancelled ones included (for tests: memory follows the live timers).
  std::size_t timer_entries() const { return m_timers.size(); }

  /// Waits until a descriptor is ready, a timer is due, or `until` passes, then runs what is
  /// due. With `until` unset it may sleep until the next timer or event. Returns after one wait.
  void run_once(std::optional<Clock::time_point> until);

private:
  struct Timer {
    Clock::time_point when;
    TimerId id;
    bool operator>(const Timer& other) const
    {
      return when != other.when ? when > other.when : id > other.id;
    }
  };
  void run_due_timers();
  /// Rebuilds the heap from the live timers only, each moved `shift` later.
  void rebuild_heap(Clock::duration shift);

  Fd m_epoll;
  /// Events of the wait being dispatched (for remove()); empty outside run_once().
  std::vector<void*> m_dispatching;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> m_timers;
  struct Pending {
    Clock::time_point when;
    std::function<void()> fn;
  };
  /// Live timers by id; a cancelled timer has no entry here and its heap entry is skipped.
  std::unordered_map<TimerId, Pending> m_callbacks;
  TimerId m_next_id = 1;
};

} // namespace parmap
