// Pacing: how many items the controller keeps queued at an agent's slot behind the running one,
// so that the round trip between an item's end and the next one's Run is hidden: about a round
// trip's worth of items, and none for items long enough that the round trip hardly costs.
#pragma once

#include <chrono>
#include <optional>

namespace parmap::agent {

class Pacing {
public:
  /// At most this many items wait behind a slot's running one.
  static constexpr unsigned k_max_queued = 32;
  /// Items lasting more than this many round trips are not queued: the round trip costs them
  /// under a fifth of their time, while one queued behind a long item could have run at once
  /// on a slot that frees sooner.
  static constexpr double k_longest = 4;

  /// A Run sent to an idle slot was answered by its Started `seconds` later.
  void round_trip(double seconds) { m_round_trip = smooth(m_round_trip, seconds); }
  /// An item ran for `seconds` on the agent.
  void ran(double seconds) { m_duration = smooth(m_duration, seconds); }
  /// Items to keep queued behind a slot's running one: 0 until both are measured.
  unsigned depth() const;

private:
  /// A moving average that follows changes within a few samples.
  static double smooth(std::optional<double> average, double sample);

  std::optional<double> m_round_trip;
  std::optional<double> m_duration;
};

} // namespace parmap::agent
