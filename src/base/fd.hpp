// Fd: an owned file descriptor, and the few descriptor operations the engine needs.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace parmap {

/// Owns one file descriptor and closes it on destruction. -1 means none.
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept
  {
    if (this != &other) {
      reset(std::exchange(other.m_fd, -1));
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return m_fd; }
  explicit operator bool() const { return m_fd >= 0; }
  int release() { return std::exchange(m_fd, -1); }
  void reset(int fd = -1);

private:
  int m_fd = -1;
};

/// A pipe whose ends are both O_CLOEXEC; the read end is also O_NONBLOCK.
struct Pipe {
  Fd read;
  Fd write;
};
/// A close-on-exec pipe whose read end is non-blocking (and its write end too, when
/// `nonblocking_write`). Throws parmap::Error on failure (EMFILE included).
Pipe make_pipe(bool nonblocking_write = false);

/// A close-on-exec pipe for a child's stdin: the write end, parmap's, is non-blocking; the read
/// end stays blocking, as programs expect of their stdin. Throws parmap::Error on failure.
Pipe make_feed_pipe();

/// How the engine may wait on a descriptor it did not open (stdin, stdout).
enum class FdKind {
  regular,  ///< Never blocks in the EAGAIN sense; cannot be polled (regular files, /dev/null).
  pollable, ///< A private O_NONBLOCK description was made for it (pipes, FIFOs, terminals).
  socket,   ///< Use MSG_DONTWAIT per call.
  blocking, ///< Nothing better was possible; reads and writes may block.
};

/// A descriptor the engine can read or write without blocking the run, made from an inherited
/// one. Pipes and terminals are reopened through /proc/self/fd so that O_NONBLOCK applies to
/// parmap's own open file description only, never to the one it shares with the shell.
struct StdioFd {
  int fd = -1;   ///< The descriptor to use (owned.get() when reopened, else the original).
  Fd owned;      ///< Set when reopened.
  FdKind kind = FdKind::blocking;
  /// Can wait in epoll for readiness (a socket is used with MSG_DONTWAIT, so it counts).
  bool can_poll() const { return kind == FdKind::pollable || kind == FdKind::socket; }
};
StdioFd make_nonblocking_view(int fd, bool for_write);

/// Writes all of `bytes` to fd, blocking as needed. Throws parmap::Error naming `name`.
void write_all(int fd, std::string_view bytes, std::string_view name);

/// Where temporary files go: `dir`, or $TMPDIR, or /tmp.
std::string temp_directory(const std::string& dir);

/// True when fd refers to a regular file.
bool is_regular_file(int fd);
/// True when fd refers to a pipe or FIFO.
bool is_pipe(int fd);

} // namespace parmap
