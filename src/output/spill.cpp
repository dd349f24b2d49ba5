#include "output/spill.hpp"

#include "base/error.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace parmap {

SpillFile::SpillFile(const std::string& dir) : m_dir(temp_directory(dir))
{
  // O_TMPFILE: the file never has a name, so no exit path (kill -9 included) leaves it behind.
  m_fd.reset(::open(m_dir.c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600));
  if (!m_fd) {
    // Filesystems without O_TMPFILE: a named file, unlinked at once.
    std::string path = m_dir + "/parmap-spill-XXXXXX";
    int fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) {
      throw_errno("cannot create a spill file in " + m_dir, errno);
    }
    ::unlink(path.c_str());
    m_fd.reset(fd);
  }
}

std::uint64_t SpillFile::append(std::string_view bytes)
{
  std::uint64_t offset = m_end;
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = retry_eintr([&] {
      return ::pwrite(m_fd.get(), bytes.data() + done, bytes.size() - done,
                      static_cast<off_t>(m_end + done));
    });
    if (n < 0) {
      throw_errno("cannot write to the spill file in " + m_dir, errno);
    }
    done += static_cast<std::size_t>(n);
  }
  m_end += bytes.size();
  return offset;
}

long SpillFile::splice_in(int pipe_fd, std::size_t max, std::uint64_t& offset)
{
  auto at = static_cast<loff_t>(m_end);
  ssize_t n = retry_eintr([&] {
    return ::splice(pipe_fd, nullptr, m_fd.get(), &at, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  });
  if (n > 0) {
    offset = m_end;
    m_end += static_cast<std::uint64_t>(n);
  }
  return n;
}

void SpillFile::read(std::uint64_t offset, std::size_t size, char* out) const
{
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = retry_eintr([&] {
      return ::pread(m_fd.get(), out + done, size - done, static_cast<off_t>(offset + done));
    });
    if (n <= 0) {
      throw_errno("cannot read the spill file in " + m_dir, n == 0 ? EIO : errno);
    }
    done += static_cast<std::size_t>(n);
  }
}

void SpillFile::release(std::uint64_t offset, std::uint64_t size)
{
  // Whole pages only. Bytes sent to a pipe with sendfile(2) may still sit there as references
  // to these very pages; punching a whole page out of the file leaves the referenced page
  // intact, but a partial page would be zeroed in place under the pipe's reader. The few bytes
  // of a partial page at each end of a range stay allocated until the file goes.
  constexpr std::uint64_t k_page = 4096;
  std::uint64_t begin = (offset + k_page - 1) / k_page * k_page;
  std::uint64_t end = (offset + size) / k_page * k_page;
  if (end > begin) {
    ::fallocate(m_fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(begin),
                static_cast<off_t>(end - begin));
  }
}

const std::shared_ptr<SpillFile>& SpillFactory::get()
{
  if (!m_file) {
    m_file = std::make_shared<SpillFile>(m_dir);
  }
  return m_file;
}

namespace detail {

StoredBytes::~StoredBytes()
{
  for (const auto& e : extents) {
    spill->release(e.offset, e.size);
  }
}

} // namespace detail

void Capture::append(std::string_view bytes, SpillFactory& spill, std::size_t in_memory_limit)
{
  if (!m_bytes) {
    m_bytes = std::make_shared<detail::StoredBytes>();
  }
  m_size += bytes.size();
  auto& mem = m_bytes->memory;
  if (mem.size() + bytes.size() <= in_memory_limit) {
    mem.append(bytes);
    return;
  }
  // Over the bound: everything held so far and this piece go to the spill file, in order.
  if (!m_bytes->spill) {
    m_bytes->spill = spill.get();
  }
  m_bytes->spill_memory();
  if (!bytes.empty()) {
    m_bytes->add_extent(m_bytes->spill->append(bytes), bytes.size());
  }
}

void detail::StoredBytes::spill_memory()
{
  if (!memory.empty()) {
    add_extent(spill->append(memory), memory.size());
    memory.clear();
    memory.shrink_to_fit();
  }
}

void detail::StoredBytes::add_extent(std::uint64_t offset, std::uint64_t size)
{
  if (!extents.empty() && extents.back().offset + extents.back().size == offset) {
    extents.back().size += size;
  } else {
    extents.push_back({offset, size});
  }
}

long Capture::splice_from(int pipe_fd, std::size_t max)
{
  auto& bytes = *m_bytes;
  bytes.spill_memory();
  std::uint64_t offset = 0;
  long n = bytes.spill->splice_in(pipe_fd, max, offset);
  if (n > 0) {
    bytes.add_extent(offset, static_cast<std::uint64_t>(n));
    m_size += static_cast<std::uint64_t>(n);
  }
  return n;
}

Output Capture::finish()
{
  auto size = m_size;
  auto bytes = std::move(m_bytes);
  m_size = 0;
  if (size == 0) {
    return Output{};
  }
  return detail::OutputAccess::make(std::move(bytes), size);
}

void Capture::clear()
{
  m_bytes.reset();
  m_size = 0;
}

std::shared_ptr<detail::StoredBytes> Capture::take_kept()
{
  return std::move(m_bytes);
}

// --- parmap::Output -------------------------------------------------------------------------

std::string Output::str() const
{
  std::string all;
  if (m_bytes) {
    all.reserve(static_cast<std::size_t>(m_size));
    m_bytes->for_each([&](std::string_view piece) { all.append(piece); });
  }
  return all;
}

std::string Output::tail(std::size_t n) const
{
  std::string all;
  if (!m_bytes) {
    return all;
  }
  // Walk the pieces keeping only the last n bytes; tails are short, outputs may be huge.
  m_bytes->for_each([&](std::string_view piece) {
    all.append(piece);
    if (all.size() > 2 * n + 65536) {
      all.erase(0, all.size() - n);
    }
  });
  if (all.size() > n) {
    all.erase(0, all.size() - n);
  }
  return all;
}

void Output::for_each_chunk(const std::function<void(std::string_view)>& sink) const
{
  if (m_bytes) {
    m_bytes->for_each(sink);
  }
}

void Output::write_to(int fd) const
{
  for_each_chunk([fd](std::string_view piece) { write_all(fd, piece, "write"); });
}

} // namespace parmap
