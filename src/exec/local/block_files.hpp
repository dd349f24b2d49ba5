// BlockFiles: the private temporary directory where a block becomes a file (--cat) or a FIFO
// (--fifo) whose path the command gets as {}, while its item runs.
#pragma once

#include "exec/block.hpp"

#include <cstdint>
#include <string>

namespace parmap {

/// Makes its directory (mode 0700, in the temporary directory) at first use and removes it,
/// with anything left in it, when destroyed.
class BlockFiles {
public:
  /// `temp_dir`: where to make the directory; empty means $TMPDIR or /tmp.
  explicit BlockFiles(std::string temp_dir) : m_temp_dir(std::move(temp_dir)) {}
  ~BlockFiles();
  BlockFiles(const BlockFiles&) = delete;
  BlockFiles& operator=(const BlockFiles&) = delete;

  /// The path of item `seq`'s block (nothing is made there). Throws parmap::Error when the
  /// directory cannot be made.
  std::string path(std::uint64_t seq);
  /// --cat: writes the block's header and body to a new file at `path` (a file range is copied
  /// by the kernel). Throws parmap::Error (a full disk), leaving no file behind.
  void write_file(const std::string& path, const Block& block);
  /// --fifo: makes a FIFO at `path`. Throws parmap::Error.
  void make_fifo(const std::string& path);
  /// Removes what is at `path` (best effort).
  void remove(const std::string& path);

private:
  std::string m_temp_dir;
  std::string m_dir; ///< Empty until made.
};

} // namespace parmap
