// The item sources of --pipe (blocks cut from a stream as it is read) and --pipepart (ranges
// of a file, found near every block size and never read by parmap), and their Items factories.
#include "input/block_cutter.hpp"
#include "input/input.hpp"

#include "base/error.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace parmap {
namespace {

/// --pipe: blocks cut from a stream while it is read, never more than the cutter holds.
class StreamBlockSource final : public detail::ItemSource {
public:
  StreamBlockSource(int fd, Fd owned, const BlockFormat& format, std::string name)
      : m_reader(fd), m_owned(std::move(owned)), m_cutter(format), m_name(std::move(name))
  {
  }

  Pull next(Record& out) override
  {
    std::string body;
    while (!m_cutter.take(body)) {
      if (m_cutter.done()) {
        return Pull::end;
      }
      std::span<char> space = m_cutter.space();
      ssize_t n = m_reader.read(space.data(), space.size());
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return Pull::wait;
      }
      if (n < 0) {
        throw_errno(m_name, errno);
      }
      n == 0 ? m_cutter.end() : m_cutter.added(static_cast<std::size_t>(n));
    }
    auto block = std::make_shared<Block>();
    block->header = m_cutter.header();
    block->bytes = std::move(body);
    block->ordinal = ++m_blocks;
    out = Record{};
    out.block = std::move(block);
    return Pull::item;
  }

  int wait_fd() const override { return m_reader.wait_fd(); }
  std::optional<std::uint64_t> count() override { return std::nullopt; }
  std::string name() const override { return m_name; }
  bool gives_blocks() const override { return true; }

  std::optional<std::string> take_warning() override
  {
    auto from = m_cutter.take_growth();
    if (!from) {
      return std::nullopt;
    }
    return fmt::format("warning: {}: a record is longer than the block size ({} bytes); blocks "
                       "now grow to {} bytes",
                       m_name, *from, m_cutter.block_size());
  }

private:
  StreamReader m_reader;
  Fd m_owned;
  BlockCutter m_cutter;
  std::string m_name;
  std::uint64_t m_blocks = 0;
};

/// --pipepart: ranges of a file, cut near every block size once the number of slots is known.
class FileBlockSource final : public detail::ItemSource {
public:
  FileBlockSource(Fd file, std::uint64_t size, BlockFormat format, std::string path)
      : m_file(std::make_shared<const Fd>(std::move(file))), m_size(size),
        m_format(std::move(format)), m_boundary(m_format.recend, m_format.recstart, m_format.regexp),
        m_path(std::move(path))
  {
    if (!m_format.header.empty()) {
      m_header_pattern.emplace(m_format.header);
    }
  }

  Pull next(Record& out) override
  {
    split();
    if (m_next + 1 >= m_points.size()) {
      return Pull::end;
    }
    auto block = std::make_shared<Block>();
    block->header = m_header;
    block->span = FileSpan{m_file, m_path, m_points[m_next], m_points[m_next + 1] - m_points[m_next]};
    block->ordinal = ++m_next;
    out = Record{};
    out.block = std::move(block);
    return Pull::item;
  }

  std::optional<std::uint64_t> count() override
  {
    split();
    return m_points.size() - 1 - m_next;
  }

  std::string name() const override { return m_path; }
  bool gives_blocks() const override { return true; }
  void use_slots(unsigned slots) override { m_slots = std::max(1U, slots); }

private:
  void split()
  {
    if (!m_points.empty()) {
      return;
    }
    m_header = read_header();
    std::uint64_t start = m_header ? m_header->size() : 0;
    // --block -N: N blocks per slot (GNU parallel: 1 + size / slots / N).
    std::uint64_t block = m_format.size > 0
                              ? static_cast<std::uint64_t>(m_format.size)
                              : 1 + m_size / m_slots / static_cast<std::uint64_t>(-m_format.size);
    m_points = file_split_points(m_file->get(), m_path, m_size, start, block, m_boundary);
  }

  std::shared_ptr<const std::string> read_header()
  {
    if (!m_header_pattern) {
      return nullptr;
    }
    std::string head;
    for (;;) {
      std::size_t old = head.size();
      head.resize(old + 64 * 1024);
      ssize_t n = retry_eintr([&] {
        return ::pread(m_file->get(), head.data() + old, 64 * 1024, static_cast<off_t>(old));
      });
      if (n < 0) {
        throw_errno(m_path, errno);
      }
      head.resize(old + static_cast<std::size_t>(n));
      if (auto length = m_header_pattern->length(head, n == 0 || head.size() >= m_size)) {
        head.resize(*length);
        return std::make_shared<const std::string>(std::move(head));
      }
    }
  }

  std::shared_ptr<const Fd> m_file;
  std::uint64_t m_size;
  BlockFormat m_format;
  RecordBoundary m_boundary;
  std::optional<HeaderPattern> m_header_pattern;
  std::string m_path;
  unsigned m_slots = 1;
  std::shared_ptr<const std::string> m_header;
  std::vector<std::uint64_t> m_points; ///< Block i is [m_points[i], m_points[i + 1]).
  std::size_t m_next = 0;
};

} // namespace

Items Items::blocks(int fd, BlockFormat format, std::string name)
{
  Items items;
  items.m_sources.push_back(std::make_shared<StreamBlockSource>(fd, Fd(), format, std::move(name)));
  return items;
}

Items Items::file_blocks(const std::string& path, BlockFormat format)
{
  if (format.records > 0 || format.lines > 0) {
    throw Error("--pipepart cannot count records (-N) or lines (-L): use --recend/--recstart");
  }
  if (format.size == 0) {
    throw Error("--block must not be 0");
  }
  // O_NONBLOCK: opening a FIFO would wait for a writer before it could be refused.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    throw_errno(path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw_errno(path, errno);
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    throw Error(path + ": --pipepart needs a regular file or a block device (it reads ranges of "
                       "it by offset); use --pipe for a stream");
  }
  ::fcntl(fd.get(), F_SETFL, 0); // a file's reads may wait for the disk
  off_t size = ::lseek(fd.get(), 0, SEEK_END); // a block device's st_size is 0
  if (size < 0) {
    throw_errno(path, errno);
  }
  Items items;
  items.m_sources.push_back(std::make_shared<FileBlockSource>(
      std::move(fd), static_cast<std::uint64_t>(size), std::move(format), path));
  return items;
}

} // namespace parmap
