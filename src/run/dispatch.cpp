#include "run/dispatch.hpp"

#include <algorithm>
#include <cmath>

namespace parmap {

BatchSizer::BatchSizer(std::size_t batch_size,
                       bool adaptive_tail,
                       std::size_t tail_batches_per_core,
                       std::size_t tail_min_batch_size,
                       unsigned jobs)
    : m_current(std::max<std::size_t>(1, batch_size)), m_adaptive(adaptive_tail),
      m_batches_per_core(tail_batches_per_core), m_threshold(tail_batches_per_core * jobs), m_min(std::max<std::size_t>(1, tail_min_batch_size))
{
}

std::size_t BatchSizer::next(std::size_t in_flight, std::optional<std::uint64_t> unsent)
{
  if (!m_adaptive || !unsent || m_current <= m_min) {
    return m_current;
  }
  std::uint64_t to_send = (*unsent + m_current - 1) / m_current;
  if (in_flight + to_send <= m_threshold) {
    m_current = std::max(m_min, m_current / 2);
  }
  return m_current;
}

namespace {
constexpr double k_min_seconds = 1e-6;
constexpr double k_growth = 1.02;

std::size_t bucket_of(double seconds, std::size_t buckets)
{
  if (!(seconds > k_min_seconds)) {
    return 0; // also NaN
  }
  if (!std::isfinite(seconds)) {
    return buckets - 1;
  }
  double b = std::log(seconds / k_min_seconds) / std::log(k_growth);
  return std::min(buckets - 1, static_cast<std::size_t>(b));
}
} // namespace

void RuntimeMedian::add(double seconds)
{
  ++m_counts[bucket_of(seconds, k_buckets)];
  ++m_count;
}

std::optional<double> RuntimeMedian::median() const
{
  if (m_count == 0) {
    return std::nullopt;
  }
  std::uint64_t half = (m_count + 1) / 2;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < k_buckets; ++i) {
    seen += m_counts[i];
    if (seen >= half) {
      // The bucket's geometric middle.
      return k_min_seconds * std::pow(k_growth, static_cast<double>(i) + 0.5);
    }
  }
  return std::nullopt;
}

} // namespace parmap
