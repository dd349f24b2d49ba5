// Timeline layout for the HTML report: the row (lane) each attempt is drawn in, and marks to
// draw, with attempts that would be thinner than a pixel merged into aggregates, so that a run
// of any size draws in a bounded number of elements and bounded memory.
#pragma once

#include "parmap/report.hpp"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace parmap::report {

/// How an attempt ended, as the report colours it.
enum class Kind : std::uint8_t { ok, failed, timeout, killed, interrupted };
inline constexpr std::size_t k_kinds = 5;
/// The CSS class and legend word: "ok", "failed", "timeout", "killed", "interrupted".
const char* kind_name(Kind kind);
Kind kind_of(const ReportAttempt& attempt);
/// The kind of an attempt from the status its row stores ("ok", "interrupted", ...).
Kind kind_of(std::string_view status);

/// A timeline row: a host (empty for this machine) and a slot (0 when not recorded).
struct LaneKey {
  std::string host;
  unsigned slot = 0;
  auto operator<=>(const LaneKey&) const = default;
};

/// Lanes for intervals that come in start order, without a recorded slot: each goes to the
/// lowest-numbered lane free when it starts, so there are as many lanes as intervals ever
/// overlapped (at most k_max_greedy_lanes: beyond, an interval shares the lane that frees
/// first). The same intervals in the same order always get the same lanes.
class GreedyLanes {
public:
  static constexpr std::size_t k_max_greedy_lanes = 256;
  std::size_t assign(double start, double end);
  std::size_t count() const { return m_free_at.size(); }

private:
  std::vector<double> m_free_at; ///< When each lane's last interval ends.
};

/// The rows of one session's timeline: one per recorded host and slot, in order, then the
/// greedy lanes of attempts whose slot was not recorded (checkpoints of parmap 0.1.0).
class Lanes {
public:
  /// `known`: the recorded rows (any order, no duplicates); `unrecorded`: how many greedy
  /// lanes the attempts without a slot need (GreedyLanes::count() over them).
  Lanes(std::vector<LaneKey> known, std::size_t unrecorded);
  std::size_t size() const { return m_known.size() + m_unrecorded; }
  /// "slot 3", "web1 slot 3", or "lane 2" for a greedy lane.
  std::string label(std::size_t lane) const;
  /// The row of an attempt. Attempts without a slot must come in start order.
  std::size_t lane_of(const ReportAttempt& attempt);

private:
  std::vector<LaneKey> m_known; ///< Sorted.
  std::size_t m_unrecorded = 0;
  GreedyLanes m_greedy;
};

/// What to draw in a lane: the bar of one attempt, or an aggregate of attempts of one kind,
/// each thinner than a pixel, that follow each other with no pixel column free between them.
struct Mark {
  std::size_t lane = 0;
  Kind kind = Kind::ok;
  double x = 0;                           ///< Pixels from the start of the plot.
  double width = 1;                       ///< Pixels, at least 1.
  const ReportAttempt* attempt = nullptr; ///< The attempt of a bar; null for an aggregate.
  std::uint64_t count = 1;                ///< Attempts in it.
  double busy = 0;                        ///< Seconds its attempts ran, in all.
  double first = 0; ///< Seconds from the plot's start to the start of its first attempt.
  double last = 0;  ///< ... to the end of its last attempt.
};

/// Turns a session's attempts into marks. Attempts at least a pixel wide are bars at once;
/// thinner ones gather per lane and kind, and the aggregate (or the bar of a lone one) is
/// emitted when the next one of its kind leaves a pixel column free. Kinds gather apart so that
/// a rare failure among thousands of successes stays a bar of its own. Holds one pending
/// aggregate per lane and kind.
class TimelinePainter {
public:
  /// `t0`: the Unix time at the plot's left edge.
  TimelinePainter(double t0,
                  double pixels_per_second,
                  std::size_t lanes,
                  std::function<void(const Mark&)> emit);
  /// Adds an attempt; each lane's attempts must come in start order.
  void add(std::size_t lane, const ReportAttempt& attempt);
  /// Emits what is still pending.
  void finish();

private:
  struct Pending {
    Mark mark;
    ReportAttempt single; ///< The attempt, while the aggregate holds one.
    long column = -1;     ///< The pixel column its last attempt starts in; -1 when empty.
  };
  void flush(Pending& p);

  double m_t0;
  double m_scale;
  std::vector<Pending> m_pending; ///< Per lane, then per kind.
  std::function<void(const Mark&)> m_emit;
};

} // namespace parmap::report
