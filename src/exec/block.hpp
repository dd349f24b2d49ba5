// Block: a piece of input that an item's process reads on its stdin (--pipe, --pipepart), and
// BlockQueue, which shares blocks out to long-running jobs as each is ready for one
// (--round-robin). Plain values an executor can write into a pipe, splice from a file, or ship.
#pragma once

#include "base/fd.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace parmap {

/// A range of an open file: the job reads these bytes through a pipe parmap splices them into,
/// without parmap ever copying them (--pipepart).
struct FileSpan {
  /// Read with explicit offsets only (pread, splice), so every block of a file shares it.
  std::shared_ptr<const Fd> file;
  std::string path; ///< For messages and the checkpoint key.
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/// One block: its header, then its body, held in memory or as a range of a file.
struct Block {
  /// The input's header (--header), given before the body of every block; null when none.
  std::shared_ptr<const std::string> header;
  std::string bytes;            ///< The body, when it was read from a stream (--pipe).
  std::optional<FileSpan> span; ///< The body, when it is a range of a file (--pipepart).
  std::uint64_t ordinal = 0;    ///< 1-based position among the blocks of its input.

  std::uint64_t body_size() const { return span ? span->length : bytes.size(); }
  std::uint64_t header_size() const { return header ? header->size() : 0; }
  /// What identifies the block in a checkpoint: its ordinal and a hash of its body for a
  /// stream; its file, offset, length and hash for a file range ("block 3: bytes
  /// 2097152-3145727 of big.log, xxh3 1f0c..."). Reads a range's bytes to hash them; throws
  /// parmap::Error when that fails.
  std::string key() const;
};

/// --round-robin: a few jobs run for the whole input, each reading block after block on its
/// stdin; the next block goes to whichever job is ready for one first. One thread uses it.
class BlockQueue {
public:
  /// A job's feeder, told when it may take again.
  class Taker {
  public:
    virtual void on_block_ready() = 0;

  protected:
    ~Taker() = default;
  };
  enum class Take {
    block, ///< `out` holds the next block.
    wait,  ///< None yet: the taker is told (once) when one comes or the queue closes.
    end,   ///< Closed and empty: the job's stdin ends.
  };

  /// Adds a block. With `wake`, tells the longest-waiting taker, which may take it at once;
  /// without, the block waits for a taker that comes (a job about to start).
  void push(std::shared_ptr<const Block> block, bool wake);
  /// No more blocks will come; waiting takers are told.
  void close();
  Take take(std::shared_ptr<const Block>& out, Taker& taker);
  /// The taker goes away (its job ended): it is no longer told anything.
  void forget(Taker& taker);
  /// A block waits for a taker: no running job is ready for it.
  bool has_pending() const { return !m_blocks.empty(); }
  bool closed() const { return m_closed; }

private:
  void wake_one();

  std::deque<std::shared_ptr<const Block>> m_blocks;
  std::deque<Taker*> m_waiting;
  bool m_closed = false;
};

} // namespace parmap
