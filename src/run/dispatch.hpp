// Dispatch rules as pure functions of counters: batch sizes with adaptive tail batching, and
// the median runtime behind --timeout N%.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace parmap {

/// Sizes successive batches. Once the batches left (in flight + still to send) are at most
/// tail_batches_per_core x jobs, each new batch is half the previous one, down to the minimum.
/// Off when the number of items is unknown.
class BatchSizer {
public:
  BatchSizer(std::size_t batch_size,
             bool adaptive_tail,
             std::size_t tail_batches_per_core,
             std::size_t tail_min_batch_size,
             unsigned jobs);
  /// The size of the next batch. `unsent` is the number of items not yet dispatched, when the
  /// input's length is known.
  std::size_t next(std::size_t in_flight, std::optional<std::uint64_t> unsent);
  std::size_t current() const { return m_current; }
  /// The number of slots changed (-j FILE): the tail's threshold follows it.
  void set_jobs(unsigned jobs) { m_threshold = m_batches_per_core * jobs; }

private:
  std::size_t m_current;
  bool m_adaptive;
  std::size_t m_batches_per_core;
  std::size_t m_threshold;
  std::size_t m_min;
};

/// The median of runtimes seen so far, in constant memory: a histogram with buckets 2% apart
/// from 1 microsecond to over a year (the median is exact to within one bucket).
class RuntimeMedian {
public:
  void add(double seconds);
  /// nullopt before the first sample.
  std::optional<double> median() const;
  std::uint64_t count() const { return m_count; }

private:
  // 1e-6 s x 1.02^1600 is about 5.7e7 s (1.8 years); 1200 buckets stopped at 5.8 hours.
  static constexpr std::size_t k_buckets = 1600;
  std::array<std::uint32_t, k_buckets> m_counts{};
  std::uint64_t m_count = 0;
};

} // namespace parmap
