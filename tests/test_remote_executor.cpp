// RemoteExecutor against a real agent (this test binary run as `--agent`): a slot's next items
// wait at the agent behind its running one and start when it frees, their timeouts and start
// times counted from then; a cancel drops them unstarted; an end that a --halt may stop on
// holds them until the controller has seen it. Pacing: how many items wait.
#include "exec/agent/pacing.hpp"
#include "exec/agent/remote_executor.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <map>

using namespace parmap;
using namespace parmap::agent;

namespace {

struct Collect final : OutputListener {
  std::map<std::uint64_t, std::string> out;
  bool on_output(std::uint64_t seq, Stream stream, std::string_view bytes) override
  {
    if (stream == Stream::out) {
      out[seq].append(bytes);
    }
    return true;
  }
};

/// One agent with one slot, which keeps `ahead` items queued behind its running one.
struct Harness {
  Reactor reactor;
  Collect collect;
  CommandTemplate command{{"sh", "-c"}, Shell::never}; // the item is the script
  TemplateLaunch launch{command};
  RemoteExecutor executor;
  std::map<std::uint64_t, ItemStarted> started;
  std::map<std::uint64_t, ItemEnded> ended;
  unsigned frees = 0;

  explicit Harness(unsigned ahead, HoldAfter hold = {})
      : executor(reactor, launch, collect, config(ahead, hold))
  {
  }
  static RemoteConfig config(unsigned ahead, HoldAfter hold)
  {
    RemoteConfig c;
    c.endpoints.push_back(Endpoint{"agent", {"/proc/self/exe", "--agent"}, {}, 1, false});
    c.queue_ahead = ahead;
    c.hold = hold;
    c.kill_grace = 0.5;
    return c;
  }
  void run(std::uint64_t seq, std::string script, double timeout = 0)
  {
    Item item;
    item.seq = seq;
    item.args.assign(1, std::move(script));
    item.timeout = timeout;
    Batch batch;
    batch.items.push_back(std::move(item));
    executor.start(1, std::move(batch));
  }
  /// Handles the executor's events until `done` (false after 20 s).
  bool pump(const std::function<bool()>& done)
  {
    auto deadline = Clock::now() + std::chrono::seconds(20);
    std::vector<ExecutorEvent> events;
    while (!done() && Clock::now() < deadline) {
      events.clear();
      executor.wait(deadline, events);
      for (auto& e : events) {
        if (auto* s = std::get_if<ItemStarted>(&e)) {
          started[s->seq] = *s;
        } else if (auto* end = std::get_if<ItemEnded>(&e)) {
          ended[end->seq] = *end;
        } else if (std::holds_alternative<SlotFree>(e)) {
          ++frees;
        }
      }
    }
    return done();
  }
  bool has_ended(std::uint64_t seq) const { return ended.contains(seq); }
  /// Runs `first` as item 1 and, once its slot is freed again, queues `second` behind it.
  void run_then_queue(std::string first, std::string second)
  {
    run(1, std::move(first));
    REQUIRE(pump([&] { return frees == 1; }));
    run(2, std::move(second));
  }
};

double seconds_between(std::chrono::system_clock::time_point a,
                       std::chrono::system_clock::time_point b)
{
  return std::chrono::duration<double>(b - a).count();
}

} // namespace

TEST_CASE("remote executor: the next item waits at the agent and starts when the slot frees")
{
  Harness h(1);
  h.run(1, "sleep 0.4");
  // Freed once item 1 started: the engine may send the next item to wait behind it.
  REQUIRE(h.pump([&] { return h.frees == 1; }));
  CHECK(h.started.contains(1));
  CHECK_FALSE(h.has_ended(1));
  // Its timeout (0.5 s) counts from its start: waiting 0.4 s behind item 1 does not use it up.
  h.run(2, "sleep 0.3; echo two", 0.5);
  REQUIRE(h.pump([&] { return h.has_ended(2); }));
  CHECK(h.frees == 2); // again once item 2 started, not before
  CHECK(h.ended[1].status == Status::ok);
  CHECK(h.ended[2].status == Status::ok);
  CHECK(h.collect.out[2] == "two\n");
  // Its start time is when it started, after item 1 ended, not when it was queued.
  double gap = seconds_between(h.ended[1].started, h.ended[2].started);
  CHECK(gap >= h.ended[1].duration - 0.01);
  CHECK(h.ended[2].duration == doctest::Approx(0.3).epsilon(1.0));
}

TEST_CASE("remote executor: a cancel drops queued items unstarted and keeps earlier ones")
{
  auto dir = test::scratch("remote-cancel");
  Harness h(2);
  h.run_then_queue("sleep 0.5; echo one", "touch " + (dir / "2").string());
  h.run(3, "touch " + (dir / "3").string());
  h.executor.cancel(2, SIGTERM);
  REQUIRE(h.pump([&] { return h.has_ended(1) && h.has_ended(2) && h.has_ended(3); }));
  for (std::uint64_t seq : {2, 3}) {
    CHECK(h.ended[seq].interrupted);
    CHECK_FALSE(h.started.contains(seq));
    CHECK_FALSE(std::filesystem::exists(dir / std::to_string(seq)));
  }
  CHECK(h.ended[1].status == Status::ok); // before the cancel point: it ran to its end
  CHECK(h.collect.out[1] == "one\n");
}

TEST_CASE("remote executor: an end a --halt may stop on holds the queue until seen")
{
  auto dir = test::scratch("remote-hold");
  std::string touch = "touch " + (dir / "2").string();
  SUBCASE("halted: the queued item never starts")
  {
    Harness h(1, HoldAfter{true, false});
    h.run_then_queue("sleep 0.3; exit 3", touch);
    REQUIRE(h.pump([&] { return h.has_ended(1); }));
    CHECK(h.ended[1].exit_code == 3);
    h.executor.cancel(2, SIGTERM); // what the engine does on a --halt now
    REQUIRE(h.pump([&] { return h.has_ended(2); }));
    CHECK(h.ended[2].interrupted);
    CHECK_FALSE(h.started.contains(2));
    CHECK_FALSE(std::filesystem::exists(dir / "2"));
  }
  SUBCASE("not halted: it starts after the controller's word")
  {
    Harness h(1, HoldAfter{true, false});
    h.run_then_queue("exit 3", touch);
    REQUIRE(h.pump([&] { return h.has_ended(2); }));
    CHECK(h.ended[2].status == Status::ok);
    CHECK(std::filesystem::exists(dir / "2"));
  }
  SUBCASE("a success does not hold it when only failures halt")
  {
    Harness h(1, HoldAfter{true, false});
    h.run_then_queue("sleep 0.3", touch);
    REQUIRE(h.pump([&] { return h.has_ended(1); }));
    REQUIRE(h.pump([&] { return h.has_ended(2); }));
    CHECK(h.ended[2].status == Status::ok);
  }
}

TEST_CASE("pacing: about a round trip of items waits behind a running one, none for long ones")
{
  Pacing p;
  CHECK(p.depth() == 0); // nothing measured yet: no item waits
  p.round_trip(0.02);
  CHECK(p.depth() == 0);
  p.ran(0.005);
  CHECK(p.depth() == 4);
  Pacing slow;
  slow.round_trip(0.02);
  slow.ran(0.05); // 2.5 round trips: one item hides the round trip
  CHECK(slow.depth() == 1);
  Pacing longer;
  longer.round_trip(0.02);
  longer.ran(0.1); // 5 round trips: the round trip costs little, a queued item could wait long
  CHECK(longer.depth() == 0);
  Pacing tiny;
  tiny.round_trip(1);
  tiny.ran(1e-5);
  CHECK(tiny.depth() == Pacing::k_max_queued);
  // The averages follow a change within a few samples.
  for (int i = 0; i < 20; ++i) {
    slow.ran(0.5);
  }
  CHECK(slow.depth() == 0);
}
