// Executor: the interface between the scheduler and whatever runs items (processes here; remote
// hosts later). It runs batches on slots and reports per-item events.
#pragma once

#include "parmap/result.hpp"
#include "base/reactor.hpp"
#include "exec/block.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <variant>
#include <vector>

namespace parmap {

/// One item as dispatched: what one command runs with.
struct Item {
  std::uint64_t seq = 0; ///< 1-based input position; the key of everything downstream.
  /// The command's arguments: one for a plain item; one per input source or column; a group's
  /// (several items' arguments, in order) with -n, -X, -m. None for a block (--pipe).
  std::vector<std::string> args;
  /// The size in the input of an argument that was longer than one argument may be (it was cut,
  /// and the item fails instead of running); 0 when none was.
  std::uint64_t oversize = 0;
  double timeout = 0; ///< Seconds this attempt may run; 0 means no limit.
  /// --pipe, --pipepart: what the process reads on stdin; null: the executor's default.
  std::shared_ptr<const Block> block;
  /// --round-robin: the process reads block after block from this queue on stdin, until it is
  /// closed and empty; null when not.
  std::shared_ptr<BlockQueue> block_queue;
};

/// Consecutive items handed to one slot as a unit. Each item still runs and ends on its own.
struct Batch {
  std::vector<Item> items;
};

enum class Stream : std::uint8_t { out, err };
/// 0 for stdout, 1 for stderr: where a per-stream pair of things keeps each.
inline int index_of(Stream s)
{
  return s == Stream::out ? 0 : 1;
}

/// An item's process has started.
struct ItemStarted {
  std::uint64_t seq = 0;
  unsigned slot = 0;
  /// The remote host it runs on (empty: this machine). A remote item may be lost with its
  /// connection and run again, so its output is held until it ends, never streamed.
  std::string host;
  /// The process group the item leads (its leader's pid); 0 when no process started (a failed
  /// start, --dry-run).
  pid_t pgid = 0;
  /// The leader's start time, in clock ticks after boot (/proc/PID/stat field 22): with `pgid`,
  /// what tells this group from a later one that reuses the number. 0 when not read yet (it
  /// costs a /proc read): it can be read from /proc/<pgid>/stat while the item runs, since the
  /// leader stays unreaped until its ItemEnded.
  std::uint64_t leader_start = 0;
};

/// An item has ended: its process exited (or could not start) and its output is all read.
struct ItemEnded {
  std::uint64_t seq = 0;
  unsigned slot = 0;
  Status status = Status::ok;
  int exit_code = 0;
  int signal = 0;
  std::chrono::system_clock::time_point started;
  double duration = 0;
  /// The executor killed it because it was told to stop: not a result, it runs again on resume.
  bool interrupted = false;
  /// Its host's connection was lost before it ended: not an attempt and not a result; it goes
  /// back to the queue to run elsewhere.
  bool lost = false;
  std::string host; ///< As in ItemStarted.
  std::string step; ///< The Slurm job step that ran it ("JOBID.STEPID"), if one did.
};

/// A slot finished its batch (or dropped it when stopping) and can take another.
struct SlotFree {
  unsigned slot = 0;
  /// The slot is gone (its host was lost): the run has one slot less, until a SlotFree without
  /// `gone` for it brings it back.
  bool gone = false;
};

/// Something to tell the user that is no item's output (a host lost, back, or given up). When
/// `fatal`, the run cannot go on and stops with `message` as its error.
struct ExecutorNotice {
  std::string message;
  bool fatal = false;
};

using ExecutorEvent = std::variant<ItemStarted, ItemEnded, SlotFree, ExecutorNotice>;

/// Receives output as it is read, synchronously, in the executor's wait().
class OutputListener {
public:
  /// Bytes an item wrote. Return false to stop reading that stream until resume_output().
  virtual bool on_output(std::uint64_t seq, Stream stream, std::string_view bytes) = 0;

  /// Called when a stream's pipe is readable, before the executor reads it: the listener may
  /// move the bytes itself, without copying them through memory (splice(2) to stdout or to a
  /// spill file). Returns the bytes it moved (there may be more), 0 at the end of the stream,
  /// or -1 when it took nothing: the executor then reads them and calls on_output(). The
  /// default takes nothing.
  virtual long take_from_pipe(std::uint64_t seq, Stream stream, int pipe_fd)
  {
    (void)seq;
    (void)stream;
    (void)pipe_fd;
    return -1;
  }

protected:
  ~OutputListener() = default;
};

class Executor {
public:
  virtual ~Executor() = default;
  /// Runs `batch` on free slot `slot`; its items run one after another.
  virtual void start(unsigned slot, Batch batch) = 0;
  /// Waits until something happens or `until` passes, and appends what happened to `events`.
  virtual void wait(std::optional<Clock::time_point> until, std::vector<ExecutorEvent>& events) = 0;
  /// Cancels every item with seq >= from_seq: queued ones are dropped and running ones get
  /// `signal` (none when 0), then SIGKILL after the kill grace. Each cancelled item ends with
  /// `interrupted` set, unless it had already exited on its own.
  virtual void cancel(std::uint64_t from_seq, int signal) = 0;
  /// SIGKILL to every running item now (a second interrupt).
  virtual void kill_all() = 0;
  /// Stops every running item (SIGSTOP to its process group): parmap itself is being stopped
  /// (job control). Deadlines do not move here: the caller postpones the reactor's timers.
  virtual void stop_all() = 0;
  /// Continues what stop_all() stopped (SIGCONT).
  virtual void continue_all() = 0;
  /// Resumes reading an item's output after on_output() returned false.
  virtual void resume_output(std::uint64_t seq) = 0;
  /// Items running now.
  virtual std::size_t running() const = 0;
};

} // namespace parmap
