#include "input/input.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace parmap {

ssize_t StreamReader::read(char* buf, std::size_t size)
{
  if (m_view.fd < 0) { // not made yet: a view always has a descriptor, or throws
    m_view = make_nonblocking_view(m_fd, false);
  }
  auto read_once = [&]() -> ssize_t {
    if (m_view.kind == FdKind::socket) {
      return ::recv(m_view.fd, buf, size, MSG_DONTWAIT);
    }
    return ::read(m_view.fd, buf, size);
  };
  // Interrupted by a signal, a descriptor the loop can wait on goes back to the loop, which
  // handles the signal: a terminal read from the background raises SIGTTIN at every try.
  return m_view.can_poll() ? read_once() : retry_eintr(read_once);
}

void Splitter::feed(const char* data, std::size_t size)
{
  if (m_pos > 0 && m_pos >= m_buf.size() / 2) {
    m_buf.erase(0, m_pos); // keep the buffer from growing with consumed bytes
    m_pos = 0;
  }
  m_buf.append(data, size);
}

void Splitter::emit(std::size_t end, RawItem& out)
{
  std::size_t len = end - m_pos;
  out.text.assign(m_buf, m_pos, std::min(len, k_max_item_bytes));
  out.full_size = len + m_dropped;
  m_dropped = 0;
}

bool Splitter::take(RawItem& out)
{
  const char* start = m_buf.data() + m_pos;
  const void* hit = std::memchr(start, m_delimiter, m_buf.size() - m_pos);
  if (hit == nullptr) {
    // A record longer than any argument can be: keep its head, drop the rest as it comes, so
    // that one huge line cannot exhaust memory.
    std::size_t held = m_buf.size() - m_pos;
    if (held > k_max_item_bytes) {
      m_dropped += held - k_max_item_bytes;
      m_buf.resize(m_pos + k_max_item_bytes);
    }
    return false;
  }
  std::size_t end = static_cast<std::size_t>(static_cast<const char*>(hit) - m_buf.data());
  emit(end, out);
  m_pos = end + 1;
  return true;
}

bool Splitter::finish(RawItem& out)
{
  if (m_pos >= m_buf.size() && m_dropped == 0) {
    return false;
  }
  emit(m_buf.size(), out);
  m_buf.clear();
  m_pos = 0;
  return true;
}

std::uint64_t count_records(int fd, char delimiter, const std::string& name)
{
  off_t offset = ::lseek(fd, 0, SEEK_CUR);
  if (offset < 0) {
    offset = 0;
  }
  // Sized to what is left of the file and not zero-filled: a small stdin costs a small buffer.
  struct stat st {};
  std::size_t size = 64 * 1024; // small: counting is a pass over the file, not a copy of it
  if (::fstat(fd, &st) == 0 && st.st_size >= offset) {
    size = static_cast<std::size_t>(
        std::clamp<off_t>(st.st_size - offset + 1, 1, static_cast<off_t>(size)));
  }
  std::unique_ptr<char[]> buf(new char[size]);
  std::uint64_t records = 0;
  char last = delimiter;
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::pread(fd, buf.get(), size, offset); });
    if (n < 0) {
      throw_errno(name, errno);
    }
    if (n == 0) {
      break;
    }
    records += static_cast<std::uint64_t>(std::count(buf.get(), buf.get() + n, delimiter));
    last = buf[static_cast<std::size_t>(n - 1)];
    offset += n;
  }
  return records + (last != delimiter ? 1 : 0);
}

void encode_record(const Record& r, std::string& out)
{
  auto put = [&](std::uint64_t value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
  };
  put(r.oversize);
  put(r.args.size());
  for (const auto& a : r.args) {
    put(a.size());
    out += a;
  }
}

namespace {

/// Hands over one whole item as a one-argument record, cut to k_max_item_bytes as records read
/// from a stream are.
void take_item(std::string&& text, Record& out)
{
  out.oversize = text.size() > k_max_item_bytes ? text.size() : 0;
  if (text.size() > k_max_item_bytes) {
    text.resize(k_max_item_bytes);
  }
  out.args.assign(1, std::move(text));
}

void take_raw(RawItem&& raw, Record& out)
{
  out.oversize = raw.full_size > raw.text.size() ? raw.full_size : 0;
  out.args.assign(1, std::move(raw.text));
}

class ListSource final : public detail::ItemSource {
public:
  explicit ListSource(std::vector<std::string> items) : m_items(std::move(items)) {}
  Pull next(Record& out) override
  {
    if (m_next >= m_items.size()) {
      return Pull::end;
    }
    std::string& item = m_items[m_next++];
    take_item(m_keep ? std::string(item) : std::move(item), out);
    return Pull::item;
  }
  std::optional<std::uint64_t> count() override { return m_items.size() - m_next; }
  std::string name() const override { return "arguments"; }
  bool prepare_rewind() override
  {
    m_keep = true; // the items are copied out, not moved
    return true;
  }
  void rewind() override { m_next = 0; }

private:
  std::vector<std::string> m_items;
  std::size_t m_next = 0;
  bool m_keep = false;
};

class GeneratorSource final : public detail::ItemSource {
public:
  GeneratorSource(std::function<std::optional<std::string>()> next,
                  std::optional<std::uint64_t> count)
      : m_next(std::move(next)), m_count(count)
  {
  }
  Pull next(Record& out) override
  {
    if (m_done) {
      return Pull::end;
    }
    auto item = m_next();
    if (!item) {
      m_done = true;
      return Pull::end;
    }
    take_item(std::move(*item), out);
    ++m_produced;
    return Pull::item;
  }
  std::optional<std::uint64_t> count() override
  {
    if (!m_count) {
      return std::nullopt;
    }
    return *m_count > m_produced ? *m_count - m_produced : 0;
  }
  std::string name() const override { return "items"; }

private:
  std::function<std::optional<std::string>()> m_next;
  std::optional<std::uint64_t> m_count;
  std::uint64_t m_produced = 0;
  bool m_done = false;
};

/// Records read from a descriptor; the descriptor is opened (and made non-blocking) lazily, at
/// the first pull, so that building Items has no side effects on the caller's fds.
class FdSource final : public detail::ItemSource {
public:
  FdSource(int fd, Fd owned, char delimiter, std::string name)
      : m_reader(fd), m_owned(std::move(owned)), m_splitter(delimiter), m_name(std::move(name))
  {
  }

  Pull next(Record& out) override
  {
    RawItem raw;
    Pull pull = next_raw(raw);
    if (pull == Pull::item) {
      take_raw(std::move(raw), out);
    }
    return pull;
  }

  int wait_fd() const override { return m_reader.wait_fd(); }

  std::optional<std::uint64_t> count() override
  {
    if (!is_regular_file(m_reader.fd())) {
      return std::nullopt;
    }
    if (!m_count) {
      m_count = count_records(m_reader.fd(), m_splitter.delimiter(), m_name);
    }
    return m_count;
  }

  std::string name() const override { return m_name; }

  bool prepare_rewind() override
  {
    // A regular file is read again from where it started; a pipe or terminal cannot be.
    if (!is_regular_file(m_reader.fd())) {
      return false;
    }
    m_start = ::lseek(m_reader.fd(), 0, SEEK_CUR);
    return m_start >= 0;
  }

  void rewind() override
  {
    if (::lseek(m_reader.fd(), m_start, SEEK_SET) < 0) {
      throw_errno(m_name, errno);
    }
    m_splitter = Splitter(m_splitter.delimiter());
    m_eof = false;
  }

private:
  Pull next_raw(RawItem& out)
  {
    if (m_splitter.take(out)) {
      return Pull::item;
    }
    while (!m_eof) {
      if (!m_buf) {
        m_buf.reset(new char[k_read_size]); // allocated when first needed, not zero-filled
      }
      ssize_t n = m_reader.read(m_buf.get(), k_read_size);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
          return Pull::wait;
        }
        throw_errno(m_name, errno);
      }
      if (n == 0) {
        m_eof = true;
        break;
      }
      m_splitter.feed(m_buf.get(), static_cast<std::size_t>(n));
      if (m_splitter.take(out)) {
        return Pull::item;
      }
    }
    return m_splitter.finish(out) ? Pull::item : Pull::end;
  }

  static constexpr std::size_t k_read_size = 64 * 1024;

  StreamReader m_reader;
  Fd m_owned;
  Splitter m_splitter;
  std::string m_name;
  std::unique_ptr<char[]> m_buf;
  bool m_eof = false;
  std::optional<std::uint64_t> m_count;
  off_t m_start = 0; ///< Where a rewind starts over (prepare_rewind()).
};

} // namespace

Items::Items(std::vector<std::string> items)
{
  m_sources.push_back(std::make_shared<ListSource>(std::move(items)));
}

Items::Items(std::initializer_list<std::string> items)
    : Items(std::vector<std::string>(items))
{
}

Items Items::generate(std::function<std::optional<std::string>()> next,
                      std::optional<std::uint64_t> count)
{
  Items items;
  items.m_sources.push_back(std::make_shared<GeneratorSource>(std::move(next), count));
  return items;
}

Items Items::from_fd(int fd, char delimiter, std::string name)
{
  Items items;
  items.m_sources.push_back(std::make_shared<FdSource>(fd, Fd(), delimiter, std::move(name)));
  return items;
}

Items Items::from_file(const std::string& path, char delimiter)
{
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw_errno(path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    throw Error(path + ": is a directory");
  }
  Items items;
  int raw = fd.get();
  items.m_sources.push_back(std::make_shared<FdSource>(raw, std::move(fd), delimiter, path));
  return items;
}

Items& Items::append(Items more)
{
  for (auto& s : more.m_sources) {
    m_sources.push_back(std::move(s));
  }
  return *this;
}

} // namespace parmap
