// StdinFeeder: writes an item's block into its stdin pipe (or its --fifo FIFO) as fast as the
// reader takes it, from the reactor, never blocking the run.
#pragma once

#include "base/fd.hpp"
#include "base/reactor.hpp"
#include "exec/block.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace parmap {

/// Writes the header and then the body of a block (from memory, or spliced from a file range
/// without passing through parmap), or, for --round-robin, of block after block taken from a
/// queue (the header once, before the first). Closes its end when everything is written, so
/// the reader sees EOF; stops quietly when the reader is gone (EPIPE: a job may exit without
/// reading all of its input). Destroying it stops it.
class StdinFeeder final : public Watcher, public BlockQueue::Taker {
public:
  /// Feeds the non-blocking write end `pipe`. Exactly one of `block` and `queue` is set.
  StdinFeeder(Reactor& reactor,
              Fd pipe,
              std::shared_ptr<const Block> block,
              std::shared_ptr<BlockQueue> queue);
  /// Feeds the FIFO at `fifo_path` once a reader has opened it: open(2) of a FIFO has no
  /// readiness event, so it is retried on a timer (1 ms, doubling up to 50 ms).
  StdinFeeder(Reactor& reactor,
              std::string fifo_path,
              std::shared_ptr<const Block> block,
              std::shared_ptr<BlockQueue> queue);
  ~StdinFeeder();
  StdinFeeder(const StdinFeeder&) = delete;
  StdinFeeder& operator=(const StdinFeeder&) = delete;

  /// Starts writing (call once the reader exists).
  void start();
  /// Bytes written so far.
  std::uint64_t written() const { return m_written; }
  /// Everything was written and the end closed, or the reader went away.
  bool done() const { return m_done; }

  void on_ready(std::uint32_t epoll_events) override;
  void on_block_ready() override;

private:
  void open_fifo();
  void pump();
  /// Writes some of the current block; the bytes written, or -1 with errno set.
  long write_some();
  long write_span(const FileSpan& span, std::uint64_t at, std::uint64_t left);
  bool next_block();
  void wait_writable(bool wait);
  void stop();

  Reactor& m_reactor;
  Fd m_fd;
  std::string m_fifo_path;        ///< --fifo: opened by open_fifo(); empty otherwise.
  Reactor::TimerId m_retry = 0;   ///< --fifo: the next open attempt, 0 if none.
  int m_retry_ms = 1;
  std::shared_ptr<const Block> m_block; ///< Being written; null between queued blocks.
  std::shared_ptr<BlockQueue> m_queue;
  std::uint64_t m_at = 0;         ///< Bytes of m_block (header included) written.
  bool m_header = true;           ///< m_block's header is still to be given.
  std::string m_copy;             ///< A span's bytes read by hand where splice(2) cannot be used.
  std::size_t m_copy_at = 0;
  bool m_splice = true;
  bool m_watching = false;        ///< m_fd is in the reactor.
  bool m_writable_wanted = false; ///< ... waiting for EPOLLOUT.
  bool m_done = false;
  std::uint64_t m_written = 0;
};

} // namespace parmap
