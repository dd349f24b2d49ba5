// parmap::Result and friends: what one item produced, and how a run ended.
#pragma once

#include "parmap/options.hpp"
#include "parmap/output.hpp"

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace parmap {

/// How an item ended.
enum class Status {
  ok,       ///< Exited with status 0.
  failed,   ///< Exited non-zero, or could not be started (exit 126/127).
  timeout,  ///< Killed because its timeout passed (exit 124).
  signaled, ///< Killed by a signal it did not get from parmap (exit 128+N).
};

/// "ok", "failed", "timeout" or "signaled".
const char* to_string(Status status);

/// The terminal record of one item.
struct Result {
  std::uint64_t seq = 0; ///< 1-based position in the input.
  /// The command's arguments: the item; with several input sources or --colsep, one per source
  /// or column; with -n, -X or -m, those of every item the command served.
  std::vector<std::string> args;
  std::string item; ///< The arguments joined by spaces, as {} renders them (the item's text).
  Status status = Status::ok;
  /// The exit status as a shell reports it: the exit code, 128+N for signal N, 124 for a
  /// timeout, 127 for a command not found, 126 for one that cannot be executed.
  int exit_code = 0;
  int signal = 0; ///< The signal that ended the process, 0 if none.
  Output out;     ///< What the item wrote to stdout.
  Output err;     ///< What the item wrote to stderr.
  std::chrono::system_clock::time_point started; ///< When its last attempt started.
  double duration = 0;                           ///< Seconds its last attempt ran.
  unsigned attempts = 1;                         ///< Attempts made (1 + retries used).
  unsigned slot = 0;     ///< 1-based slot that ran it (0 if replayed).
  std::string host;      ///< The remote host that ran it (as -S named it); empty: this machine.
  std::string step;      ///< The Slurm job step that ran it ("JOBID.STEPID", --slurm); or empty.
  bool replayed = false; ///< Taken from the checkpoint instead of being run.
  std::string command;   ///< The command line, shell-quoted (only with record_command).

  bool ok() const { return status == Status::ok; }
};

/// Thrown (fail-fast mode) when the first failed item is reached: by the results iterator in
/// input order, or from a future.
class ItemFailed : public std::runtime_error {
public:
  explicit ItemFailed(Result result);
  const Result& result() const { return m_result; }

private:
  Result m_result;
};

/// Thrown when the run was stopped by a signal that would have ended the process (SIGINT,
/// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, ...; see Options::handle_signals). Running items were
/// terminated and the checkpoint committed.
class Interrupted : public std::runtime_error {
public:
  explicit Interrupted(int signal);
  int signal() const { return m_signal; }

private:
  int m_signal;
};

/// Counts kept while a run goes, and how it ended.
struct Progress {
  std::uint64_t started = 0;   ///< Items started (attempts not counted twice).
  std::uint64_t finished = 0;  ///< Items with a terminal record, replayed ones included.
  std::uint64_t failed = 0;    ///< Of those, not ok.
  std::uint64_t replayed = 0;  ///< Of those, taken from the checkpoint.
  std::uint64_t running = 0;   ///< Items running now.
  std::uint64_t total = 0;     ///< Items in the input, when known_total.
  bool known_total = false;    ///< The input's length was known before the run.
  double elapsed = 0;          ///< Seconds since the run started.
};

/// How a run ended.
struct Summary {
  Progress counts;
  /// The run stopped at a failure (fail-fast or --halt); `stop_result` says which.
  bool halted = false;
  /// The item that triggered the halt, when halted.
  Result stop_result;
  /// The run's halt rule (Options::halt), which exit_status() follows.
  Halt halt;
  /// Failed items of this run when the halt was triggered.
  std::uint64_t failed_at_halt = 0;
  /// The output fd was closed by its reader (EPIPE); the run stopped early.
  bool output_closed = false;

  /// The exit status the command line reports, GNU parallel's: 0 when nothing failed; the
  /// number of failed items (101 for more than 100), or their percentage of all items when the
  /// halt rule counts in percent; when a halt on one failure (the default) or one finished item
  /// was triggered, that item's status; 0 after a halt on success.
  int exit_status() const;
};

} // namespace parmap
