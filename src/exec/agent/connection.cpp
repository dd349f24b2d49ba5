#include "exec/agent/connection.hpp"

#include "base/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace parmap::agent {
namespace {

/// Frames beyond this many bytes queued in memory spill to disk.
constexpr std::size_t k_memory_budget = 4 * 1024 * 1024;
constexpr std::size_t k_read_size = 256 * 1024;

Clock::duration seconds(double s)
{
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

void set_nonblocking(int fd)
{
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) == 0) {
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }
}

} // namespace

Connection::Connection(Reactor& reactor, Fd in, Fd out, Handler& handler, bool expect_greeting,
                       SpillFactory& spill)
    : m_reactor(reactor), m_in(std::move(in)), m_out(std::move(out)), m_handler(handler),
      m_reader(expect_greeting), m_outbox(spill, k_memory_budget), m_last_in(Clock::now()),
      m_last_out(m_last_in)
{
  set_nonblocking(m_in.get());
  set_nonblocking(m_out.get());
  m_in_watch.owner = this;
  m_out_watch.owner = this;
  m_out_watch.output = true;
  m_reactor.add(m_in.get(), EPOLLIN, &m_in_watch);
}

Connection::~Connection()
{
  if (!m_closed) {
    m_reactor.remove(m_in.get(), &m_in_watch);
  }
  if (m_out_polled) {
    m_reactor.remove(m_out.get(), &m_out_watch);
  }
  for (auto timer : {m_flush_timer, m_beat_timer}) {
    m_reactor.cancel(timer);
  }
}

void Connection::send(const Message& message)
{
  std::string frame;
  append_frame(frame, message);
  send_raw(std::move(frame));
}

void Connection::send_output(std::uint64_t seq, Stream stream, std::string_view bytes)
{
  std::string frame;
  append_output_frame(frame, seq, stream, bytes);
  send_raw(std::move(frame));
}

void Connection::send_file(FileBegin header, Fd file, std::string error)
{
  m_outbox.push_file(std::move(header), std::move(file), std::move(error));
  flush_soon();
}

void Connection::send_path(FileBegin header, const std::string& local)
{
  Fd fd(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  std::string error;
  if (!fd) {
    error = std::strerror(errno);
  } else if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    error = "not a regular file";
    fd.reset();
  }
  header.mode = st.st_mode & 07777;
  send_file(std::move(header), std::move(fd), std::move(error));
}

void Connection::send_raw(std::string bytes)
{
  m_outbox.push(std::move(bytes));
  flush_soon();
}

void Connection::flush_soon()
{
  // Everything sent while this round of events is handled goes out in one write.
  if (m_flush_timer == 0 && !m_out_polled && !m_closed) {
    m_flush_timer = m_reactor.at(Clock::now(), [this] {
      m_flush_timer = 0;
      flush();
    });
  }
}

void Connection::flush()
{
  if (m_closed) {
    return;
  }
  bool had = !m_outbox.empty();
  if (!m_outbox.flush(m_out.get())) {
    close(fmt::format("cannot send: {}", std::strerror(errno)));
    return;
  }
  if (had) {
    m_last_out = Clock::now();
  }
  bool blocked = !m_outbox.empty();
  if (blocked != m_out_polled) {
    // Wait for room only while something waits for it.
    m_out_polled = blocked;
    blocked ? m_reactor.add(m_out.get(), EPOLLOUT, &m_out_watch)
            : m_reactor.remove(m_out.get(), &m_out_watch);
  }
}

void Connection::drain(double limit)
{
  auto deadline = Clock::now() + seconds(limit);
  while (!m_closed && !m_outbox.empty() && Clock::now() < deadline) {
    flush();
    if (!m_outbox.empty()) {
      pollfd p{m_out.get(), POLLOUT, 0};
      ::poll(&p, 1, 50);
    }
  }
}

void Connection::read_ready()
{
  if (m_closed || m_paused) {
    return;
  }
  if (!m_read_buf) {
    m_read_buf.reset(new char[k_read_size]);
  }
  ssize_t n = retry_eintr([&] { return ::read(m_in.get(), m_read_buf.get(), k_read_size); });
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return;
  }
  if (n <= 0) {
    // Frames that arrived before the end are still handled.
    m_peer_closed = n == 0;
    handle_frames();
    close(n == 0 ? "the connection closed" : fmt::format("cannot read: {}", std::strerror(errno)));
    return;
  }
  m_last_in = Clock::now();
  m_reader.feed(std::string_view(m_read_buf.get(), static_cast<std::size_t>(n)));
  handle_frames();
}

void Connection::handle_frames()
{
  try {
    while (!m_closed && !m_paused) {
      auto frame = m_reader.next();
      if (!frame) {
        return;
      }
      Message message = decode(*frame);
      m_handler.on_message(message);
    }
  } catch (const ProtocolError& e) {
    close(fmt::format("protocol error: {}", e.what()));
  }
}

void Connection::pause(bool paused)
{
  if (m_paused == paused || m_closed) {
    return;
  }
  m_paused = paused;
  m_reactor.modify(m_in.get(), paused ? 0U : static_cast<std::uint32_t>(EPOLLIN), &m_in_watch);
  if (!paused) {
    handle_frames(); // those already read
  }
}

void Connection::set_heartbeat(double interval, double limit)
{
  m_interval = interval;
  m_limit = limit;
  m_reactor.cancel(m_beat_timer);
  m_beat_timer = 0;
  if (interval > 0) {
    m_beat_timer = m_reactor.at(Clock::now() + seconds(interval), [this] { beat(); });
  }
}

void Connection::beat()
{
  m_beat_timer = 0;
  auto now = Clock::now();
  if (m_limit > 0 && now - m_last_in > seconds(m_limit) && !m_paused) {
    read_ready(); // this side may have been busy: what waits in the pipe counts
    if (m_closed) {
      return;
    }
    if (Clock::now() - m_last_in > seconds(m_limit)) {
      close(fmt::format("no sign of life for {:g} s", m_limit));
      return;
    }
  }
  if (now - m_last_out >= seconds(m_interval) && m_outbox.empty()) {
    send(Ping{});
  }
  m_beat_timer = m_reactor.at(now + seconds(m_interval), [this] { beat(); });
}

void Connection::close(const std::string& why)
{
  if (m_closed) {
    return;
  }
  m_closed = true;
  m_reactor.remove(m_in.get(), &m_in_watch);
  m_handler.on_closed(why);
}

} // namespace parmap::agent
