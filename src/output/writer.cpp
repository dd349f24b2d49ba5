#include "output/writer.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace parmap {
namespace {
constexpr std::size_t k_chunk = 128 * 1024;

/// The last of the first n bytes iov holds: the last byte a write of n bytes wrote.
char last_byte(const std::vector<iovec>& iov, std::size_t n)
{
  for (const auto& v : iov) {
    if (n <= v.iov_len) {
      return static_cast<const char*>(v.iov_base)[n - 1];
    }
    n -= v.iov_len;
  }
  return '\n';
}
} // namespace

bool BytesPiece::fill(std::string& buf, std::size_t max)
{
  std::size_t n = std::min(max, left());
  buf.append(left_view().substr(0, n));
  m_offset += n;
  return left() > 0;
}

OutputWriter::OutputWriter(Reactor& reactor, int out_fd, int err_fd) : m_reactor(reactor)
{
  int fds[2] = {out_fd, err_fd};
  for (int i = 0; i < 2; ++i) {
    Queue& q = m_queues[i];
    q.owner = this;
    q.stream = i;
    q.present = fds[i] >= 0;
    if (q.present) {
      q.fd = make_nonblocking_view(fds[i], true);
      // Only stdout: a closed stderr does not stop the run.
      q.watch_hangup = i == 0 && (q.fd.kind == FdKind::socket || is_pipe(q.fd.fd));
      set_polling(q, false);
    }
  }
}

OutputWriter::~OutputWriter()
{
  for (auto& q : m_queues) {
    q.watch_hangup = false;
    set_polling(q, false);
  }
}

bool OutputWriter::idle() const
{
  return m_queues[0].entries.empty() && m_queues[1].entries.empty();
}

void OutputWriter::write(int stream, std::string bytes)
{
  if (!bytes.empty()) {
    write(stream, std::make_unique<BytesPiece>(std::move(bytes)));
  }
}

void OutputWriter::write(int stream, std::unique_ptr<Piece> piece)
{
  Queue& q = m_queues[stream];
  if (!q.present) {
    return;
  }
  if (auto* bytes = piece->as_bytes()) {
    m_queued += bytes->left();
  }
  q.entries.push_back(Entry{std::move(piece), 0, {}});
}

void OutputWriter::write(int stream, FileRange range)
{
  Queue& q = m_queues[stream];
  if (!q.present || range.size == 0) {
    return;
  }
  q.entries.push_back(Entry{nullptr, 0, std::move(range)});
}

void OutputWriter::watch_terminals(std::function<void(bool)> fn)
{
  m_on_terminal = std::move(fn);
  for (auto& q : m_queues) {
    q.terminal = q.present && ::isatty(q.fd.fd) == 1;
    if (q.terminal) {
      q.splice_ok = false;
      q.sendfile_ok = false;
    }
  }
}

void OutputWriter::before_write(const Queue& q)
{
  if (q.terminal && !m_terminal_writing) {
    m_terminal_writing = true;
    m_on_terminal(true);
  }
}

void OutputWriter::after_pump()
{
  if (!m_terminal_writing) {
    return;
  }
  for (const auto& q : m_queues) {
    bool pending = std::any_of(q.entries.begin(), q.entries.end(),
                               [](const Entry& e) { return !e.is_mark(); });
    if (q.terminal && (pending || q.line_open)) {
      return;
    }
  }
  m_terminal_writing = false;
  m_on_terminal(false);
}

int OutputWriter::direct_fd(int stream) const
{
  const Queue& q = m_queues[stream];
  bool usable = q.fd.kind == FdKind::pollable || q.fd.kind == FdKind::regular;
  return q.present && q.splice_ok && usable && q.entries.empty() && m_state == WriteState::ok
             ? q.fd.fd
             : -1;
}

void OutputWriter::mark(std::uint64_t seq)
{
  m_marks.push_back(seq);
  for (auto& q : m_queues) {
    q.entries.push_back(Entry{nullptr, seq, {}});
  }
  pump();
}

bool OutputWriter::send_range(Queue& q, Entry& front)
{
  FileRange& r = front.range;
  if (q.sendfile_ok && q.fd.kind != FdKind::socket) {
    auto offset = static_cast<off_t>(r.offset);
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(r.size, 1 << 20));
    ssize_t n = ::sendfile(q.fd.fd, r.fd, &offset, want);
    if (n > 0) {
      r.offset += static_cast<std::uint64_t>(n);
      r.size -= static_cast<std::uint64_t>(n);
      m_written += static_cast<std::uint64_t>(n);
      return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return false;
    }
    if (n < 0 && errno != EINVAL && errno != ENOSYS) {
      fail(q, errno);
      return true;
    }
    q.sendfile_ok = false; // e.g. an O_APPEND file: copy through memory from now on
  }
  // Through memory: the next chunk of the range becomes bytes in front of it.
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(r.size, k_chunk));
  std::string chunk(want, '\0');
  std::size_t done = 0;
  while (done < want) {
    ssize_t n = ::pread(r.fd, chunk.data() + done, want - done, static_cast<off_t>(r.offset + done));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) {
        continue;
      }
      fail(q, n == 0 ? EIO : errno);
      return true;
    }
    done += static_cast<std::size_t>(n);
  }
  r.offset += want;
  r.size -= want;
  m_queued += chunk.size();
  q.entries.insert(q.entries.begin(), Entry{std::make_unique<BytesPiece>(std::move(chunk)), 0, {}});
  return true;
}

void OutputWriter::set_polling(Queue& q, bool on)
{
  bool registered = q.fd.can_poll() && (on || (q.watch_hangup && m_state == WriteState::ok));
  std::uint32_t events = on ? std::uint32_t{EPOLLOUT} : 0; // EPOLLERR, EPOLLHUP come anyway
  if (!registered) {
    if (q.polling) {
      m_reactor.remove(q.fd.fd, &q);
      q.polling = false;
    }
  } else if (!q.polling) {
    m_reactor.add(q.fd.fd, events, &q);
    q.polling = true;
  } else if (q.wants_out != on) {
    m_reactor.modify(q.fd.fd, events, &q);
  }
  q.wants_out = registered && on;
}

void OutputWriter::on_ready(Queue& q, std::uint32_t events)
{
  if ((events & (EPOLLERR | EPOLLHUP)) != 0 && !q.wants_out && q.stream == 0) {
    fail(q, EPIPE); // nothing to write, but the reader is gone: the next write would fail so
  }
  pump();
}

void OutputWriter::fail(Queue& q, int err)
{
  if (q.stream == 1) {
    // Nowhere to report a broken stderr; the items' stderr is dropped, the run goes on.
    q.present = false;
    // Keep the marks so that items still count as written; drop the bytes.
    std::deque<Entry> marks;
    for (auto& e : q.entries) {
      if (e.is_mark()) {
        marks.push_back(std::move(e));
      } else if (auto* bytes = e.piece ? e.piece->as_bytes() : nullptr) {
        m_queued -= bytes->left();
      }
    }
    q.entries = std::move(marks);
    return;
  }
  if (m_state == WriteState::ok) {
    m_state = err == EPIPE ? WriteState::closed : WriteState::failed;
    m_error = std::string("cannot write to stdout: ") + std::strerror(err);
  }
}

long OutputWriter::write_some(Queue& q, const iovec* iov, std::size_t count)
{
  auto write_once = [&]() -> ssize_t {
    if (q.fd.kind == FdKind::socket) {
      return ::send(q.fd.fd, iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (count == 1) {
      return ::write(q.fd.fd, iov[0].iov_base, iov[0].iov_len);
    }
    return ::writev(q.fd.fd, iov, static_cast<int>(count));
  };
  // Interrupted by a signal, a descriptor the loop can wait on goes back to the loop, which
  // handles the signal: a terminal written from the background raises SIGTTOU at every try.
  ssize_t n = q.fd.can_poll() ? write_once() : retry_eintr(write_once);
  if (n >= 0) {
    m_written += static_cast<std::uint64_t>(n);
    return n;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    return 0;
  }
  fail(q, errno);
  return -1;
}

bool OutputWriter::drain(Queue& q)
{
  while (!q.entries.empty()) {
    if (m_state != WriteState::ok && q.stream == 0) {
      return true;
    }
    Entry& front = q.entries.front();
    if (front.is_mark()) {
      ++q.marks_passed;
      q.entries.pop_front();
      continue;
    }
    if (!q.present) {
      q.entries.pop_front();
      continue;
    }
    if (!front.piece) {
      if (front.range.size == 0) {
        q.entries.pop_front();
      } else if (!send_range(q, front)) {
        return false;
      }
      continue;
    }
    if (auto* bytes = front.piece->as_bytes()) {
      if (bytes->left() == 0) {
        q.entries.pop_front();
        continue;
      }
      // Gather consecutive in-memory pieces into one writev.
      std::vector<iovec> iov;
      for (auto& e : q.entries) {
        auto* b = e.piece ? e.piece->as_bytes() : nullptr;
        if (b == nullptr || iov.size() == 64) {
          break;
        }
        if (b->left() == 0) {
          continue;
        }
        auto view = b->left_view();
        iov.push_back({const_cast<char*>(view.data()), view.size()});
      }
      before_write(q);
      long n = write_some(q, iov.data(), iov.size());
      if (n < 0) {
        continue; // the queue was failed; the loop sees the state
      }
      if (n == 0) {
        return false;
      }
      if (q.terminal) {
        q.line_open = last_byte(iov, static_cast<std::size_t>(n)) != '\n';
      }
      auto left = static_cast<std::size_t>(n);
      m_queued -= left;
      while (left > 0) {
        auto* b = q.entries.front().piece->as_bytes();
        std::size_t rest = b->left();
        std::size_t used = std::min(rest, left);
        b->advance(used);
        left -= used;
        if (used == rest) {
          q.entries.pop_front();
        }
      }
      continue;
    }
    // A lazy piece: render its next chunk as in-memory bytes in front of it (or in its place
    // when it is exhausted), so that partial writes resume simply.
    std::string chunk;
    bool more = front.piece->fill(chunk, k_chunk);
    m_queued += chunk.size();
    auto bytes_piece = std::make_unique<BytesPiece>(std::move(chunk));
    if (more) {
      q.entries.push_front(Entry{std::move(bytes_piece), 0, {}});
    } else {
      front.piece = std::move(bytes_piece);
    }
  }
  return true;
}

void OutputWriter::report_marks()
{
  std::uint64_t passed = std::min(m_queues[0].marks_passed, m_queues[1].marks_passed);
  while (passed > 0 && !m_marks.empty()) {
    std::uint64_t seq = m_marks.front();
    m_marks.pop_front();
    for (auto& q : m_queues) {
      --q.marks_passed;
    }
    --passed;
    if (m_on_written) {
      m_on_written(seq);
    }
  }
}

void OutputWriter::pump()
{
  for (auto& q : m_queues) {
    bool done = drain(q);
    set_polling(q, !done && m_state == WriteState::ok); // not if the descriptor cannot poll
  }
  report_marks();
  after_pump();
}

void OutputWriter::flush()
{
  pump();
  while (!idle() && m_state == WriteState::ok) {
    m_reactor.run_once(std::nullopt);
    pump();
  }
}

} // namespace parmap
