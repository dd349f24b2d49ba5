// OutputWriter: queues bytes for stdout and stderr and writes them without ever blocking the
// run, telling the engine when each item's record has been written in full.
#pragma once

#include "base/fd.hpp"
#include "base/reactor.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/uio.h>

namespace parmap {

/// A source of bytes to write, produced lazily so that a large spilled output is never held in
/// memory whole. fill() appends at most about `max` bytes and returns true while more remain.
class BytesPiece;
class Piece {
public:
  virtual ~Piece() = default;
  virtual bool fill(std::string& buf, std::size_t max) = 0;
  /// Non-null for in-memory bytes, which are written without copying.
  virtual BytesPiece* as_bytes() { return nullptr; }
};

/// Bytes that are already in memory: owned, or a view into memory kept alive by `owner`.
class BytesPiece final : public Piece {
public:
  explicit BytesPiece(std::string bytes) : m_owned(std::move(bytes)), m_view(m_owned) {}
  BytesPiece(std::shared_ptr<const void> owner, std::string_view view)
      : m_owner(std::move(owner)), m_view(view)
  {
  }
  BytesPiece(const BytesPiece&) = delete;
  BytesPiece& operator=(const BytesPiece&) = delete;
  bool fill(std::string& buf, std::size_t max) override;
  BytesPiece* as_bytes() override { return this; }
  /// What is left to write.
  std::string_view left_view() const { return m_view.substr(m_offset); }
  std::size_t left() const { return m_view.size() - m_offset; }
  void advance(std::size_t n) { m_offset += n; }

private:
  std::string m_owned;
  std::shared_ptr<const void> m_owner;
  std::string_view m_view;
  std::size_t m_offset = 0;
};

/// A range of a file (the spill file), sent to the output by the kernel (sendfile(2)) without
/// passing through parmap's memory. `owner` keeps the range from being released meanwhile.
struct FileRange {
  std::shared_ptr<const void> owner;
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

enum class WriteState {
  ok,
  closed, ///< The reader went away (EPIPE): stop quietly.
  failed, ///< Another write error; error() says which.
};

/// Two queues (stdout, stderr) of pieces, interleaved with per-item marks. When both queues
/// have written everything up to an item's mark, `on_written(seq)` is called.
class OutputWriter {
public:
  /// `out_fd` / `err_fd` are inherited descriptors (< 0 for none). Writes that would block wait
  /// in the reactor; a descriptor that cannot be polled is written directly.
  OutputWriter(Reactor& reactor, int out_fd, int err_fd);
  ~OutputWriter();
  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

  void set_on_written(std::function<void(std::uint64_t)> fn) { m_on_written = std::move(fn); }
  /// Watches writes to terminals, for a status line kept clear of the output: `fn(true)` just
  /// before bytes go to a terminal, `fn(false)` once none are left to write there and the last
  /// one ended a line (see Forward::on_terminal_output). Bytes for a terminal then always pass
  /// through memory (no splice or sendfile), so that the writer sees where lines end.
  void watch_terminals(std::function<void(bool writing)> fn);

  /// Queues bytes for stdout (stream 0) or stderr (stream 1).
  void write(int stream, std::string bytes);
  void write(int stream, std::unique_ptr<Piece> piece);
  void write(int stream, FileRange range);

  /// The descriptor bytes of `stream` may be spliced into directly: when nothing is queued for
  /// it, the output works, and splicing to it has not failed before. -1 otherwise.
  int direct_fd(int stream) const;
  /// Splicing into `stream` failed in a way that will not change (e.g. an O_APPEND file).
  void no_splice(int stream) { m_queues[stream].splice_ok = false; }
  /// Everything queued so far belongs to items up to `seq`; report it when written.
  void mark(std::uint64_t seq);

  /// Bytes queued and not yet written (in-memory pieces only).
  std::size_t queued_bytes() const { return m_queued; }
  /// Bytes written so far, to stdout and stderr together: whether the output moves.
  std::uint64_t bytes_written() const { return m_written; }
  bool idle() const;
  WriteState state() const { return m_state; }
  const std::string& error() const { return m_error; }
  /// Writes everything queued, waiting in the reactor as needed, or until the writer fails.
  void flush();
  /// Makes progress on whatever can be written now.
  void pump();

private:
  struct Entry {
    std::unique_ptr<Piece> piece; ///< Null for a mark or a file range.
    std::uint64_t mark = 0;
    FileRange range; ///< Used when range.fd >= 0.
    bool is_mark() const { return !piece && range.fd < 0; }
  };
  struct Queue final : Watcher {
    OutputWriter* owner = nullptr;
    int stream = 0;
    StdioFd fd;
    bool present = false;
    bool polling = false;     ///< Registered in the reactor.
    bool wants_out = false;   ///< Registered for EPOLLOUT (else for errors only).
    /// Stays registered while idle, to learn at once that the reader went away: a pipe or
    /// socket reports it (EPOLLERR, EPOLLHUP); a file or terminal would not.
    bool watch_hangup = false;
    bool splice_ok = true;   ///< splice(2) into fd works (cleared by no_splice()).
    bool sendfile_ok = true; ///< sendfile(2) into fd works.
    bool terminal = false;   ///< A watched terminal (watch_terminals()).
    bool line_open = false;  ///< The last byte written to it was not a newline.
    std::deque<Entry> entries;
    std::uint64_t marks_passed = 0;
    void on_ready(std::uint32_t events) override { owner->on_ready(*this, events); }
  };

  /// Writes as much of q as possible; false when it would block.
  bool drain(Queue& q);
  /// Writes what it can of iov[0..count) (a socket: of iov[0] only); 0 when the descriptor
  /// would block, -1 after failing the queue.
  long write_some(Queue& q, const iovec* iov, std::size_t count);
  /// Sends (part of) the file range at the front of q; false when it would block.
  bool send_range(Queue& q, Entry& front);
  void report_marks();
  /// Tells the terminal watcher that bytes are about to be written to q, if it is a terminal.
  void before_write(const Queue& q);
  /// Tells the terminal watcher when writing to terminals has paused at the start of a line.
  void after_pump();
  void on_ready(Queue& q, std::uint32_t events);
  /// Registers q for EPOLLOUT while it has bytes waiting (`on`), else only for errors when it
  /// watches for a hangup, else not at all.
  void set_polling(Queue& q, bool on);
  void fail(Queue& q, int err);

  Reactor& m_reactor;
  Queue m_queues[2];
  std::deque<std::uint64_t> m_marks;
  std::size_t m_queued = 0;
  std::uint64_t m_written = 0;
  WriteState m_state = WriteState::ok;
  std::string m_error;
  std::function<void(std::uint64_t)> m_on_written;
  std::function<void(bool)> m_on_terminal;
  bool m_terminal_writing = false; ///< m_on_terminal(true) was the last call.
};

} // namespace parmap
