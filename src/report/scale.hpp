// Scales for the HTML report's charts: round tick steps for time axes, and the bins of a
// duration histogram, logarithmic when durations spread over decades.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace parmap::report {

/// A round step for an axis spanning `span` seconds with at most `max_ticks` ticks: 1-2-5
/// multiples of a power of ten up to a minute, then 1, 2, 5, 10, 15, 30 minutes, 1, 2, 3, 6,
/// 12 hours, then days.
double tick_step(double span, int max_ticks);

/// The bins of a duration histogram and where a duration lies along its axis.
class DurationBins {
public:
  /// Linear bins over [0, a round number >= max] or, when the durations spread over two
  /// decades or more (max >= 100 x min_positive), bins over whole decades on a log scale
  /// (durations below the first decade, 0 included, fall into the first bin).
  DurationBins(double min_positive, double max);

  bool log() const { return m_log; }
  std::size_t size() const { return m_bins; }
  /// The bin a duration falls into (durations off the axis go to the first or last bin).
  std::size_t bin_of(double seconds) const;
  /// The bin's lower bound in seconds.
  double lower(std::size_t bin) const;
  /// Where `seconds` lies along the axis, 0 at the start and 1 at the end (clamped).
  double position(double seconds) const;
  /// Durations to label the axis with.
  std::vector<double> ticks() const;

private:
  bool m_log = false;
  double m_lo = 0; ///< Start of the axis (seconds).
  double m_hi = 1; ///< End of the axis (seconds).
  std::size_t m_bins = 1;
};

} // namespace parmap::report
