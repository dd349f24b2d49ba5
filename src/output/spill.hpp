// Captured output: bytes kept in memory up to a bound, the rest in one unlinked temporary file.
#pragma once

#include "base/fd.hpp"
#include "parmap/output.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// One per run: an unlinked file (O_TMPFILE, mode 0600) in the temporary directory. Outputs
/// too large to keep in memory are appended to it; their ranges are punched out when released,
/// so disk use follows what is still pending. Nothing is left behind, even after a crash.
class SpillFile {
public:
  /// Creates the file in `dir` ($TMPDIR or /tmp when empty). Throws parmap::Error.
  explicit SpillFile(const std::string& dir);
  /// Appends bytes and returns their offset. Throws parmap::Error (e.g. a full disk).
  std::uint64_t append(std::string_view bytes);
  /// Moves up to `max` bytes from a pipe to the end of the file without copying them through
  /// memory (splice(2)). Returns the bytes moved and sets `offset` to where they went, 0 at the
  /// pipe's end, or -1 with errno set (EAGAIN: the pipe is empty).
  long splice_in(int pipe_fd, std::size_t max, std::uint64_t& offset);
  /// Reads exactly `size` bytes at `offset` into `out`. Throws parmap::Error.
  void read(std::uint64_t offset, std::size_t size, char* out) const;
  /// Gives the disk space of a range back (best effort).
  void release(std::uint64_t offset, std::uint64_t size);
  int fd() const { return m_fd.get(); }
  const std::string& dir() const { return m_dir; }

private:
  Fd m_fd;
  std::string m_dir;
  std::uint64_t m_end = 0;
};

/// Makes the spill file on first use, so that runs whose outputs stay small never create one.
class SpillFactory {
public:
  explicit SpillFactory(std::string dir) : m_dir(std::move(dir)) {}
  const std::shared_ptr<SpillFile>& get();

private:
  std::string m_dir;
  std::shared_ptr<SpillFile> m_file;
};

struct Extent {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

namespace detail {

/// The bytes behind an Output: `extents` in the spill file, then `memory`.
struct StoredBytes {
  std::shared_ptr<SpillFile> spill;
  std::vector<Extent> extents;
  std::string memory;

  StoredBytes() = default;
  StoredBytes(const StoredBytes&) = delete;
  StoredBytes& operator=(const StoredBytes&) = delete;
  ~StoredBytes();
  /// Appends a range of the spill file, merging it with the last one when they touch.
  void add_extent(std::uint64_t offset, std::uint64_t size);
  /// Moves what memory holds to the end of the spill file (set), and frees the memory.
  void spill_memory();
  /// Calls sink with consecutive pieces, each at most `chunk` bytes.
  template <typename Sink> void for_each(Sink&& sink, std::size_t chunk = 64 * 1024) const;
};

struct OutputAccess {
  static Output make(std::shared_ptr<const StoredBytes> bytes, std::uint64_t size)
  {
    Output out;
    out.m_bytes = std::move(bytes);
    out.m_size = size;
    return out;
  }
  static const std::shared_ptr<const StoredBytes>& handle(const Output& out)
  {
    return out.m_bytes;
  }
};

template <typename Sink> void StoredBytes::for_each(Sink&& sink, std::size_t chunk) const
{
  std::string buf;
  for (const auto& e : extents) {
    for (std::uint64_t done = 0; done < e.size;) {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, e.size - done));
      buf.resize(n);
      spill->read(e.offset + done, n, buf.data());
      sink(std::string_view(buf));
      done += n;
    }
  }
  for (std::size_t done = 0; done < memory.size(); done += chunk) {
    sink(std::string_view(memory).substr(done, chunk));
  }
}

} // namespace detail

/// The output of one stream of one running item, growing as the pipe delivers it.
class Capture {
public:
  /// Appends bytes; keeps them in memory while `in_memory_limit` allows, else spills.
  void append(std::string_view bytes, SpillFactory& spill, std::size_t in_memory_limit);
  /// Counts bytes that were forwarded and are not kept.
  void count_only(std::size_t n) { m_size += n; }
  /// True once the capture keeps its bytes in the spill file (it outgrew its memory bound).
  bool spilled() const { return m_bytes && m_bytes->spill; }
  /// For a spilled capture: moves up to `max` bytes from a pipe straight into the spill file
  /// (after what is held in memory, which goes first). Returns as SpillFile::splice_in().
  long splice_from(int pipe_fd, std::size_t max);
  std::uint64_t size() const { return m_size; }
  /// Bytes held in memory (for the run's memory budget).
  std::size_t memory_bytes() const { return m_bytes ? m_bytes->memory.size() : 0; }
  /// Turns what was captured into an Output and resets the capture.
  Output finish();
  /// Drops what was captured (a retried attempt).
  void clear();
  /// Moves the kept bytes out (for forwarding an item that starts streaming) and keeps counting.
  std::shared_ptr<detail::StoredBytes> take_kept();
  /// The kept bytes, shared (they go on growing with later appends).
  std::shared_ptr<const detail::StoredBytes> kept() const { return m_bytes; }

private:
  std::shared_ptr<detail::StoredBytes> m_bytes;
  std::uint64_t m_size = 0;
};

} // namespace parmap
