#include "exec/local/stdin_feeder.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace parmap {
namespace {

/// Bytes per write or splice: a whole grown pipe (1 MiB) at a time.
constexpr std::size_t k_chunk = 1 << 20;
/// Calls per wake-up, so that one fast reader cannot keep the loop from everything else.
constexpr int k_rounds = 16;
/// Where splice(2) cannot read the file: bytes read by hand at a time.
constexpr std::size_t k_copy = 64 * 1024;
constexpr int k_max_retry_ms = 50;

} // namespace

StdinFeeder::StdinFeeder(Reactor& reactor,
                         Fd pipe,
                         std::shared_ptr<const Block> block,
                         std::shared_ptr<BlockQueue> queue)
    : m_reactor(reactor), m_fd(std::move(pipe)), m_block(std::move(block)),
      m_queue(std::move(queue))
{
}

StdinFeeder::StdinFeeder(Reactor& reactor,
                         std::string fifo_path,
                         std::shared_ptr<const Block> block,
                         std::shared_ptr<BlockQueue> queue)
    : m_reactor(reactor), m_fifo_path(std::move(fifo_path)), m_block(std::move(block)),
      m_queue(std::move(queue))
{
}

StdinFeeder::~StdinFeeder()
{
  stop();
}

void StdinFeeder::start()
{
  if (m_fifo_path.empty()) {
    pump();
  } else {
    open_fifo();
  }
}

void StdinFeeder::open_fifo()
{
  // Non-blocking, a FIFO opens for writing only once a reader has it open (ENXIO before).
  int fd = ::open(m_fifo_path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) {
    m_fd.reset(fd);
    pump();
    return;
  }
  if (errno != ENXIO && errno != EINTR) {
    stop(); // the FIFO is gone: nobody can read it any more
    return;
  }
  m_retry = m_reactor.at(Clock::now() + std::chrono::milliseconds(m_retry_ms), [this] {
    m_retry = 0;
    open_fifo();
  });
  m_retry_ms = std::min(m_retry_ms * 2, k_max_retry_ms);
}

void StdinFeeder::on_ready(std::uint32_t)
{
  pump();
}

void StdinFeeder::on_block_ready()
{
  if (!m_done && !m_block && m_fd) {
    pump();
  }
}

void StdinFeeder::pump()
{
  for (int round = 0; round < k_rounds && !m_done; ++round) {
    if (!m_block && !next_block()) {
      return;
    }
    long n = write_some();
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_writable(true);
      } else {
        stop(); // EPIPE: the reader is gone, which is its right; nothing else can be done either
      }
      return;
    }
    m_written += static_cast<std::uint64_t>(n);
    m_at += static_cast<std::uint64_t>(n);
    std::uint64_t header = m_header ? m_block->header_size() : 0;
    if (m_at == header + m_block->body_size()) {
      m_block.reset(); // given whole: the engine keeps it as long as a retry may need it
      m_at = 0;
      m_header = false; // a --round-robin job gets the header once, before its first block
    }
  }
  if (!m_done) {
    wait_writable(true); // more to write: come back in the next round of the loop
  }
}

bool StdinFeeder::next_block()
{
  if (!m_queue) {
    stop(); // the one block was given: the reader sees EOF
    return false;
  }
  switch (m_queue->take(m_block, *this)) {
  case BlockQueue::Take::block:
    m_at = 0;
    return true;
  case BlockQueue::Take::wait:
    wait_writable(false); // on_block_ready() comes when there is one
    return false;
  case BlockQueue::Take::end:
    break;
  }
  stop();
  return false;
}

long StdinFeeder::write_some()
{
  std::uint64_t header = m_header ? m_block->header_size() : 0;
  if (m_at < header) {
    return retry_eintr([&] { return ::write(m_fd.get(), m_block->header->data() + m_at, header - m_at); });
  }
  std::uint64_t at = m_at - header;
  std::uint64_t left = m_block->body_size() - at;
  if (m_block->span) {
    return write_span(*m_block->span, at, left);
  }
  return retry_eintr([&] {
    return ::write(m_fd.get(), m_block->bytes.data() + at, std::min<std::uint64_t>(left, k_chunk));
  });
}

long StdinFeeder::write_span(const FileSpan& span, std::uint64_t at, std::uint64_t left)
{
  if (m_copy_at == m_copy.size() && m_splice) {
    // The file's pages go into the pipe by reference: parmap never copies the bytes.
    loff_t offset = static_cast<loff_t>(span.offset + at);
    long n = retry_eintr([&] {
      return ::splice(span.file->get(), &offset, m_fd.get(), nullptr,
                      std::min<std::uint64_t>(left, k_chunk), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    });
    if (n == 0) {
      errno = EIO; // the file is shorter than when it was split
      return -1;
    }
    if (n > 0 || (errno != EINVAL && errno != ENOSYS)) {
      return n;
    }
    m_splice = false; // a file system that cannot splice: read and write instead
  }
  if (m_copy_at == m_copy.size()) {
    m_copy.resize(std::min<std::uint64_t>(left, k_copy));
    ssize_t n = retry_eintr([&] {
      return ::pread(span.file->get(), m_copy.data(), m_copy.size(), static_cast<off_t>(span.offset + at));
    });
    if (n <= 0) {
      errno = n == 0 ? EIO : errno;
      return -1;
    }
    m_copy.resize(static_cast<std::size_t>(n));
    m_copy_at = 0;
  }
  long n = retry_eintr(
      [&] { return ::write(m_fd.get(), m_copy.data() + m_copy_at, m_copy.size() - m_copy_at); });
  if (n > 0) {
    m_copy_at += static_cast<std::size_t>(n);
  }
  return n;
}

void StdinFeeder::wait_writable(bool wait)
{
  if (!m_fd) {
    return;
  }
  if (!m_watching) {
    if (wait) {
      m_reactor.add(m_fd.get(), EPOLLOUT, this);
      m_watching = true;
      m_writable_wanted = true;
    }
    return;
  }
  if (wait != m_writable_wanted) {
    m_reactor.modify(m_fd.get(), wait ? std::uint32_t{EPOLLOUT} : 0U, this);
    m_writable_wanted = wait;
  }
}

void StdinFeeder::stop()
{
  m_done = true;
  if (m_retry != 0) {
    m_reactor.cancel(m_retry);
    m_retry = 0;
  }
  if (m_queue) {
    m_queue->forget(*this);
  }
  if (m_watching) {
    m_reactor.remove(m_fd.get(), this);
    m_watching = false;
  }
  m_fd.reset();
  m_block.reset();
}

} // namespace parmap
