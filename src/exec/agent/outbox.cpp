#include "exec/agent/outbox.hpp"

#include "base/error.hpp"

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace parmap::agent {
namespace {
/// One write(2) takes up to this much; memory entries grow up to it by coalescing.
constexpr std::size_t k_write_size = 256 * 1024;
} // namespace

Outbox::Outbox(SpillFactory& spill, std::size_t memory_budget)
    : m_spill(spill), m_budget(memory_budget)
{
}

void Outbox::push(std::string frames)
{
  if (frames.empty()) {
    return;
  }
  if (m_memory + frames.size() > m_budget) {
    const auto& file = m_spill.get();
    std::uint64_t at = file->append(frames);
    m_entries.push_back(Entry{{}, Extent{at, frames.size()}, nullptr});
    return;
  }
  m_memory += frames.size();
  Entry* back = m_entries.empty() ? nullptr : &m_entries.back();
  if (back != nullptr && !back->file && back->spilled.size == 0 &&
      back->bytes.size() + frames.size() <= k_write_size) {
    back->bytes += frames; // small frames coalesce: one write for a run of them
    return;
  }
  m_entries.push_back(Entry{std::move(frames), {}, nullptr});
}

void Outbox::push_file(FileBegin header, Fd file, std::string error)
{
  auto source = std::make_unique<FileSource>();
  source->header = std::move(header);
  source->fd = std::move(file);
  source->error = std::move(error);
  m_entries.push_back(Entry{{}, {}, std::move(source)});
}

bool Outbox::read_file(FileSource& file)
{
  if (!file.begun) {
    file.begun = true;
    append_frame(m_head, file.header);
  }
  if (!file.fd) {
    append_frame(m_head, FileEnd{file.error.empty() ? "cannot be read" : file.error});
    return true;
  }
  std::string chunk(k_chunk, '\0');
  ssize_t n = retry_eintr([&] { return ::read(file.fd.get(), chunk.data(), chunk.size()); });
  if (n > 0) {
    chunk.resize(static_cast<std::size_t>(n));
    append_frame(m_head, FileData{std::move(chunk)});
    return false;
  }
  append_frame(m_head, FileEnd{n < 0 ? std::strerror(errno) : ""});
  return true;
}

bool Outbox::fill_head()
{
  m_head.clear();
  m_head_pos = 0;
  while (!m_entries.empty() && m_head.size() < k_write_size) {
    Entry& e = m_entries.front();
    if (e.file) {
      if (!read_file(*e.file)) {
        break; // more of the file next time: the frames after it must wait for its end
      }
    } else if (e.spilled.size > 0) {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(e.spilled.size, k_write_size));
      std::size_t at = m_head.size();
      m_head.resize(at + n);
      const auto& file = m_spill.get();
      file->read(e.spilled.offset, n, m_head.data() + at);
      file->release(e.spilled.offset, n);
      e.spilled.offset += n;
      e.spilled.size -= n;
      if (e.spilled.size > 0) {
        break;
      }
    } else {
      m_memory -= e.bytes.size();
      if (m_head.empty()) {
        m_head.swap(e.bytes);
      } else {
        m_head += e.bytes;
      }
    }
    m_entries.pop_front();
  }
  return !m_head.empty();
}

bool Outbox::flush(int fd)
{
  for (;;) {
    if (m_head_pos == m_head.size() && !fill_head()) {
      return true;
    }
    ssize_t n = ::write(fd, m_head.data() + m_head_pos, m_head.size() - m_head_pos);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    m_head_pos += static_cast<std::size_t>(n);
  }
}

} // namespace parmap::agent
