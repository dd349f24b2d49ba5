#include "input/spool.hpp"

#include <algorithm>
#include <cstring>
#include <random>

namespace parmap {
namespace {

/// Items held in memory before they go to the file.
constexpr std::size_t k_memory_bound = 1024 * 1024;
/// File bytes given back at a time once taken.
constexpr std::uint64_t k_release_step = 4 * 1024 * 1024;

} // namespace

ItemSpool::ItemSpool(const std::string& dir, bool shuffle) : m_file(dir), m_shuffle(shuffle) {}

void ItemSpool::put(const Record& item)
{
  if (m_shuffle) {
    m_order.push_back(m_in_file + m_memory.size());
  }
  encode_record(item, m_memory);
  ++m_count;
  if (m_memory.size() >= k_memory_bound) {
    flush();
  }
}

void ItemSpool::flush()
{
  m_file.get()->append(m_memory);
  m_in_file += m_memory.size();
  m_memory.clear();
}

void ItemSpool::end_of_input()
{
  m_ended = true;
  if (m_shuffle) {
    std::shuffle(m_order.begin(), m_order.end(), std::mt19937_64(std::random_device{}()));
  }
}

void ItemSpool::read_at(std::uint64_t at, std::size_t n, char* out)
{
  if (at < m_in_file) {
    auto from_file = static_cast<std::size_t>(std::min<std::uint64_t>(n, m_in_file - at));
    m_file.get()->read(at, from_file, out);
    at += from_file;
    out += from_file;
    n -= from_file;
  }
  if (n > 0) {
    std::memcpy(out, m_memory.data() + (at - m_in_file), n);
  }
}

bool ItemSpool::take(Record& out)
{
  std::uint64_t at = 0;
  if (m_shuffle) {
    if (!m_ended || m_next >= m_order.size()) {
      return false;
    }
    at = m_order[m_next++];
  } else {
    if (m_read >= m_in_file + m_memory.size()) {
      return false;
    }
    at = m_read;
  }
  decode_record(
      [&](char* to, std::size_t n) {
        read_at(at, n, to);
        at += n;
      },
      out);
  if (!m_shuffle) {
    m_read = at;
    release_taken();
  }
  return true;
}

void ItemSpool::release_taken()
{
  std::uint64_t taken_in_file = std::min(m_read, m_in_file);
  if (taken_in_file >= m_released + k_release_step) {
    m_file.get()->release(m_released, taken_in_file - m_released);
    m_released = taken_in_file;
  }
}

} // namespace parmap
