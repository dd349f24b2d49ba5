#include "report/scale.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace parmap::report {
namespace {

constexpr std::size_t k_linear_bins = 40;

/// The smallest 1-2-5 multiple of a power of ten that is at least `v`.
double round_up_125(double v)
{
  double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= v * (1 - 1e-9)) {
      return m * p;
    }
  }
  return 10 * p;
}

} // namespace

double tick_step(double span, int max_ticks)
{
  double raw = std::max(span, 1e-6) / std::max(1, max_ticks);
  if (raw <= 60) {
    return round_up_125(raw);
  }
  static constexpr std::array<double, 11> k_long = {120,  300,   600,   900,   1800, 3600,
                                                    7200, 10800, 21600, 43200, 86400};
  for (double step : k_long) {
    if (step >= raw) {
      return step;
    }
  }
  return 86400 * std::ceil(raw / 86400);
}

DurationBins::DurationBins(double min_positive, double max)
{
  max = std::isfinite(max) && max > 0 ? max : 1;
  min_positive = std::clamp(std::isfinite(min_positive) ? min_positive : max, 1e-6, max);
  m_log = max >= 100 * min_positive;
  if (!m_log) {
    double step = round_up_125(max / 8);
    m_hi = step * std::ceil(max / step * (1 - 1e-9));
    m_bins = k_linear_bins;
    return;
  }
  m_lo = std::pow(10.0, std::floor(std::log10(min_positive)));
  m_hi = std::pow(10.0, std::ceil(std::log10(max)));
  auto decades = static_cast<std::size_t>(std::lround(std::log10(m_hi / m_lo)));
  std::size_t per_decade = decades <= 4 ? 10 : decades <= 8 ? 5 : 2;
  m_bins = std::max<std::size_t>(1, decades) * per_decade;
}

double DurationBins::position(double seconds) const
{
  double p = 0;
  if (m_log) {
    p = seconds > m_lo ? std::log10(seconds / m_lo) / std::log10(m_hi / m_lo) : 0;
  } else {
    p = seconds / m_hi;
  }
  return std::clamp(std::isfinite(p) ? p : 0.0, 0.0, 1.0);
}

std::size_t DurationBins::bin_of(double seconds) const
{
  auto bin = static_cast<std::size_t>(position(seconds) * static_cast<double>(m_bins));
  return std::min(bin, m_bins - 1);
}

double DurationBins::lower(std::size_t bin) const
{
  double f = static_cast<double>(bin) / static_cast<double>(m_bins);
  return m_log ? m_lo * std::pow(m_hi / m_lo, f) : m_hi * f;
}

std::vector<double> DurationBins::ticks() const
{
  std::vector<double> ticks;
  if (m_log) {
    for (double t = m_lo; t <= m_hi * (1 + 1e-9); t *= 10) {
      ticks.push_back(t);
    }
    return ticks;
  }
  double step = round_up_125(m_hi / 5);
  for (double t = 0; t <= m_hi * (1 + 1e-9); t += step) {
    ticks.push_back(t);
  }
  return ticks;
}

} // namespace parmap::report
