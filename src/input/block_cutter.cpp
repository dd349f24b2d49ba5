#include "input/block_cutter.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cmath>
#include <unistd.h>
#include <utility>

namespace parmap {
namespace {

/// Reads at a time when looking for a boundary in a file (GNU parallel's 2^17).
constexpr std::size_t k_probe = 128 * 1024;

std::uint64_t checked_size(std::int64_t size)
{
  if (size < 1) {
    throw Error("--block must be at least 1 byte");
  }
  return static_cast<std::uint64_t>(size);
}

} // namespace

BlockCutter::BlockCutter(const BlockFormat& format)
    : m_boundary(format.recend, format.recstart, format.regexp),
      m_records(format.records * std::max<std::size_t>(format.lines, 1)),
      m_lines(format.records == 0 ? format.lines : 0), m_block(checked_size(format.size)),
      m_target(m_block)
{
  if (!format.header.empty()) {
    m_header_pattern.emplace(format.header);
  }
}

std::span<char> BlockCutter::space()
{
  // While the header is unknown, a block size at a time, as GNU parallel reads it.
  std::size_t want = m_header_pattern || m_len >= m_target ? m_block : m_target - m_len;
  if (m_buf.size() < m_len + want) {
    m_buf.resize(m_len + want);
  }
  return {m_buf.data() + m_len, want};
}

void BlockCutter::added(std::size_t n)
{
  m_len += n;
}

void BlockCutter::end()
{
  m_ended = true;
}

std::optional<std::uint64_t> BlockCutter::take_growth()
{
  return std::exchange(m_grew_from, std::nullopt);
}

bool BlockCutter::take(std::string& body)
{
  if (m_header_pattern && !read_header()) {
    return false;
  }
  while (m_ready.empty() && (m_len >= m_target || (m_ended && m_len > 0))) {
    cut_round();
  }
  if (m_ready.empty()) {
    return false;
  }
  body = std::move(m_ready.front());
  m_ready.pop_front();
  return true;
}

bool BlockCutter::read_header()
{
  auto length = m_header_pattern->length(view(), m_ended);
  if (!length) {
    return false;
  }
  m_header = std::make_shared<const std::string>(m_buf.data(), *length);
  m_buf.erase(0, *length);
  m_len -= *length;
  m_header_pattern.reset();
  m_target = m_len + (m_block - m_len % m_block); // fill up to the next multiple, as GNU does
  return true;
}

void BlockCutter::cut_round()
{
  std::size_t before = m_ready.size();
  if (m_records > 0) {
    cut_records(m_records);
  } else if (m_lines > 0) {
    if (auto split = last_line_multiple()) {
      cut_at(*split);
    }
  } else if (!m_ended) {
    // At the end GNU parallel does not look for a boundary: what is left is one block.
    if (auto split = m_boundary.last(view(), 0)) {
      cut_at(*split);
    }
  }
  if (m_ended) {
    if (m_len > 0) {
      cut_at(m_len);
    }
    return;
  }
  if (m_ready.size() == before) {
    // Not one whole record (or N of them) in a block: grow it, as GNU parallel does.
    m_grew_from = m_grew_from.value_or(m_block);
    m_block = static_cast<std::uint64_t>(std::ceil(static_cast<double>(m_block) * 1.3 + 1));
  }
  m_target = m_len + (m_block - m_len % m_block);
}

void BlockCutter::cut_at(std::size_t split)
{
  if (split == m_len) {
    m_buf.resize(m_len);
    m_ready.push_back(std::move(m_buf));
    m_buf.clear();
    m_len = 0;
    return;
  }
  // The block keeps the buffer (no copy of the large part); the rest moves to a new one.
  std::string rest(m_buf.data() + split, m_len - split);
  m_buf.resize(split);
  m_ready.push_back(std::move(m_buf));
  m_buf = std::move(rest);
  m_len -= split;
}

void BlockCutter::cut_records(std::size_t per_block)
{
  std::string_view all = view();
  std::size_t start = 0;
  std::size_t cut = 0;
  for (;;) {
    std::size_t at = start;
    std::size_t n = 0;
    while (n < per_block) {
      auto split = m_boundary.next(all, at, at + 1);
      if (!split) {
        break;
      }
      at = *split;
      ++n;
    }
    if (n < per_block) {
      break;
    }
    m_ready.emplace_back(all.substr(start, at - start));
    start = at;
    cut = at;
  }
  if (cut > 0) {
    m_buf.erase(0, cut);
    m_len -= cut;
  }
}

std::optional<std::size_t> BlockCutter::last_line_multiple() const
{
  std::string_view all = view();
  auto lines = static_cast<std::size_t>(std::count(all.begin(), all.end(), '\n'));
  std::size_t keep = lines - lines % m_lines;
  if (keep == 0) {
    return std::nullopt;
  }
  std::size_t at = 0;
  for (std::size_t n = 0; n < keep; ++n) {
    at = all.find('\n', at) + 1;
  }
  return at;
}

namespace {

/// The first boundary at or after `from` in the file, or nullopt when none is before its end.
std::optional<std::uint64_t> boundary_from(int fd,
                                           const std::string& name,
                                           std::uint64_t from,
                                           const RecordBoundary& boundary)
{
  std::string buf;
  std::size_t searched = 0;
  for (;;) {
    std::size_t old = buf.size();
    buf.resize(old + k_probe);
    ssize_t n = retry_eintr(
        [&] { return ::pread(fd, buf.data() + old, k_probe, static_cast<off_t>(from + old)); });
    if (n < 0) {
      throw_errno(name, errno);
    }
    buf.resize(old + static_cast<std::size_t>(n));
    if (auto split = boundary.next(buf, boundary.resume_from(searched), 0)) {
      return from + *split;
    }
    if (n == 0) {
      return std::nullopt;
    }
    searched = buf.size();
  }
}

} // namespace

std::vector<std::uint64_t> file_split_points(int fd,
                                             const std::string& name,
                                             std::uint64_t size,
                                             std::uint64_t start,
                                             std::uint64_t block,
                                             const RecordBoundary& boundary)
{
  std::vector<std::uint64_t> points{start};
  for (std::uint64_t at = start + block; at < size; at += block) {
    auto split = boundary_from(fd, name, at, boundary);
    if (!split) {
      break; // no boundary to the end: the rest is the last block
    }
    at = *split;
    points.push_back(at);
  }
  if (points.back() != size) {
    points.push_back(size);
  }
  return points;
}

} // namespace parmap
