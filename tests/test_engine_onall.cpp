// --onall in the engine, driven by FakeExecutor: every item runs once on each host's slot,
// results come in input order (each item's hosts in turn), a host that is ahead reads on as
// far as the pending results allow, and an item lost with its host waits for that host.
#include "support.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace parmap;
using parmap::test::FakeExecutor;
using parmap::test::FakeRun;

namespace {

Options on_all(std::vector<std::string> hosts)
{
  Options o;
  o.remote.sshlogins = std::move(hosts);
  o.remote.on_all = true;
  o.jobs = 7; // not used: a host is one slot
  return o;
}

/// The slot each item (by seq) was started on, and how often.
std::multimap<std::uint64_t, unsigned> starts_of(const FakeExecutor& fake)
{
  std::multimap<std::uint64_t, unsigned> starts;
  for (const auto& s : fake.started) {
    REQUIRE(s.seqs.size() == 1); // pinned items go one at a time
    starts.emplace(s.seqs.front(), s.slot);
  }
  return starts;
}

} // namespace

TEST_CASE("engine: --onall runs every item once on each host's slot, in input order")
{
  // ":" is numbered first whatever its place, as the ssh executor numbers slots.
  FakeRun run({"echo"}, Items({"a", "b", "c"}), on_all({"host1", ":", "host2"}),
              [](FakeExecutor& f) { f.finish_oldest(); });
  auto results = run.drain();
  REQUIRE(results.size() == 9);
  auto starts = starts_of(*run.fake);
  CHECK(starts.size() == 9);
  for (std::size_t i = 0; i < results.size(); ++i) {
    CHECK(results[i].seq == i + 1);
    CHECK(results[i].item == std::string(1, static_cast<char>('a' + i / 3)));
    CHECK(results[i].out.str() == results[i].item + "\n");
    CHECK(starts.find(i + 1)->second == i % 3 + 1); // slot 1 ":", 2 host1, 3 host2
  }
}

TEST_CASE("engine: --onall lets a fast host run ahead only as far as the pending results allow")
{
  Options o = on_all({"host1", "host2"});
  o.max_pending = 4;
  bool blocked = false;
  std::size_t ahead = 0; // host1's starts while host2 still runs its first item
  FakeRun run({"echo"}, Items({"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}), o,
              [&](FakeExecutor& f) {
                if (!blocked) {
                  if (auto seq = f.running_on(1)) {
                    f.finish(*seq, Status::ok, 0, f.texts[*seq] + "\n");
                    return;
                  }
                  blocked = true;
                  ahead = f.started.size() - 1; // all but host2's first
                }
                f.finish_oldest();
              });
  auto results = run.drain();
  CHECK(results.size() == 20);
  for (std::size_t i = 0; i < results.size(); ++i) {
    CHECK(results[i].seq == i + 1);
  }
  // Not in lockstep with the slow host (1), nor unbounded (10): seqs 1, 3, 5 and 7 ran while
  // 2 held four results pending (2, 3, 5, 7).
  CHECK(blocked);
  CHECK(ahead == 4);
}

TEST_CASE("engine: --onall runs an item lost with its host again on that host, once it is back")
{
  int waits = 0;
  FakeRun run({"echo"}, Items({"a", "b"}), on_all({"host1", "host2"}), [&](FakeExecutor& f) {
    ++waits;
    if (waits == 1) {
      f.lose_slot(2); // seq 2 (a on host2) is lost with its host
    } else if (f.running_on(1)) {
      f.finish_oldest(); // host1 goes on alone
    } else if (waits < 100 && !f.running_on(2)) {
      f.restore_slot(2);
    } else {
      f.finish_oldest();
    }
  });
  auto results = run.drain();
  REQUIRE(results.size() == 4);
  auto starts = starts_of(*run.fake);
  CHECK(starts.count(2) == 2); // lost, then run again: not an attempt, not a result
  for (auto [seq, slot] : starts) {
    CHECK(slot == (seq % 2 == 1 ? 1U : 2U));
  }
  CHECK(results[1].attempts == 1);
}

TEST_CASE("engine: --onall needs hosts")
{
  Options o;
  o.remote.on_all = true;
  CHECK_THROWS_AS(FakeRun({"echo"}, Items({"a"}), o), OptionError);
}
