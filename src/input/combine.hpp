// Input sources combined: the parts of one source in turn, every combination of several
// (GNU parallel's ::: a b ::: 1 2), side by side (:::+, --link), and a source spooled to a
// temporary file when it must be read again and cannot be re-read in place.
#pragma once

#include "input/input.hpp"
#include "output/spill.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace parmap::detail {

/// One input source: its parts (lists, files, generators) one after another. With --header,
/// its first item is its header.
class SequenceSource final : public ItemSource {
public:
  explicit SequenceSource(std::vector<std::shared_ptr<ItemSource>> parts);
  Pull next(Record& out) override;
  int wait_fd() const override;
  std::optional<std::uint64_t> count() override;
  std::string name() const override;
  bool prepare_rewind() override;
  void rewind() override;
  bool take_headers() override;
  void append_headers(std::vector<std::string>& names) const override;
  void use_slots(unsigned slots) override;
  std::optional<std::string> take_warning() override;

private:
  Pull next_part(Record& out);

  std::vector<std::shared_ptr<ItemSource>> m_parts;
  std::size_t m_part = 0;
  bool m_header = false;    ///< Its first item is a header.
  bool m_delegate = false;  ///< Its one part (a combination) takes the headers itself.
  bool m_skip = false;      ///< The header is still to be read (or skipped, after a rewind).
  std::optional<Record> m_header_record;
};

/// Reads a source once, keeping its items in a temporary file (unlinked, in $TMPDIR) to replay
/// them after a rewind: for pipes and generators, which cannot be read twice.
class SpoolSource final : public ItemSource {
public:
  explicit SpoolSource(std::shared_ptr<ItemSource> inner) : m_inner(std::move(inner)) {}
  Pull next(Record& out) override;
  int wait_fd() const override { return m_replaying ? -1 : m_inner->wait_fd(); }
  std::optional<std::uint64_t> count() override { return m_inner->count(); }
  std::string name() const override { return m_inner->name(); }
  bool prepare_rewind() override { return true; }
  void rewind() override;
  bool take_headers() override { return m_inner->take_headers(); }
  void append_headers(std::vector<std::string>& names) const override
  {
    m_inner->append_headers(names);
  }

private:
  void read_exactly(char* out, std::size_t n);

  std::shared_ptr<ItemSource> m_inner;
  std::unique_ptr<SpillFile> m_file;
  std::uint64_t m_written = 0;
  bool m_replaying = false;
  std::uint64_t m_read = 0;    ///< Replay position in the file.
  std::string m_buf;           ///< Bytes read ahead while replaying.
  std::size_t m_buf_pos = 0;
};

/// Several sources combined into items of several arguments.
class CombinedSource final : public ItemSource {
public:
  enum class Mode {
    product, ///< Every combination, the last source varying fastest (::: a b ::: 1 2).
    zip,     ///< The n-th items together, ending with the shortest source (:::+).
    link,    ///< The same, ending with the longest: shorter sources start over (--link).
  };
  CombinedSource(std::vector<std::shared_ptr<ItemSource>> sources, Mode mode);
  Pull next(Record& out) override;
  int wait_fd() const override { return m_waiting; }
  std::optional<std::uint64_t> count() override;
  std::string name() const override;
  bool prepare_rewind() override;
  void rewind() override;
  bool take_headers() override;
  void append_headers(std::vector<std::string>& names) const override;

private:
  Pull pull(std::size_t i);
  Pull next_product(Record& out);
  Pull next_side_by_side(Record& out);
  void emit(Record& out);

  std::vector<std::shared_ptr<ItemSource>> m_sources;
  Mode m_mode;
  std::vector<Record> m_current; ///< The current item of each source.
  int m_waiting = -1;            ///< The descriptor of the source that would block.
  bool m_started = false;
  // Product: the source to advance next (npos: none), and the first source still to be read
  // from its start (size(): none).
  std::size_t m_advance = 0;
  std::size_t m_refill = 0;
  // Zip and link: the next source to read for the current item; per source, whether it has
  // ended once (link: it started over); whether the current item has a value read for the
  // first time.
  std::size_t m_filled = 0;
  std::vector<bool> m_ended;
  bool m_fresh = false;
};

} // namespace parmap::detail
