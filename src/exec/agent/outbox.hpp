// Outbox: frames waiting to go out on a non-blocking descriptor, strictly in order: in memory
// up to a budget, beyond it in a spill file; files to send are read only when their turn comes.
#pragma once

#include "base/fd.hpp"
#include "exec/agent/protocol.hpp"
#include "output/spill.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace parmap::agent {

class Outbox {
public:
  /// Frames beyond `memory_budget` bytes waiting in memory go to `spill`'s file, so that a peer
  /// that reads slowly costs disk, not memory.
  Outbox(SpillFactory& spill, std::size_t memory_budget);
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  /// Queues bytes that are whole frames (or the greeting).
  void push(std::string frames);
  /// Queues a file as FileBegin `header`, FileData frames and FileEnd. An invalid `file` is
  /// sent as FileBegin and FileEnd with `error`.
  void push_file(FileBegin header, Fd file, std::string error = {});
  /// Writes to `fd` until everything is out or it would block. Returns false when a write
  /// failed (errno says why; EPIPE: the peer is gone).
  bool flush(int fd);
  bool empty() const { return m_entries.empty() && m_head_pos == m_head.size(); }
  /// Bytes held in memory (the spilled and file parts not counted).
  std::size_t memory_bytes() const { return m_memory + (m_head.size() - m_head_pos); }

private:
  struct FileSource {
    FileBegin header;
    Fd fd;
    std::string error;
    bool begun = false;
  };
  /// One queued piece: bytes in memory, a range of the spill file, or a file to read.
  struct Entry {
    std::string bytes;
    Extent spilled;
    std::unique_ptr<FileSource> file;
  };
  /// Moves queued pieces into m_head, up to about k_write_size; false when nothing is queued.
  bool fill_head();
  /// Appends the file's next frame(s) to m_head; true once its FileEnd is there.
  bool read_file(FileSource& file);

  SpillFactory& m_spill;
  std::size_t m_budget;
  std::deque<Entry> m_entries;
  std::size_t m_memory = 0; ///< Bytes of the memory entries.
  std::string m_head;       ///< What is being written now.
  std::size_t m_head_pos = 0;
};

} // namespace parmap::agent
