// ItemSpool: items read ahead of dispatch (--bar and --eta on a pipe, --shuf), kept in a
// temporary file so that memory stays bounded whatever the input's size, and handed out in
// input order or shuffled.
#pragma once

#include "input/input.hpp"
#include "output/spill.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace parmap {

class ItemSpool {
public:
  /// Spools into a file in `dir` ($TMPDIR or /tmp when empty), made once the items held in
  /// memory pass a bound (1 MiB), which is all the memory it holds besides, when shuffling,
  /// 8 bytes per item. `shuffle`: hand items out in random order, once the input ended.
  ItemSpool(const std::string& dir, bool shuffle);

  /// Appends an item read from the input. Throws parmap::Error (a full disk).
  void put(const Record& item);
  /// The input ended: nothing more is put. A shuffling spool starts handing items out.
  void end_of_input();
  /// Takes the next item; false when there is none (yet). Throws parmap::Error.
  bool take(Record& out);

  std::uint64_t count() const { return m_count; }
  bool input_ended() const { return m_ended; }

private:
  /// Copies `n` bytes at logical position `at` (the file, then what memory holds) into out.
  void read_at(std::uint64_t at, std::size_t n, char* out);
  /// Moves what memory holds to the file.
  void flush();
  /// Gives back the disk space of what was taken, in large steps.
  void release_taken();

  SpillFactory m_file;
  bool m_shuffle;
  bool m_ended = false;
  std::uint64_t m_count = 0;
  std::uint64_t m_in_file = 0;  ///< Logical bytes moved to the file (they come first).
  std::string m_memory;         ///< Logical bytes after m_in_file, not yet in the file.
  std::uint64_t m_read = 0;     ///< In input order: the logical position of the next item.
  std::uint64_t m_released = 0; ///< File bytes given back, from the start.
  std::vector<std::uint64_t> m_order; ///< Shuffling: each item's position, in the order to take.
  std::size_t m_next = 0;             ///< Shuffling: the next index into m_order.
};

} // namespace parmap
