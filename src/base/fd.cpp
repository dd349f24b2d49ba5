#include "base/fd.hpp"

#include "base/error.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace parmap {

void Fd::reset(int fd)
{
  if (m_fd >= 0) {
    ::close(m_fd); // EINTR on Linux still closes; retrying would close someone else's fd.
  }
  m_fd = fd;
}

Pipe make_pipe(bool nonblocking_write)
{
  int fds[2];
  check_errno(::pipe2(fds, O_CLOEXEC | (nonblocking_write ? O_NONBLOCK : 0)),
              "cannot create a pipe");
  Pipe p{Fd(fds[0]), Fd(fds[1])};
  if (!nonblocking_write) {
    // A new pipe's end has no other status flag to keep, so no F_GETFL is needed.
    check_errno(::fcntl(p.read.get(), F_SETFL, O_NONBLOCK), "fcntl");
  }
  return p;
}

Pipe make_feed_pipe()
{
  int fds[2];
  check_errno(::pipe2(fds, O_CLOEXEC), "cannot create a pipe");
  Pipe p{Fd(fds[0]), Fd(fds[1])};
  check_errno(::fcntl(p.write.get(), F_SETFL, O_NONBLOCK), "fcntl");
  return p;
}

bool is_regular_file(int fd)
{
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

bool is_pipe(int fd)
{
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

StdioFd make_nonblocking_view(int fd, bool for_write)
{
  StdioFd view;
  view.fd = fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw_errno("fstat", errno);
  }
  if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
    view.kind = FdKind::regular;
    return view;
  }
  if (S_ISSOCK(st.st_mode)) {
    view.kind = FdKind::socket;
    return view;
  }
  if (S_ISCHR(st.st_mode) && !::isatty(fd)) {
    view.kind = FdKind::regular; // /dev/null, /dev/zero, /dev/full: never EAGAIN
    return view;
  }
  // Pipes, FIFOs and terminals: a new open file description of the same object.
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  int flags = (for_write ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  int reopened = ::open(path.c_str(), flags);
  if (reopened >= 0) {
    view.owned.reset(reopened);
    view.fd = reopened;
    view.kind = FdKind::pollable;
    return view;
  }
  // Not reopenable (ENXIO: a FIFO without a reader, where writing fails with EPIPE anyway;
  // or /proc is missing): use fd as it is.
  view.kind = FdKind::blocking;
  return view;
}

void write_all(int fd, std::string_view bytes, std::string_view name)
{
  while (!bytes.empty()) {
    ssize_t n = retry_eintr([&] { return ::write(fd, bytes.data(), bytes.size()); });
    if (n < 0) {
      throw_errno(name, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string temp_directory(const std::string& dir)
{
  if (!dir.empty()) {
    return dir;
  }
  const char* env = std::getenv("TMPDIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string("/tmp");
}

} // namespace parmap
