#include "output/joblog.hpp"

#include "base/error.hpp"
#include "output/gnu_record.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fcntl.h>
#include <unistd.h>

namespace parmap {
namespace {

/// `text` as one column: one line, nine columns, whatever an item or host name holds.
std::string one_field(std::string_view text)
{
  std::string field(text);
  std::replace_if(field.begin(), field.end(), [](char c) { return c == '\n' || c == '\t'; }, ' ');
  return field;
}

} // namespace

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
  return fmt::format("{}\t{}\t{}\t{:10.3f}\t0\t{}\t{}\t{}\t{}\n", g.seq, one_field(g.host),
                     g.start, g.runtime, g.receive, g.exitval, g.signal, one_field(command));
}

void Joblog::add(const Result& r, std::string_view command)
{
  write_all(m_fd.get(), line(r, command), m_path);
}

} // namespace parmap
