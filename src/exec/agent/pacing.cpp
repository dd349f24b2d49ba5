#include "exec/agent/pacing.hpp"

#include <algorithm>
#include <cmath>

namespace parmap::agent {

unsigned Pacing::depth() const
{
  if (!m_round_trip || !m_duration) {
    return 0;
  }
  double duration = std::max(*m_duration, 1e-6);
  if (duration > k_longest * *m_round_trip) {
    return 0;
  }
  double items = std::ceil(*m_round_trip / duration);
  return static_cast<unsigned>(std::clamp(items, 1.0, static_cast<double>(k_max_queued)));
}

double Pacing::smooth(std::optional<double> average, double sample)
{
  return average ? *average + (sample - *average) / 4 : sample;
}

} // namespace parmap::agent
