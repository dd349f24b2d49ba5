#include "exec/block.hpp"

#include "base/error.hpp"

#include <fmt/format.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <unistd.h>

namespace parmap {
namespace {

/// XXH3 of the header and the body: a block's identity must not depend on where it sits.
std::uint64_t hash_of(const Block& block)
{
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  if (block.header) {
    XXH3_64bits_update(&state, block.header->data(), block.header->size());
  }
  if (!block.span) {
    XXH3_64bits_update(&state, block.bytes.data(), block.bytes.size());
    return XXH3_64bits_digest(&state);
  }
  const FileSpan& span = *block.span;
  std::string buf(std::min<std::uint64_t>(span.length, 1 << 20), '\0');
  for (std::uint64_t done = 0; done < span.length;) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(span.length - done, buf.size()));
    ssize_t n = retry_eintr([&] {
      return ::pread(span.file->get(), buf.data(), want, static_cast<off_t>(span.offset + done));
    });
    if (n <= 0) {
      throw_errno(span.path, n == 0 ? EIO : errno); // the file shrank under the run
    }
    XXH3_64bits_update(&state, buf.data(), static_cast<std::size_t>(n));
    done += static_cast<std::uint64_t>(n);
  }
  return XXH3_64bits_digest(&state);
}

} // namespace

std::string Block::key() const
{
  if (span) {
    return fmt::format("bytes {}-{} (xxh3 {:016x})", span->offset, span->offset + span->length - 1,
                       hash_of(*this));
  }
  return fmt::format("block {} ({} bytes, xxh3 {:016x})", ordinal, bytes.size(), hash_of(*this));
}

void BlockQueue::push(std::shared_ptr<const Block> block, bool wake)
{
  m_blocks.push_back(std::move(block));
  if (wake) {
    wake_one();
  }
}

void BlockQueue::close()
{
  m_closed = true;
  while (!m_waiting.empty()) {
    wake_one();
  }
}

void BlockQueue::wake_one()
{
  if (m_waiting.empty()) {
    return;
  }
  Taker* taker = m_waiting.front();
  m_waiting.pop_front();
  taker->on_block_ready(); // may take() right away, or push itself back
}

BlockQueue::Take BlockQueue::take(std::shared_ptr<const Block>& out, Taker& taker)
{
  if (!m_blocks.empty()) {
    out = std::move(m_blocks.front());
    m_blocks.pop_front();
    return Take::block;
  }
  if (m_closed) {
    return Take::end;
  }
  if (std::find(m_waiting.begin(), m_waiting.end(), &taker) == m_waiting.end()) {
    m_waiting.push_back(&taker);
  }
  return Take::wait;
}

void BlockQueue::forget(Taker& taker)
{
  std::erase(m_waiting, &taker);
}

} // namespace parmap
