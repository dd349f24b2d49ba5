// BlockCutter: GNU parallel's --pipe rules for cutting a stream into blocks of whole records,
// as a pure state machine over the bytes read (no I/O), and the split points of --pipepart.
#pragma once

#include "input/records.hpp"
#include "parmap/items.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace parmap {

/// Cuts a stream as GNU parallel's --pipe does: the header first (--header), then rounds of
/// "read until the buffer holds a block size, cut": at its last record boundary, or after every
/// N records (-N), or after a multiple of L lines (-L). A round that cuts nothing makes the
/// block size 30% larger for the rest of the stream (a record was longer than a block). At the
/// end, what is left is the last block. The blocks depend only on the bytes, never on how the
/// reads split them. Memory: the buffer holds at most one block size (or N records with -N).
class BlockCutter {
public:
  /// Throws parmap::Error for a size below 1 or a regular expression that does not compile.
  explicit BlockCutter(const BlockFormat& format);

  /// Where to read the next bytes, and at most how many the cutter takes now (never 0 before
  /// the end). Valid until the next call of any other member.
  std::span<char> space();
  /// `n` bytes were read into space().
  void added(std::size_t n);
  /// The stream ended.
  void end();
  /// Takes the next block's body; false when more bytes are needed, or after the last block.
  bool take(std::string& body);
  /// The stream ended and its last block was taken.
  bool done() const { return m_ended && m_ready.empty() && m_len == 0; }
  /// The header, once it is known (null before, or when there is none).
  const std::shared_ptr<const std::string>& header() const { return m_header; }
  /// The block size now: --block, grown by records longer than it.
  std::uint64_t block_size() const { return m_block; }
  /// The block size it grew from since the last call, if it grew.
  std::optional<std::uint64_t> take_growth();

private:
  bool read_header();
  void cut_round();
  void cut_at(std::size_t split);
  void cut_records(std::size_t per_block);
  std::optional<std::size_t> last_line_multiple() const;
  std::string_view view() const { return {m_buf.data(), m_len}; }

  RecordBoundary m_boundary;
  std::optional<HeaderPattern> m_header_pattern; ///< Until the header is read.
  std::shared_ptr<const std::string> m_header;
  std::size_t m_records; ///< Records per block (-N, times -L); 0 to fill blocks.
  std::size_t m_lines;   ///< -L without -N: blocks hold a multiple of this many lines.
  std::uint64_t m_block;
  std::optional<std::uint64_t> m_grew_from;
  std::string m_buf;     ///< m_len bytes of input, then room for the next read.
  std::size_t m_len = 0;
  std::size_t m_target;  ///< Bytes the buffer must hold (or the stream end) before a round.
  std::deque<std::string> m_ready; ///< Cut, not yet taken.
  bool m_ended = false;
};

/// Where --pipepart's blocks of one file start and end: from `start` (past the header), every
/// `block` bytes moved forward to the next record boundary, plus the end of the file.
/// Returns the boundaries in order: block i is [result[i], result[i + 1]). Reads the file
/// (`fd`, with pread) only near each nominal position. Throws parmap::Error on a read error.
std::vector<std::uint64_t> file_split_points(int fd,
                                             const std::string& name,
                                             std::uint64_t size,
                                             std::uint64_t start,
                                             std::uint64_t block,
                                             const RecordBoundary& boundary);

} // namespace parmap
