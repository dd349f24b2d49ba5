// Item sources: fixed lists, generators and delimited records read lazily from descriptors.
#pragma once

#include "base/fd.hpp"
#include "exec/block.hpp"
#include "parmap/items.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace parmap {

/// The longest argument Linux accepts (MAX_ARG_STRLEN less the NUL). Longer items are cut to
/// this length and fail with exit status 126 instead of running.
inline constexpr std::size_t k_max_item_bytes = 131071;

/// One record as a splitter cuts it from a stream.
struct RawItem {
  std::string text;
  /// The item's length in the input; larger than text.size() when the item was cut.
  std::uint64_t full_size = 0;
};

/// One command's arguments, as the input produces them.
struct Record {
  std::vector<std::string> args;
  /// The size in the input of an argument that was cut at k_max_item_bytes; 0 when none was.
  std::uint64_t oversize = 0;
  /// --pipe, --pipepart: the block the command reads on stdin (there are no arguments).
  std::shared_ptr<const Block> block;
};

/// Appends `r` to `out` as spool files keep records: a header (oversize, argument count), then
/// each argument's length and bytes.
void encode_record(const Record& r, std::string& out);

/// Reads back one record encode_record() wrote; `read(char* to, std::size_t n)` copies the
/// next n bytes of it.
template <class Read>
void decode_record(Read&& read, Record& out)
{
  std::uint64_t header[2] = {0, 0};
  read(reinterpret_cast<char*>(header), sizeof header);
  out.oversize = header[0];
  out.args.resize(static_cast<std::size_t>(header[1]));
  for (auto& a : out.args) {
    std::uint64_t size = 0;
    read(reinterpret_cast<char*>(&size), sizeof size);
    a.resize(static_cast<std::size_t>(size));
    read(a.data(), a.size());
  }
}

namespace detail {

/// One source of items. Pulled by the engine's thread only.
class ItemSource {
public:
  enum class Pull {
    item, ///< `out` holds the next item.
    wait, ///< Nothing available yet: wait for wait_fd() to be readable, then pull again.
    end,  ///< No more items.
  };
  virtual ~ItemSource() = default;
  /// Produces the next item without blocking when the source allows it; after `wait`, the
  /// next call goes on where this one stopped. Throws parmap::Error on a read error, naming
  /// the source.
  virtual Pull next(Record& out) = 0;
  virtual int wait_fd() const { return -1; }
  /// The number of items this source will produce, when it can be known without consuming it
  /// (a list, a regular file), asked before the first pull. May read the file once.
  virtual std::optional<std::uint64_t> count() = 0;
  /// The source's name for messages: "stdin", a path, "arguments".
  virtual std::string name() const = 0;

  /// Asked before the first pull: will rewind() work? A source that says no is spooled by
  /// whoever needs to read it again.
  virtual bool prepare_rewind() { return false; }
  /// Starts over from the first item (only after prepare_rewind() said yes).
  virtual void rewind() {}
  /// --header: the first item of each input source names its columns. Returns false when
  /// this source is a part of an input source rather than one (or several) itself.
  virtual bool take_headers() { return false; }
  /// The headers read so far, in input-source order (after the first pull).
  virtual void append_headers(std::vector<std::string>& names) const { (void)names; }
  /// Its items are blocks for the commands' stdin (--pipe, --pipepart), not arguments.
  virtual bool gives_blocks() const { return false; }
  /// The run's number of job slots, told before count() or next() (--pipepart --block -N
  /// makes N blocks per slot).
  virtual void use_slots(unsigned slots) { (void)slots; }
  /// A line to tell the user about the input (without "parmap: "), once; nullopt when none.
  virtual std::optional<std::string> take_warning() { return std::nullopt; }
};

struct ItemsAccess {
  static const std::vector<std::shared_ptr<ItemSource>>& sources(const Items& items)
  {
    return items.m_sources;
  }
  static Items make(std::vector<std::shared_ptr<ItemSource>> sources)
  {
    Items items;
    items.m_sources = std::move(sources);
    return items;
  }
};

} // namespace detail

/// Reads a descriptor parmap did not open without blocking the run: through a private
/// non-blocking view of it (base/fd.hpp), made at the first read so that building a source has
/// no side effect on the caller's descriptors.
class StreamReader {
public:
  explicit StreamReader(int fd) : m_fd(fd) {}
  /// read(2)'s result: -1 with errno EAGAIN when nothing is there yet, or EINTR when a signal
  /// came (on a descriptor that can be polled: the caller's loop handles the signal).
  ssize_t read(char* buf, std::size_t size);
  /// The descriptor to wait on for more (-1 when it cannot be polled).
  int wait_fd() const { return m_view.can_poll() ? m_view.fd : -1; }
  int fd() const { return m_fd; }

private:
  int m_fd;
  StdioFd m_view;
};

/// Splits a byte stream into records ended by one delimiter, capping each record's length.
class Splitter {
public:
  explicit Splitter(char delimiter) : m_delimiter(delimiter) {}
  char delimiter() const { return m_delimiter; }
  /// Adds bytes read from the stream.
  void feed(const char* data, std::size_t size);
  /// Takes the next complete record; false when none is complete yet.
  bool take(RawItem& out);
  /// At end of stream: takes the last, unterminated record, if any.
  bool finish(RawItem& out);
  /// Bytes held (the bound on a source's memory is this plus one read buffer).
  std::size_t buffered() const { return m_buf.size() - m_pos; }

private:
  void emit(std::size_t end, RawItem& out);

  char m_delimiter;
  std::string m_buf;
  std::size_t m_pos = 0;
  /// Bytes of the current record dropped because it passed k_max_item_bytes.
  std::uint64_t m_dropped = 0;
};

/// Counts the records in fd from its current offset to its end without moving the offset.
/// Throws parmap::Error on a read error.
std::uint64_t count_records(int fd, char delimiter, const std::string& name);

} // namespace parmap
