// The HTML report's parts: escaping, number formats, scales, lanes, the aggregation of thin bars,
// and the page written from a checkpoint (the browser checks are in e2e/test_html_report.py).
#include "report/html.hpp"
#include "report/scale.hpp"
#include "report/timeline.hpp"
#include "store/checkpoint.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <random>

using namespace parmap;
using namespace parmap::report;

namespace {

ReportAttempt
attempt(double started, double duration, Status status = Status::ok, unsigned slot = 1)
{
  ReportAttempt a;
  a.item = "item";
  a.started = started;
  a.duration = duration;
  a.status = status;
  a.slot = slot;
  return a;
}

/// The marks a painter emits for attempts of lane 0, 1000 px for `span` seconds.
std::vector<Mark> paint(const std::vector<ReportAttempt>& attempts, double span = 1000)
{
  std::vector<Mark> marks;
  TimelinePainter painter(0, 1000 / span, 1, [&](const Mark& m) {
    marks.push_back(m);
    marks.back().attempt = nullptr; // points at the painter's copy, gone after the call
    marks.back().count = m.attempt ? 1 : m.count;
  });
  for (const auto& a : attempts) {
    painter.add(0, a);
  }
  painter.finish();
  return marks;
}

} // namespace

TEST_CASE("report: append_html makes any bytes safe text")
{
  CHECK(html("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;");
  CHECK(html("\"><img src=x onerror='y'>&") ==
        "&quot;&gt;&lt;img src=x onerror=&#39;y&#39;&gt;&amp;");
  CHECK(html("a\nb\tc\x01\x7f") == "a\\nb\\tc\\x01\\x7f");
  CHECK(html("a\nb\tc", SIZE_MAX, Lines::keep) == "a\nb\tc");
  CHECK(html("caf\xC3\xA9 \xFF\xC3") == "caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD");
  SUBCASE("cut at a character, marked")
  {
    CHECK(html("abcdef", 3) == "abc\xE2\x80\xA6");
    CHECK(html("\xC3\xA9\xC3\xA9", 3) == "\xC3\xA9\xC3\xA9"); // the character is whole
    CHECK(html("abc", 3) == "abc");
  }
}

TEST_CASE("report: numbers for people")
{
  CHECK(format_seconds(0) == "0");
  CHECK(format_seconds(-1) == "0");
  CHECK(format_seconds(0.00025) == "250\xC2\xB5s");
  CHECK(format_seconds(0.0125) == "12ms");
  CHECK(format_seconds(0.005) == "5.0ms");
  CHECK(format_seconds(1.25) == "1.25s");
  CHECK(format_seconds(42.5) == "42.5s");
  CHECK(format_seconds(125) == "2m05s");
  CHECK(format_seconds(3720) == "1h02m");
  CHECK(format_seconds(2 * 86400 + 3600) == "2d01h");
  CHECK(format_count(0) == "0");
  CHECK(format_count(999) == "999");
  CHECK(format_count(100000) == "100,000");
  CHECK(format_count(1234567) == "1,234,567");
  CHECK(format_clock(std::nan("")) == "?");
}

TEST_CASE("report: tick steps are round")
{
  CHECK(tick_step(1, 10) == doctest::Approx(0.1));
  CHECK(tick_step(2.64, 10) == doctest::Approx(0.5));
  CHECK(tick_step(45, 10) == doctest::Approx(5));
  CHECK(tick_step(1048, 10) == doctest::Approx(120));
  CHECK(tick_step(3 * 86400, 10) == doctest::Approx(43200));
  CHECK(tick_step(100 * 86400, 10) == doctest::Approx(10 * 86400));
}

TEST_CASE("report: duration bins go logarithmic over two decades")
{
  SUBCASE("linear from 0 to a round number")
  {
    DurationBins bins(0.1, 1.002);
    CHECK_FALSE(bins.log());
    CHECK(bins.size() == 40);
    CHECK(bins.lower(0) == 0);
    CHECK(bins.position(1.002) <= 1);
    CHECK(bins.bin_of(0) == 0);
    CHECK(bins.bin_of(1.002) < bins.size());
    CHECK(bins.bin_of(1e9) == bins.size() - 1);
    CHECK(bins.ticks().front() == 0);
  }
  SUBCASE("log over whole decades, zero in the first bin")
  {
    DurationBins bins(0.004, 30);
    CHECK(bins.log());
    CHECK(bins.lower(0) == doctest::Approx(0.001));
    CHECK(bins.ticks() == std::vector<double>{0.001, 0.01, 0.1, 1, 10, 100});
    CHECK(bins.size() == 25); // 5 decades, 5 bins each
    CHECK(bins.bin_of(0) == 0);
    CHECK(bins.bin_of(1) == 15);
    CHECK(bins.position(1) == doctest::Approx(0.6));
  }
  SUBCASE("nonsense from a damaged file stays on the axis")
  {
    DurationBins bins(std::nan(""), -5);
    CHECK(bins.bin_of(std::nan("")) == 0);
    CHECK(bins.bin_of(1e300) == bins.size() - 1);
  }
}

TEST_CASE("report: greedy lanes for slots nobody recorded")
{
  GreedyLanes lanes;
  CHECK(lanes.assign(0, 2) == 0);
  CHECK(lanes.assign(0.5, 1.5) == 1);
  CHECK(lanes.assign(1, 3.5) == 2);
  CHECK(lanes.assign(1.6, 2.6) == 1);  // lane 1 freed at 1.5: the lowest free lane
  CHECK(lanes.assign(2.0005, 4) == 0); // clock noise does not open a lane
  CHECK(lanes.count() == 3);
  GreedyLanes crowd;
  for (int i = 0; i < 1000; ++i) {
    crowd.assign(0, 1);
  }
  CHECK(crowd.count() == GreedyLanes::k_max_greedy_lanes);
}

TEST_CASE("report: lanes are rows per host and slot, then greedy lanes")
{
  Lanes lanes({{"", 2}, {"", 1}, {"web1", 1}}, 2);
  REQUIRE(lanes.size() == 5);
  CHECK(lanes.label(0) == "slot 1");
  CHECK(lanes.label(1) == "slot 2");
  CHECK(lanes.label(2) == "web1 slot 1");
  CHECK(lanes.label(3) == "lane 1");
  auto remote = attempt(0, 1, Status::ok, 1);
  remote.host = "web1";
  CHECK(lanes.lane_of(remote) == 2);
  CHECK(lanes.lane_of(attempt(0, 1, Status::ok, 2)) == 1);
  CHECK(lanes.lane_of(attempt(0, 1, Status::ok, 0)) == 3);
  CHECK(lanes.lane_of(attempt(0.5, 1, Status::ok, 0)) == 4);
}

TEST_CASE("report: bars thinner than a pixel gather, nothing is lost")
{
  SUBCASE("wide attempts are bars of their own")
  {
    auto marks = paint({attempt(0, 10), attempt(10, 10), attempt(25, 1.5)});
    REQUIRE(marks.size() == 3);
    CHECK(marks[2].x == doctest::Approx(25));
    CHECK(marks[2].width == doctest::Approx(1.5));
  }
  SUBCASE("neighbours merge; a free pixel column splits them")
  {
    std::vector<ReportAttempt> as;
    for (int i = 0; i < 100; ++i) {
      as.push_back(attempt(i * 0.1, 0.09)); // ten per pixel, columns 0 to 9
    }
    as.push_back(attempt(12, 0.5)); // column 11 is free: a new mark, and alone a bar
    auto marks = paint(as);
    REQUIRE(marks.size() == 2);
    CHECK(marks[0].count == 100);
    CHECK(marks[0].x == 0);
    CHECK(marks[0].width == doctest::Approx(9.99));
    CHECK(marks[0].busy == doctest::Approx(9));
    CHECK(marks[1].count == 1);
  }
  SUBCASE("a rare failure among successes stays a mark of its own")
  {
    std::vector<ReportAttempt> as;
    for (int i = 0; i < 50; ++i) {
      as.push_back(attempt(i * 0.1, 0.09, i == 20 ? Status::failed : Status::ok));
    }
    auto marks = paint(as);
    REQUIRE(marks.size() == 2);
    auto failed = std::find_if(marks.begin(), marks.end(),
                               [](const Mark& m) { return m.kind == Kind::failed; });
    REQUIRE(failed != marks.end());
    CHECK(failed->count == 1);
    CHECK(failed->x == doctest::Approx(2));
  }
  SUBCASE("any number of attempts: all counted, marks bounded by pixels")
  {
    std::mt19937 rng(3);
    std::exponential_distribution<double> gap(50), length(20);
    std::vector<ReportAttempt> as;
    double t = 0;
    for (int i = 0; i < 200000; ++i) {
      as.push_back(attempt(t, length(rng), rng() % 100 == 0 ? Status::failed : Status::ok));
      t = as.back().started + as.back().duration + gap(rng);
    }
    auto marks = paint(as, t);
    std::uint64_t total = 0;
    for (const auto& m : marks) {
      total += m.count;
    }
    CHECK(total == as.size());
    CHECK(marks.size() < 2 * 1000 + 2000); // at most about a mark per pixel and kind
  }
}

TEST_CASE("report: the page from a checkpoint")
{
  auto dir = test::scratch("report-page");
  auto db = dir / "run.db";
  {
    RunRecord run{"echo {}", "opts", "test"};
    run.slots = 2;
    Checkpoint cp(db.string(), run, CheckpointMode{});
    for (std::uint64_t i = 1; i <= 4; ++i) {
      Result r;
      r.seq = i;
      r.item = i == 3 ? "<script>alert(1)</script>" : "item " + std::to_string(i);
      r.args = {r.item}; // the checkpoint keys a result by its arguments
      r.status = i == 4 ? Status::failed : Status::ok;
      r.slot = 1 + i % 2;
      r.started = std::chrono::system_clock::now() + std::chrono::seconds(i);
      r.duration = 0.5;
      cp.record(r, 1);
    }
  }
  {
    // A resume that only replays: a session without attempts.
    SpillFactory spill(dir.string());
    CheckpointMode resume;
    resume.resume = true;
    Checkpoint cp(db.string(), RunRecord{"echo {}", "opts", "test"}, resume);
    CHECK(cp.lookup("item 1", 1, spill));
  }
  std::string page;
  std::size_t pieces = 0;
  write_html_report(db.string(), [&](std::string_view piece) {
    page += piece;
    ++pieces;
  });
  CHECK(page.find("No attempt ran in this session.") != std::string::npos);
  // Its span runs from its start to its last commit: a moment, not years since 1970.
  auto resumed = page.substr(page.find("Session 2"), 200);
  CAPTURE(resumed);
  CHECK(resumed.find("ms from start to last record") != std::string::npos);
  CHECK(page.starts_with("<!DOCTYPE html>"));
  CHECK(page.ends_with("</html>\n"));
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  auto occurrences = [&](std::string_view s) {
    std::size_t n = 0;
    for (auto at = page.find(s); at != std::string::npos; at = page.find(s, at + 1)) {
      ++n;
    }
    return n;
  };
  CHECK(occurrences("<g class=\"lane\">") == 2);
  CHECK(occurrences("<rect class=\"bar ") == 4);
  CHECK(occurrences("<rect class=\"bar failed") == 1);
  CHECK(occurrences("Content-Security-Policy") == 1);
  CHECK(pieces >= 1);
}
