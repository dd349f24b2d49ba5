// Reactor: timers in order, cancellation, memory after many cancelled timers, descriptors, and
// watchers unregistered while their events are being dispatched.
#include "base/reactor.hpp"

#include <doctest/doctest.h>

#include <sys/epoll.h>
#include <unistd.h>

using namespace parmap;
using namespace std::chrono_literals;

TEST_CASE("reactor: timers fire in time order, once")
{
  Reactor r;
  std::vector<int> fired;
  auto now = Clock::now();
  r.at(now + 30ms, [&] { fired.push_back(3); });
  r.at(now + 10ms, [&] { fired.push_back(1); });
  r.at(now + 20ms, [&] { fired.push_back(2); });
  auto cancelled = r.at(now + 15ms, [&] { fired.push_back(99); });
  r.cancel(cancelled);
  r.cancel(cancelled); // twice is harmless
  while (fired.size() < 3) {
    r.run_once(now + 1s);
  }
  CHECK(fired == std::vector<int>{1, 2, 3});
  CHECK(Clock::now() - now >= 30ms);
}

TEST_CASE("reactor: run_once returns at `until` when nothing happens")
{
  Reactor r;
  auto t0 = Clock::now();
  r.run_once(t0 + 50ms);
  CHECK(Clock::now() - t0 >= 50ms);
  CHECK(Clock::now() - t0 < 2s);
}

TEST_CASE("reactor: many cancelled far-off timers do not pile up")
{
  Reactor r;
  auto far = Clock::now() + 1h;
  for (int i = 0; i < 100000; ++i) {
    r.cancel(r.at(far + std::chrono::seconds(i), [] {}));
  }
  CHECK(r.timer_entries() <= 130);
  auto kept = r.at(far, [] {});
  (void)kept;
  CHECK(r.timer_entries() >= 1);
}

namespace {
struct PipeWatcher final : Watcher {
  Reactor* reactor = nullptr;
  int fd = -1;
  int calls = 0;
  PipeWatcher* victim = nullptr; ///< Unregistered (as if destroyed) from our handler.
  void on_ready(std::uint32_t) override
  {
    ++calls;
    char buf[16];
    [[maybe_unused]] auto n = ::read(fd, buf, sizeof buf);
    if (victim != nullptr) {
      reactor->remove(victim->fd, victim);
      victim = nullptr;
    }
  }
};
} // namespace

TEST_CASE("reactor: a watcher removed during dispatch gets no stale event")
{
  Reactor r;
  int a[2];
  int b[2];
  REQUIRE(::pipe(a) == 0);
  REQUIRE(::pipe(b) == 0);
  PipeWatcher wa;
  PipeWatcher wb;
  wa.reactor = wb.reactor = &r;
  wa.fd = a[0];
  wb.fd = b[0];
  wa.victim = &wb;
  wb.victim = &wa;
  r.add(a[0], EPOLLIN, &wa);
  r.add(b[0], EPOLLIN, &wb);
  REQUIRE(::write(a[1], "x", 1) == 1);
  REQUIRE(::write(b[1], "y", 1) == 1);
  r.run_once(Clock::now() + 1s);
  // Both were ready in the same wait; whichever ran first removed the other.
  CHECK(wa.calls + wb.calls == 1);
  for (int fd : {a[0], a[1], b[0], b[1]}) {
    ::close(fd);
  }
}

TEST_CASE("reactor: postpone() moves every timer later, in order")
{
  Reactor r;
  std::vector<int> fired;
  auto now = Clock::now();
  auto first = r.at(now + 10ms, [&] { fired.push_back(1); });
  r.at(now + 20ms, [&] { fired.push_back(2); });
  r.cancel(r.at(now + 15ms, [&] { fired.push_back(99); }));
  r.postpone(100ms);
  CHECK(r.due(first) == now + 110ms);
  r.run_once(now + 50ms);
  CHECK(fired.empty());
  while (fired.size() < 2) {
    r.run_once(now + 1s);
  }
  CHECK(fired == std::vector<int>{1, 2});
  CHECK(Clock::now() - now >= 120ms);
  CHECK_FALSE(r.due(first).has_value()); // fired
}
