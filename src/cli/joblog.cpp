#include "joblog.hpp"

#include "parmap/error.hpp"

#include <fmt/format.h>

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

/// One line, nine columns, whatever the command holds.
std::string format_line(std::uint64_t seq, std::string_view host, double start, double runtime,
                        std::uint64_t received, int exit_code, int signal, std::string command)
{
  // GNU parallel writes Exitval 0 and the signal number for a job killed by a signal.
  int exitval = signal != 0 ? 0 : exit_code;
  for (char& c : command) {
    if (c == '\n' || c == '\t') {
      c = ' ';
    }
  }
  return fmt::format("{}\t{}\t{:.3f}\t{:10.3f}\t0\t{}\t{}\t{}\t{}\n", seq, host, start, runtime,
                     received, exitval, signal, command);
}

} // namespace

Joblog::Joblog(const std::string& path) : m_path(path)
{
  m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (m_fd < 0) {
    fail(path);
  }
  if (!write_all(m_fd, std::string(k_header))) {
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
  return format_line(r.seq, ":", start, r.duration, r.out.size() + r.err.size(), r.exit_code,
                     r.signal, r.command);
}

std::string Joblog::line(const ReportAttempt& a, std::string command)
{
  return format_line(a.seq, a.host.empty() ? ":" : a.host, a.started, a.duration, a.output_bytes,
                     a.exit_code, a.signal, std::move(command));
}

void Joblog::add(const Result& r)
{
  // One write per line, so that a killed run leaves whole lines.
  if (!write_all(m_fd, line(r))) {
    fail(m_path);
  }
}

} // namespace parmap::cli
