#include "joblog.hpp"

#include "parmap/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace parmap::cli {
namespace {

[[noreturn]] void fail(const std::string& path)
{
  throw Error(path + ": " + std::strerror(errno));
}

/// Writes all of text; false on an error.
bool write_all(int fd, const std::string& text)
{
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// `text` as one column: one line, nine columns, whatever an item or host name holds.
std::string one_field(std::string text)
{
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\t'; }, ' ');
  return text;
}

} // namespace

Joblog::Joblog(const std::string& path) : m_path(path)
{
  m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (m_fd < 0) {
    fail(path);
  }
  if (!write_all(m_fd, "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n")) {
    fail(path);
  }
}

Joblog::~Joblog()
{
  ::close(m_fd);
}

std::string Joblog::line(const Result& r)
{
  double start = std::chrono::duration<double>(r.started.time_since_epoch()).count();
  // GNU parallel writes Exitval 0 and the signal number for a job killed by a signal.
  int exitval = r.signal != 0 ? 0 : r.exit_code;
  // Host: as -S named it; ":" is this machine, as in GNU parallel's joblog.
  std::string host = one_field(r.host.empty() ? ":" : r.host);
  std::string command = one_field(r.command);
  return fmt::format("{}\t{}\t{:.3f}\t{:10.3f}\t0\t{}\t{}\t{}\t{}\n", r.seq, host, start,
                     r.duration, r.out.size() + r.err.size(), exitval, r.signal, command);
}

void Joblog::add(const Result& r)
{
  // One write per line, so that a killed run leaves whole lines.
  if (!write_all(m_fd, line(r))) {
    fail(m_path);
  }
}

} // namespace parmap::cli
