#include "output/joblog.hpp"

#include "base/error.hpp"
#include "output/gnu_record.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

namespace parmap {

Joblog::Joblog(const std::string& spec)
{
  if (spec == "-") {
    return;
  }
  bool append = spec.starts_with('+');
  m_path = append ? spec.substr(1) : spec;
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  m_fd.reset(::open(m_path.c_str(), flags, 0644));
  if (!m_fd) {
    throw_errno(m_path, errno);
  }
  if (!append) {
    write_all(m_fd.get(), header(), m_path);
  }
}

std::string Joblog::header()
{
  return "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";
}

std::string Joblog::line(const Result& r, std::string_view command)
{
  GnuRecord g = gnu_record(r);
  std::string one_line(command);
  for (char& c : one_line) {
    if (c == '\n' || c == '\t') {
      c = ' '; // one line, nine columns, whatever the item holds
    }
  }
  return fmt::format("{}\t:\t{}\t{:10.3f}\t0\t{}\t{}\t{}\t{}\n", g.seq, g.start, g.runtime,
                     g.receive, g.exitval, g.signal, one_line);
}

void Joblog::add(const Result& r, std::string_view command)
{
  write_all(m_fd.get(), line(r, command), m_path);
}

} // namespace parmap
