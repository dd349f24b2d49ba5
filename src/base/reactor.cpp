#include "base/reactor.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <array>
#include <sys/epoll.h>

namespace parmap {

Reactor::Reactor() : m_epoll(::epoll_create1(EPOLL_CLOEXEC))
{
  if (!m_epoll) {
    throw_errno("epoll_create1", errno);
  }
}

void Reactor::add(int fd, std::uint32_t events, Watcher* watcher)
{
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = watcher;
  check_errno(::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl(ADD)");
}

void Reactor::modify(int fd, std::uint32_t events, Watcher* watcher)
{
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = watcher;
  check_errno(::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev), "epoll_ctl(MOD)");
}

void Reactor::remove(int fd, Watcher* watcher)
{
  ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
  std::replace(m_dispatching.begin(), m_dispatching.end(), static_cast<void*>(watcher),
               static_cast<void*>(nullptr));
}

Reactor::TimerId Reactor::at(Clock::time_point when, std::function<void()> fn)
{
  TimerId id = m_next_id++;
  m_timers.push(Timer{when, id});
  m_callbacks.emplace(id, Pending{when, std::move(fn)});
  return id;
}

std::optional<Clock::time_point> Reactor::due(TimerId id) const
{
  auto it = m_callbacks.find(id);
  return it == m_callbacks.end() ? std::nullopt : std::optional(it->second.when);
}

void Reactor::postpone(Clock::duration by)
{
  rebuild_heap(by);
}

void Reactor::rebuild_heap(Clock::duration shift)
{
  std::vector<Timer> live;
  live.reserve(m_callbacks.size());
  while (!m_timers.empty()) {
    Timer t = m_timers.top();
    m_timers.pop();
    if (auto it = m_callbacks.find(t.id); it != m_callbacks.end()) {
      t.when += shift;
      it->second.when = t.when;
      live.push_back(t);
    }
  }
  m_timers = decltype(m_timers)(std::greater<>(), std::move(live));
}

void Reactor::cancel(TimerId id)
{
  if (m_callbacks.erase(id) == 0) {
    return;
  }
  // The heap entry stays and is skipped when it comes up; drop dead entries at the top now so
  // that a cancelled deadline does not shorten the next wait.
  while (!m_timers.empty() && !m_callbacks.contains(m_timers.top().id)) {
    m_timers.pop();
  }
  // Items that finish long before their --timeout leave dead entries deep in the heap; rebuild
  // it when they outnumber the live ones, so memory follows the timers that can still fire.
  if (m_timers.size() > 64 && m_timers.size() > 2 * m_callbacks.size()) {
    rebuild_heap(Clock::duration::zero());
  }
}

void Reactor::run_due_timers()
{
  auto now = Clock::now();
  while (!m_timers.empty() && m_timers.top().when <= now) {
    TimerId id = m_timers.top().id;
    m_timers.pop();
    auto it = m_callbacks.find(id);
    if (it == m_callbacks.end()) {
      continue;
    }
    auto fn = std::move(it->second.fn);
    m_callbacks.erase(it);
    fn();
  }
}

void Reactor::run_once(std::optional<Clock::time_point> until)
{
  std::optional<Clock::time_point> wake = until;
  if (!m_timers.empty() && (!wake || m_timers.top().when < *wake)) {
    wake = m_timers.top().when;
  }
  int timeout_ms = -1;
  if (wake) {
    auto left = *wake - Clock::now();
    // Round up so that a timer is never polled for just before it is due.
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    timeout_ms = static_cast<int>(std::clamp<long long>(ms, 0, 1 << 30));
  }
  std::array<epoll_event, 64> events{};
  int n = ::epoll_wait(m_epoll.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
  if (n < 0 && errno != EINTR) {
    throw_errno("epoll_wait", errno);
  }
  m_dispatching.clear();
  for (int i = 0; i < n; ++i) {
    m_dispatching.push_back(events[static_cast<std::size_t>(i)].data.ptr);
  }
  for (int i = 0; i < n; ++i) {
    if (auto* watcher = static_cast<Watcher*>(m_dispatching[static_cast<std::size_t>(i)])) {
      watcher->on_ready(events[static_cast<std::size_t>(i)].events);
    }
  }
  m_dispatching.clear();
  run_due_timers();
}

} // namespace parmap
