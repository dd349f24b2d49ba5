// parmap::Output: the bytes one item wrote to stdout or stderr, in memory or in a spill file.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace parmap {

namespace detail {
struct StoredBytes;
struct OutputAccess;
} // namespace detail

/// A cheap, shareable handle on one stream of one item. Small outputs live in memory; large ones
/// in an unlinked temporary file, so holding many results does not hold their bytes in RAM.
/// When the engine forwarded the bytes itself (Options::forward) only the size is kept.
class Output {
public:
  Output() = default;

  /// Number of bytes the item wrote.
  std::uint64_t size() const { return m_size; }
  bool empty() const { return m_size == 0; }
  /// False when the bytes were forwarded and not retained; str() is then empty.
  bool kept() const { return m_size == 0 || m_bytes != nullptr; }

  /// All the bytes. Throws parmap::Error if a spill file cannot be read.
  std::string str() const;
  /// The last `n` bytes (or fewer).
  std::string tail(std::size_t n) const;
  /// Calls `sink` with consecutive pieces of the bytes (each at most 64 KiB).
  void for_each_chunk(const std::function<void(std::string_view)>& sink) const;
  /// Writes all the bytes to `fd` (blocking). Throws parmap::Error on a write error.
  void write_to(int fd) const;

private:
  friend struct detail::OutputAccess;
  std::shared_ptr<const detail::StoredBytes> m_bytes;
  std::uint64_t m_size = 0;
};

} // namespace parmap
