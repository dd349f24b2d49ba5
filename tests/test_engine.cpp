// The engine's scheduling, driven by FakeExecutor: order, max-pending, batches, adaptive tail,
// fail-fast, keep-going, retries, halts.
#include "support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <thread>

using namespace parmap;
using parmap::test::FakeExecutor;
using parmap::test::FakeRun;

namespace {

std::vector<std::string> numbers(int n)
{
  std::vector<std::string> items;
  for (int i = 1; i <= n; ++i) {
    items.push_back(std::to_string(i));
  }
  return items;
}

Options with_jobs(std::size_t jobs)
{
  Options o;
  o.jobs = jobs;
  return o;
}

std::vector<std::uint64_t> seqs_of(const std::vector<Result>& results)
{
  std::vector<std::uint64_t> seqs;
  for (const auto& r : results) {
    seqs.push_back(r.seq);
  }
  return seqs;
}

} // namespace

TEST_CASE("engine: ordered delivery whatever the completion order")
{
  // Finish the newest running item first: completion order is the reverse of input order.
  FakeRun run({"echo"}, Items(numbers(20)), with_jobs(4), [](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (!seqs.empty()) {
      f.finish(seqs.back(), Status::ok, 0, f.texts[seqs.back()] + "\n");
    }
  });
  auto results = run.drain();
  std::vector<std::uint64_t> expected(20);
  std::iota(expected.begin(), expected.end(), 1);
  CHECK(seqs_of(results) == expected);
  for (const auto& r : results) {
    CHECK(r.out.str() == r.item + "\n");
  }
}

TEST_CASE("engine: as-ready delivery follows completion")
{
  Options o = with_jobs(3);
  o.order = Order::as_ready;
  FakeRun run({"echo"}, Items(numbers(6)), o, [](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (!seqs.empty()) {
      f.finish(seqs.back());
    }
  });
  auto results = run.drain();
  auto seqs = seqs_of(results);
  CHECK(seqs.size() == 6);
  CHECK(seqs != std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
  std::sort(seqs.begin(), seqs.end());
  CHECK(seqs == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("engine: a slow head holds dispatch at max-pending")
{
  Options o = with_jobs(2);
  o.max_pending = 5;
  std::size_t most_started_before_head = 0;
  FakeRun run({"echo"}, Items(numbers(50)), o, [&](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    // Item 1 runs until nothing else can be dispatched; everything else finishes at once.
    for (auto seq : seqs) {
      if (seq != 1) {
        f.finish(seq);
        return;
      }
    }
    most_started_before_head = f.started.size();
    f.finish(1);
  });
  auto first = run.engine->next();
  REQUIRE(first);
  CHECK(first->seq == 1);
  // Five batches pending at most: item 1's and four finished behind it.
  CHECK(most_started_before_head == 5);
  auto rest = run.drain();
  CHECK(rest.size() == 49);
}

TEST_CASE("engine: batches keep per-item results and order")
{
  Options o = with_jobs(2);
  o.batch_size = 3;
  o.adaptive_tail = false;
  FakeRun run({"echo"}, Items(numbers(10)), o, [](FakeExecutor& f) { f.finish_oldest(); });
  auto results = run.drain();
  REQUIRE(results.size() == 10);
  for (std::size_t i = 0; i < results.size(); ++i) {
    CHECK(results[i].seq == i + 1);
    CHECK(results[i].out.str() == std::to_string(i + 1) + "\n");
  }
  REQUIRE(run.fake->started.size() == 4);
  CHECK(run.fake->started[0].seqs == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(run.fake->started[1].seqs == std::vector<std::uint64_t>{4, 5, 6});
  CHECK(run.fake->started[2].seqs == std::vector<std::uint64_t>{7, 8, 9});
  CHECK(run.fake->started[3].seqs == std::vector<std::uint64_t>{10});
}

TEST_CASE("engine: adaptive tail halves each new batch once few are left")
{
  // 40 items, batches of 8, 2 slots, threshold 2 x 2 = 4 batches left.
  Options o = with_jobs(2);
  o.batch_size = 8;
  FakeRun run({"echo"}, Items(numbers(40)), o, [](FakeExecutor& f) {
    // Finish a whole batch at a time: the slot with the oldest item runs its batch to the end.
    auto seqs = f.running_seqs();
    if (seqs.empty()) {
      return;
    }
    f.finish_oldest();
  });
  run.drain();
  std::vector<std::size_t> sizes;
  for (const auto& s : run.fake->started) {
    sizes.push_back(s.seqs.size());
  }
  std::string shown;
  for (auto n : sizes) {
    shown += std::to_string(n) + " ";
  }
  CAPTURE(shown);
  // Each batch is sized when it goes out, from (batches in flight, items not yet sent):
  //   (0,40): 0+5 > 4 -> 8      (1,32): 1+4 > 4 -> 8
  //   (1,24): 1+3 <= 4 -> 4     (1,20): 1+5 > 4 -> 4     (1,16): 1+4 > 4 -> 4
  //   (1,12): 1+3 <= 4 -> 2     (1,10): 1+5 > 4 -> 2     (1,8): 1+4 > 4 -> 2
  //   (1,6): 1+3 <= 4 -> 1      then 1 to the end (the minimum).
  CHECK(sizes == std::vector<std::size_t>{8, 8, 4, 4, 4, 2, 2, 2, 1, 1, 1, 1, 1, 1});
  CHECK(std::accumulate(sizes.begin(), sizes.end(), std::size_t{0}) == 40);
}

TEST_CASE("engine: no adaptive tail for input of unknown length")
{
  Options o = with_jobs(2);
  o.batch_size = 8;
  int produced = 0;
  Items items = Items::generate([&]() -> std::optional<std::string> {
    if (produced == 40) {
      return std::nullopt;
    }
    return std::to_string(++produced);
  });
  FakeRun run({"echo"}, std::move(items), o, [](FakeExecutor& f) { f.finish_oldest(); });
  run.drain();
  for (const auto& s : run.fake->started) {
    CHECK(s.seqs.size() == 8);
  }
}

TEST_CASE("engine: --no-adaptive-tail keeps batches full")
{
  Options o = with_jobs(2);
  o.batch_size = 8;
  o.adaptive_tail = false;
  FakeRun run({"echo"}, Items(numbers(40)), o, [](FakeExecutor& f) { f.finish_oldest(); });
  run.drain();
  CHECK(run.fake->started.size() == 5);
}

TEST_CASE("engine: fail-fast in input order stops after the failed item")
{
  FakeRun run({"echo"}, Items(numbers(10)), with_jobs(3), [](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (seqs.empty()) {
      return;
    }
    // Item 4 fails as soon as it runs; others succeed oldest first.
    auto failing = std::find(seqs.begin(), seqs.end(), 4);
    if (failing != seqs.end()) {
      f.finish(4, Status::failed, 3, "", "boom\n");
      return;
    }
    f.finish_oldest();
  });
  std::vector<Result> results;
  auto failed = run.drain_until_failure(results);
  REQUIRE_MESSAGE(failed, "no ItemFailed");
  CHECK(failed->seq == 4);
  CHECK(failed->exit_code == 3);
  CHECK(failed->err.str() == "boom\n");
  // Everything before the failure, nothing after.
  CHECK(seqs_of(results) == std::vector<std::uint64_t>{1, 2, 3});
  REQUIRE(!run.fake->cancels.empty());
  CHECK(run.fake->cancels.front().first == 5);
  CHECK(run.engine->summary().halted);
}

TEST_CASE("engine: an earlier failure takes over while the first one waits")
{
  // Item 3 fails first, then item 2 (still running before it) fails too: the run stops at 2.
  FakeRun run({"echo"}, Items(numbers(6)), with_jobs(3), [](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (std::find(seqs.begin(), seqs.end(), 3) != seqs.end()) {
      f.finish(3, Status::failed, 1);
    } else if (std::find(seqs.begin(), seqs.end(), 1) != seqs.end()) {
      f.finish(1);
    } else if (std::find(seqs.begin(), seqs.end(), 2) != seqs.end()) {
      f.finish(2, Status::failed, 2);
    }
  });
  std::vector<Result> results;
  CHECK_MESSAGE(run.drain_until_failure(results), "no ItemFailed");
  CHECK(seqs_of(results) == std::vector<std::uint64_t>{1});
  CHECK(run.engine->summary().stop_result.seq == 2);
}

TEST_CASE("engine: keep-going records failures and finishes")
{
  Options o = with_jobs(2);
  o.halt = Halt::keep_going();
  FakeRun run({"echo"}, Items(numbers(5)), o, [](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (seqs.empty()) {
      return;
    }
    auto s = seqs.front();
    f.finish(s, s % 2 == 0 ? Status::failed : Status::ok, s % 2 == 0 ? 1 : 0);
  });
  auto results = run.drain();
  CHECK(results.size() == 5);
  CHECK(run.engine->summary().counts.failed == 2);
  CHECK(run.engine->summary().exit_status() == 2);
}

TEST_CASE("engine: retries run a failed item again, keeping only the last attempt")
{
  Options o = with_jobs(1);
  o.retries = 2;
  int attempts_of_2 = 0;
  FakeRun run({"echo"}, Items(numbers(3)), o, [&](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (seqs.empty()) {
      return;
    }
    if (seqs.front() == 2 && ++attempts_of_2 < 3) {
      f.finish(2, Status::failed, 1, "bad attempt\n");
      return;
    }
    f.finish(seqs.front(), Status::ok, 0, "good\n");
  });
  auto results = run.drain();
  REQUIRE(results.size() == 3);
  CHECK(results[1].attempts == 3);
  CHECK(results[1].out.str() == "good\n");
  CHECK(results[0].attempts == 1);
}

TEST_CASE("engine: retries exhausted fail the run")
{
  Options o = with_jobs(1);
  o.retries = 1;
  FakeRun run({"echo"}, Items(numbers(2)), o, [](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (!seqs.empty()) {
      f.finish(seqs.front(), Status::failed, 9);
    }
  });
  std::vector<Result> before;
  auto failed = run.drain_until_failure(before);
  REQUIRE_MESSAGE(failed, "no ItemFailed");
  CHECK(failed->seq == 1);
  CHECK(failed->attempts == 2);
}

TEST_CASE("engine: halt soon lets running items finish")
{
  Options o = with_jobs(2);
  o.halt = Halt{Halt::When::soon, Halt::On::fail, 1, false};
  FakeRun run({"echo"}, Items(numbers(8)), o, [](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (seqs.empty()) {
      return;
    }
    if (seqs.front() == 1) {
      f.finish(1, Status::failed, 5);
    } else {
      f.finish(seqs.front());
    }
  });
  std::vector<Result> results;
  auto failed = run.drain_until_failure(results);
  REQUIRE_MESSAGE(failed, "no ItemFailed");
  CHECK(failed->seq == 1);
  // Item 2 was running when 1 failed: it finished and was delivered; nothing else started.
  CHECK(seqs_of(results) == std::vector<std::uint64_t>{2});
  CHECK(run.fake->cancels.front().second == 0);
}

TEST_CASE("engine: halt on success stops the run without an exception")
{
  Options o = with_jobs(1);
  o.halt = Halt{Halt::When::now, Halt::On::success, 2, false};
  FakeRun run({"echo"}, Items(numbers(10)), o, [](FakeExecutor& f) { f.finish_oldest(); });
  auto results = run.drain();
  CHECK(results.size() == 2);
  CHECK(run.engine->summary().halted);
  CHECK(run.engine->summary().exit_status() == 0);
}

TEST_CASE("engine: --timeout N% follows the median runtime")
{
  Options o = with_jobs(1);
  o.timeout_percent = 200;
  FakeRun run({"echo"}, Items(numbers(3)), o, [](FakeExecutor& f) { f.finish_oldest(); });
  run.drain();
  REQUIRE(run.fake->started.size() == 3);
  CHECK(run.fake->started[0].timeouts[0] == 0.0); // nothing finished yet: no limit
  // The fake's items take 0.01 s: twice the median, within the histogram's 2% buckets.
  CHECK(run.fake->started[1].timeouts[0] == doctest::Approx(0.02).epsilon(0.03));
}

TEST_CASE("engine: --timeout N% counts only successes, as GNU parallel does")
{
  Options o = with_jobs(1);
  o.timeout_percent = 300;
  o.halt = Halt::keep_going();
  SUBCASE("quick failures do not pull the limit down")
  {
    // One slow success, then many quick failures: the limit stays 300% of the success.
    FakeRun run({"echo"}, Items(numbers(6)), o, [](FakeExecutor& f) {
      auto seq = f.running_seqs().front();
      f.duration = seq == 1 ? 0.5 : 0.05;
      f.finish(seq, seq == 1 ? Status::ok : Status::failed, seq == 1 ? 0 : 1);
    });
    run.drain();
    REQUIRE(run.fake->started.size() == 6);
    CHECK(run.fake->started[0].timeouts[0] == 0.0);
    for (std::size_t i = 1; i < 6; ++i) {
      CHECK(run.fake->started[i].timeouts[0] == doctest::Approx(1.5).epsilon(0.03));
    }
  }
  SUBCASE("a timed-out item does not shrink the limit")
  {
    // Equal items at 50%: every item after the first times out at the limit; counting those
    // runtimes would halve the limit each time.
    o.timeout_percent = 50;
    FakeRun run({"echo"}, Items(numbers(6)), o, [](FakeExecutor& f) {
      auto seq = f.running_seqs().front();
      f.duration = seq == 1 ? 0.4 : 0.2;
      f.finish(seq, seq == 1 ? Status::ok : Status::timeout, seq == 1 ? 0 : 124);
    });
    run.drain();
    REQUIRE(run.fake->started.size() == 6);
    for (std::size_t i = 1; i < 6; ++i) {
      CHECK(run.fake->started[i].timeouts[0] == doctest::Approx(0.2).epsilon(0.03));
    }
  }
  SUBCASE("no limit until the first success")
  {
    FakeRun run({"echo"}, Items(numbers(3)), o, [](FakeExecutor& f) {
      f.finish(f.running_seqs().front(), Status::failed, 1);
    });
    run.drain();
    REQUIRE(run.fake->started.size() == 3);
    for (const auto& s : run.fake->started) {
      CHECK(s.timeouts[0] == 0.0);
    }
  }
}

TEST_CASE("engine: invalid options are refused before anything runs")
{
  Options o;
  o.batch_size = 0;
  CHECK_THROWS_AS(FakeRun({"echo"}, Items(numbers(1)), o), Error);
  Options r;
  r.resume = true;
  // The API's messages name Options members, not command-line flags.
  CHECK_THROWS_WITH_AS(FakeRun({"echo"}, Items(numbers(1)), r),
                       "Options::resume needs Options::checkpoint", OptionError);
  try {
    FakeRun({"echo"}, Items(numbers(1)), o);
  } catch (const OptionError& e) {
    CHECK(e.field() == "batch_size");
    CHECK(std::string(e.what()) == "Options::batch_size must be at least 1");
  }
  CHECK_THROWS_AS(FakeRun({}, Items(numbers(1)), Options{}), Error);
}

TEST_CASE("engine: the slot count follows jobs_update, growing and shrinking mid-run")
{
  // Each phase waits for the next poll (about a second): first one slot, then three, then one.
  int polls = 0;
  Options o = with_jobs(1);
  o.jobs_update = [&polls]() -> std::optional<std::size_t> {
    ++polls;
    if (polls <= 2) {
      return polls == 1 ? 3 : 1;
    }
    return std::nullopt;
  };
  std::size_t most_before = 0;
  std::size_t most_grown = 0;
  std::size_t most_after_shrink = 0;
  bool shrunk_settled = false;
  FakeRun run({"echo"}, Items(numbers(12)), o, [&](FakeExecutor& f) {
    std::size_t running = f.running_seqs().size();
    if (polls == 0) {
      most_before = std::max(most_before, running);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return;
    }
    if (polls == 1) {
      most_grown = std::max(most_grown, running);
      std::this_thread::sleep_for(std::chrono::milliseconds(20)); // hold three until the shrink
      return;
    }
    // Shrunk: running items finish one by one; no new one starts until fewer than one run.
    shrunk_settled = shrunk_settled || running <= 1;
    if (shrunk_settled) {
      most_after_shrink = std::max(most_after_shrink, running);
    }
    f.finish_oldest();
  });
  auto results = run.drain();
  CHECK(results.size() == 12);
  CHECK(most_before == 1);
  CHECK(most_grown == 3);
  CHECK(most_after_shrink == 1);
  // After the shrink, new batches went to slot 1 only.
  auto& started = run.fake->started;
  CHECK(std::all_of(started.end() - 5, started.end(), [](const auto& s) { return s.slot == 1; }));
}
