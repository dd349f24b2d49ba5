// Dispatch rules: BatchSizer (adaptive tail batching) and RuntimeMedian (--timeout N%).
#include "run/dispatch.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace parmap;

namespace {

/// True when `got` is within `rel` of `want` (relative).
bool near(std::optional<double> got, double want, double rel = 0.02)
{
  return got && std::abs(*got / want - 1.0) <= rel;
}

} // namespace

TEST_CASE("dispatch: BatchSizer starts at the batch size")
{
  CHECK(BatchSizer(8, true, 2, 1, 4).current() == 8);
  CHECK(BatchSizer(1, true, 2, 1, 4).current() == 1);
  CHECK(BatchSizer(0, true, 2, 1, 4).current() == 1); // never zero
}

TEST_CASE("dispatch: BatchSizer halves once few batches are left")
{
  // 2 jobs x 2 batches per core: the tail starts when at most 4 batches are left.
  BatchSizer s(8, true, 2, 1, 2);
  struct Step {
    std::size_t in_flight;
    std::uint64_t unsent;
    std::size_t size;
  };
  // The engine test's sequence: 40 items, batches of 8.
  const std::vector<Step> steps = {
      {0, 40, 8}, // 0 + 5 > 4
      {1, 32, 8}, // 1 + 4 > 4
      {1, 24, 4}, // 1 + 3 <= 4: halve
      {1, 20, 4}, // 1 + ceil(20/4)=5 > 4
      {1, 16, 4}, // 1 + 4 > 4
      {1, 12, 2}, // 1 + 3 <= 4
      {1, 10, 2}, // 1 + 5 > 4
      {1, 8, 2},  // 1 + 4 > 4
      {1, 6, 1},  // 1 + 3 <= 4
      {1, 5, 1},  // the minimum
      {0, 1, 1},
  };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    CAPTURE(i);
    CHECK(s.next(steps[i].in_flight, steps[i].unsent) == steps[i].size);
    CHECK(s.current() == steps[i].size);
  }
}

TEST_CASE("dispatch: BatchSizer threshold is tail_batches_per_core x jobs")
{
  // Batches left = in flight + ceil(unsent / current); threshold 12 however it is made.
  struct Config {
    std::size_t per_core;
    unsigned jobs;
  };
  for (auto cfg : {Config{3, 4}, Config{2, 6}, Config{12, 1}, Config{1, 12}}) {
    CAPTURE(cfg.per_core);
    CAPTURE(cfg.jobs);
    BatchSizer at(10, true, cfg.per_core, 1, cfg.jobs);
    CHECK(at.next(2, 100) == 5); // 2 + 10 = 12: halve
    BatchSizer above(10, true, cfg.per_core, 1, cfg.jobs);
    CHECK(above.next(3, 100) == 10); // 3 + 10 = 13: not yet
    BatchSizer rounded_up(10, true, cfg.per_core, 1, cfg.jobs);
    CHECK(rounded_up.next(2, 101) == 10); // 2 + ceil(10.1) = 13
    BatchSizer rounded(10, true, cfg.per_core, 1, cfg.jobs);
    CHECK(rounded.next(1, 101) == 5); // 1 + 11 = 12
  }
  SUBCASE("more jobs start the tail earlier")
  {
    BatchSizer few(10, true, 2, 1, 2);  // threshold 4
    BatchSizer many(10, true, 2, 1, 8); // threshold 16
    CHECK(few.next(0, 100) == 10);
    CHECK(many.next(0, 100) == 5);
  }
  SUBCASE("zero batches per core means never")
  {
    BatchSizer s(10, true, 0, 1, 8);
    CHECK(s.next(0, 1) == 10);
  }
}

TEST_CASE("dispatch: BatchSizer halves once per batch, down to the minimum, never back up")
{
  SUBCASE("one halving per call")
  {
    BatchSizer s(64, true, 2, 1, 2);
    CHECK(s.next(0, 1) == 32);
    CHECK(s.next(0, 1) == 16);
    CHECK(s.next(0, 1) == 8);
  }
  SUBCASE("the minimum holds, also between powers of two")
  {
    BatchSizer s(20, true, 2, 3, 2);
    CHECK(s.next(0, 1) == 10);
    CHECK(s.next(0, 1) == 5);
    CHECK(s.next(0, 1) == 3); // 5 / 2 = 2 < 3
    CHECK(s.next(0, 1) == 3);
    CHECK(s.next(0, 0) == 3);
  }
  SUBCASE("a minimum of 0 counts as 1")
  {
    BatchSizer s(4, true, 2, 0, 2);
    CHECK(s.next(0, 1) == 2);
    CHECK(s.next(0, 1) == 1);
    CHECK(s.next(0, 1) == 1);
  }
  SUBCASE("a minimum above the batch size does not grow batches")
  {
    BatchSizer s(2, true, 2, 5, 2);
    CHECK(s.next(0, 1) == 2);
  }
  SUBCASE("a batch size of 1 stays 1")
  {
    BatchSizer s(1, true, 2, 1, 2);
    CHECK(s.next(0, 1) == 1);
  }
  SUBCASE("batches do not grow again when more items show up")
  {
    BatchSizer s(16, true, 2, 1, 2);
    CHECK(s.next(0, 10) == 8);
    CHECK(s.next(0, 1000000) == 8);
  }
}

TEST_CASE("dispatch: BatchSizer is off for unknown lengths and when disabled")
{
  BatchSizer unknown(8, true, 2, 1, 2);
  BatchSizer disabled(8, false, 2, 1, 2);
  for (int i = 0; i < 5; ++i) {
    CHECK(unknown.next(0, std::nullopt) == 8);
    CHECK(disabled.next(0, 0) == 8);
    CHECK(disabled.next(0, 1) == 8);
  }
  // The same sizer with a known length would have halved.
  BatchSizer known(8, true, 2, 1, 2);
  CHECK(known.next(0, 1) == 4);
}

TEST_CASE("dispatch: RuntimeMedian basics")
{
  RuntimeMedian m;
  CHECK(m.count() == 0);
  CHECK_FALSE(m.median().has_value());

  SUBCASE("one sample")
  {
    m.add(0.5);
    CHECK(m.count() == 1);
    CHECK(near(m.median(), 0.5));
  }
  SUBCASE("odd counts: the middle value whatever the order")
  {
    for (double v : {100.0, 1.0, 3.0, 1000.0, 2.0}) {
      m.add(v);
    }
    CHECK(m.count() == 5);
    CHECK(near(m.median(), 3.0));
    m.add(0.001);
    m.add(0.002);
    // {0.001, 0.002, 1, 2, 3, 100, 1000}
    CHECK(near(m.median(), 2.0));
  }
  SUBCASE("even counts: between the two middle values")
  {
    for (double v : {4.0, 1.0, 3.0, 2.0}) {
      m.add(v);
    }
    auto got = m.median();
    REQUIRE(got);
    CHECK(*got >= 2.0 / 1.02);
    CHECK(*got <= 3.0 * 1.02);
    RuntimeMedian two;
    two.add(1.0);
    two.add(10.0);
    REQUIRE(two.median());
    CHECK(*two.median() >= 1.0 / 1.02);
    CHECK(*two.median() <= 10.0 * 1.02);
  }
  SUBCASE("duplicates and outliers")
  {
    for (double v : {2.0, 2.0, 2.0, 3600.0, 0.000001}) {
      m.add(v);
    }
    CHECK(near(m.median(), 2.0));
  }
}

TEST_CASE("dispatch: RuntimeMedian is accurate within its 2% buckets")
{
  SUBCASE("single values over the whole range")
  {
    for (double v = 2e-6; v < 2e5; v *= 1.37) {
      CAPTURE(v);
      RuntimeMedian m;
      m.add(v);
      CHECK(near(m.median(), v));
    }
  }
  SUBCASE("many samples")
  {
    std::mt19937 rng(7);
    std::lognormal_distribution<double> dist(0.0, 1.5);
    std::vector<double> all;
    RuntimeMedian m;
    for (int i = 0; i < 20001; ++i) {
      double v = dist(rng);
      all.push_back(v);
      m.add(v);
    }
    std::nth_element(all.begin(), all.begin() + 10000, all.end());
    CAPTURE(all[10000]);
    CHECK(near(m.median(), all[10000]));
    CHECK(m.count() == 20001);
  }
  SUBCASE("the median follows new samples")
  {
    RuntimeMedian m;
    m.add(1.0);
    CHECK(near(m.median(), 1.0));
    m.add(8.0);
    m.add(8.0);
    CHECK(near(m.median(), 8.0));
  }
}

TEST_CASE("dispatch: RuntimeMedian with huge and tiny values")
{
  SUBCASE("a day, a week, a month")
  {
    for (double v : {6.0 * 3600, 86400.0, 7 * 86400.0, 30 * 86400.0}) {
      CAPTURE(v);
      RuntimeMedian m;
      m.add(v);
      m.add(v * 1.001);
      m.add(v / 1.001);
      CHECK(near(m.median(), v));
    }
  }
  SUBCASE("absurdly large values do not break it")
  {
    RuntimeMedian m;
    m.add(1e300);
    auto got = m.median();
    REQUIRE(got);
    CHECK(std::isfinite(*got));
    CHECK(*got > 86400.0);
  }
  SUBCASE("tiny, zero and negative durations give a tiny positive median")
  {
    for (double v : {1e-6, 1e-9, 0.0, -1.0}) {
      CAPTURE(v);
      RuntimeMedian m;
      m.add(v);
      auto got = m.median();
      REQUIRE(got);
      CHECK(*got > 0.0);
      CHECK(*got <= 1.02e-6);
    }
    RuntimeMedian m;
    m.add(3e-6);
    CHECK(near(m.median(), 3e-6));
  }
}
