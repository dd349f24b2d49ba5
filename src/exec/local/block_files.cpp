#include "exec/local/block_files.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace parmap {
namespace {

void write_all(int fd, const char* data, std::size_t size, const std::string& path)
{
  while (size > 0) {
    ssize_t n = retry_eintr([&] { return ::write(fd, data, size); });
    if (n < 0) {
      throw_errno(path, errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

/// Copies a range of a file by the kernel (copy_file_range), or by hand where it cannot.
void copy_span(int out, const FileSpan& span, const std::string& path)
{
  loff_t offset = static_cast<loff_t>(span.offset);
  std::uint64_t left = span.length;
  while (left > 0) {
    ssize_t n = retry_eintr([&] {
      return ::copy_file_range(span.file->get(), &offset, out, nullptr, left, 0);
    });
    if (n <= 0) {
      break; // across file systems, or not supported: the rest by hand
    }
    left -= static_cast<std::uint64_t>(n);
  }
  std::string buf(std::min<std::uint64_t>(left, 1 << 20), '\0');
  while (left > 0) {
    ssize_t n = retry_eintr([&] {
      return ::pread(span.file->get(), buf.data(), std::min<std::uint64_t>(left, buf.size()), offset);
    });
    if (n <= 0) {
      throw_errno(span.path, n == 0 ? EIO : errno);
    }
    write_all(out, buf.data(), static_cast<std::size_t>(n), path);
    offset += n;
    left -= static_cast<std::uint64_t>(n);
  }
}

} // namespace

BlockFiles::~BlockFiles()
{
  if (!m_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(m_dir, ignored);
  }
}

std::string BlockFiles::path(std::uint64_t seq)
{
  if (m_dir.empty()) {
    std::string base = temp_directory(m_temp_dir);
    std::string templ = base + "/parmap-blocks.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      throw_errno(base + ": cannot make a directory for --cat/--fifo", errno);
    }
    m_dir = templ;
  }
  return m_dir + "/" + std::to_string(seq);
}

void BlockFiles::write_file(const std::string& path, const Block& block)
{
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) {
    throw_errno(path, errno);
  }
  try {
    if (block.header) {
      write_all(fd.get(), block.header->data(), block.header->size(), path);
    }
    if (block.span) {
      copy_span(fd.get(), *block.span, path);
    } else {
      write_all(fd.get(), block.bytes.data(), block.bytes.size(), path);
    }
  } catch (...) {
    remove(path);
    throw;
  }
}

void BlockFiles::make_fifo(const std::string& path)
{
  if (::mkfifo(path.c_str(), 0600) != 0) {
    throw_errno(path, errno);
  }
}

void BlockFiles::remove(const std::string& path)
{
  ::unlink(path.c_str());
}

} // namespace parmap
