#include "jobs_file.hpp"

#include "values.hpp"

#include "parmap/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sys/stat.h>

namespace parmap::cli {
namespace {

/// The file's modification time; zero when it cannot be read (then it is not "changed").
timespec mtime_of(const std::string& path)
{
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {};
  }
  return st.st_mtim;
}

} // namespace

JobsFile::JobsFile(std::string path, unsigned cpus) : m_path(std::move(path)), m_cpus(cpus)
{
  m_mtime = mtime_of(m_path);
  m_jobs = read();
}

std::size_t JobsFile::read() const
{
  std::ifstream in(m_path);
  if (!in) {
    throw UsageError(fmt::format("--jobs {}: {}", m_path, std::strerror(errno)));
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto first = text.find_first_not_of(" \t\r\n");
  auto last = text.find_last_not_of(" \t\r\n");
  text = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
  return parse_jobs(text, m_cpus, fmt::format("--jobs {}", m_path));
}

std::optional<std::size_t> JobsFile::poll()
{
  timespec now = mtime_of(m_path);
  if (now.tv_sec == m_mtime.tv_sec && now.tv_nsec == m_mtime.tv_nsec) {
    return std::nullopt;
  }
  m_mtime = now;
  try {
    m_jobs = read();
  } catch (const UsageError& e) {
    throw Error(e.what());
  }
  return m_jobs;
}

} // namespace parmap::cli
