#include "output_file.hpp"

#include "parmap/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace parmap::cli {

OutputFile::OutputFile(std::string path) : m_path(std::move(path))
{
  if (m_path == "-") {
    m_file = stdout;
    return;
  }
  struct stat st {};
  int fd = -1;
  if (::stat(m_path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    fd = ::open(m_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  } else {
    m_temp = m_path + ".XXXXXX";
    fd = ::mkostemp(m_temp.data(), O_CLOEXEC);
    if (fd < 0) {
      m_temp.clear();
    } else {
      // The mode `> FILE` would give, not mkostemp's 0600.
      mode_t mask = ::umask(0);
      ::umask(mask);
      ::fchmod(fd, 0666 & ~mask);
    }
  }
  m_file = fd < 0 ? nullptr : ::fdopen(fd, "w");
  if (m_file == nullptr) {
    int err = errno;
    if (fd >= 0) {
      ::close(fd);
    }
    errno = err;
    fail();
  }
}

OutputFile::~OutputFile()
{
  if (m_file != nullptr && m_file != stdout) {
    std::fclose(m_file);
  }
  if (!m_temp.empty()) {
    ::unlink(m_temp.c_str());
  }
}

void OutputFile::fail() const
{
  throw Error(m_path + ": cannot write: " + std::strerror(errno));
}

void OutputFile::write(std::string_view bytes)
{
  if (std::fwrite(bytes.data(), 1, bytes.size(), m_file) != bytes.size()) {
    fail();
  }
}

void OutputFile::commit()
{
  bool ok = std::fflush(m_file) == 0;
  if (m_file != stdout) {
    ok = std::fclose(m_file) == 0 && ok;
    m_file = nullptr;
  }
  if (!ok || (!m_temp.empty() && ::rename(m_temp.c_str(), m_path.c_str()) != 0)) {
    fail();
  }
  m_temp.clear();
}

} // namespace parmap::cli
