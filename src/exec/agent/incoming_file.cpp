#include "exec/agent/incoming_file.hpp"

#include "base/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace parmap::agent {

IncomingFile::IncomingFile(std::string path, std::uint32_t mode)
    : m_path(std::move(path)), m_temp(m_path + ".parmap-part"), m_mode(mode & 07777)
{
  std::filesystem::path parent = std::filesystem::path(m_path).parent_path();
  std::error_code ec;
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
  }
  m_fd.reset(::open(m_temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!m_fd) {
    m_error = std::strerror(errno);
  }
}

IncomingFile::~IncomingFile()
{
  if (m_fd) {
    ::unlink(m_temp.c_str());
  }
}

void IncomingFile::write(std::string_view bytes)
{
  while (m_fd && !bytes.empty()) {
    ssize_t n = retry_eintr([&] { return ::write(m_fd.get(), bytes.data(), bytes.size()); });
    if (n < 0) {
      m_error = std::strerror(errno);
      ::unlink(m_temp.c_str());
      m_fd.reset();
      return;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string IncomingFile::finish(const std::string& sender_error)
{
  std::string error = !sender_error.empty() ? sender_error : m_error;
  if (!m_fd) {
    return error;
  }
  ::fchmod(m_fd.get(), m_mode);
  if (error.empty() && ::rename(m_temp.c_str(), m_path.c_str()) != 0) {
    error = std::strerror(errno);
  }
  if (!error.empty()) {
    ::unlink(m_temp.c_str());
  }
  m_fd.reset();
  return error;
}

} // namespace parmap::agent
