// parmap::read_report: what a checkpoint holds, summarised without running anything.
#pragma once

#include "parmap/result.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// One recorded item, as the report shows it.
struct ReportItem {
  std::uint64_t seq = 0;
  std::vector<std::string> args; ///< The command's arguments.
  std::string item;              ///< They, joined by spaces.
  Status status = Status::ok;
  int exit_code = 0;
  int signal = 0;
  double duration = 0;
  unsigned attempts = 1;
  std::string stderr_tail; ///< The end of its stderr (failures only).
};

/// What one host ran (--sshlogin and --slurm runs).
struct HostReport {
  std::string host; ///< ":" for this machine.
  std::uint64_t done = 0;
  std::uint64_t failed = 0; ///< Of those, not ok.
  double busy_seconds = 0;  ///< Sum of their durations.
  /// The Slurm job steps ("JOBID.STEPID") that ran them there, in the order of their first item.
  std::vector<std::string> steps;
};

/// An item the checkpoint records as running: in the run using it now, or, when no run is,
/// left running by a run that was killed (`--resume` terminates those groups first).
struct ReportRunning {
  std::uint64_t seq = 0;
  std::vector<std::string> args; ///< The command's arguments; none for a block (--pipe).
  std::string item;              ///< They, joined by spaces.
  int pgid = 0;        ///< Its process group.
  double started = 0;  ///< Unix time it started.
  bool alive = false;  ///< The group still has processes on this host.
};

/// A summary of a checkpoint.
struct CheckpointReport {
  std::string path;
  std::string command; ///< The command template of the recorded run.
  std::string options; ///< Its options that change results.
  std::string version; ///< The parmap that started it.
  double created = 0;  ///< Unix time the run record was written.
  std::uint64_t total = 0;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t timeout = 0;
  std::uint64_t signaled = 0;
  double busy_seconds = 0; ///< Sum of the items' durations.
  std::vector<ReportItem> slowest;  ///< The `top` longest items, longest first.
  std::vector<ReportItem> failures; ///< Up to `top` items that did not succeed, in input order.
  std::vector<HostReport> hosts; ///< Per host, when remote hosts ran items; empty otherwise.
  bool run_active = false; ///< A parmap run is using the checkpoint now.
  /// Items recorded as running (those that had run at least 0.1 s), in input order.
  std::vector<ReportRunning> running;
};

/// Reads a checkpoint without changing it (it may belong to a run in progress). Throws
/// parmap::Error naming the file if it cannot be read or is not a parmap checkpoint.
CheckpointReport read_report(const std::string& path, std::size_t top = 10,
                             std::size_t tail_bytes = 300);

/// The report as one JSON object and a newline (`parmap --report --json`).
std::string to_json(const CheckpointReport& report);

/// How an item ended, in a few words: "exit 0", "exit 3", "timed out", "signal 9".
std::string describe_end(Status status, int exit_code, int signal);

// ---- Run history: every start or resume and every attempt (checkpoints from parmap 0.2) ----

/// One start or resume of a run. A checkpoint written by parmap 0.1.0 kept none: its results
/// read as one session with id 0, from the run record.
struct ReportSession {
  std::int64_t id = 0;        ///< 1, 2, ... in start order; 0 for parmap 0.1.0's results.
  double started = 0;         ///< Unix time.
  double last_commit = 0;     ///< Unix time of its last commit; 0 if it committed nothing.
  std::int64_t pid = 0;       ///< The parmap process; 0 when not recorded.
  unsigned slots = 0;         ///< Its -j; 0 when not recorded.
  double timeout = 0;         ///< --timeout in seconds; 0 for none.
  double timeout_percent = 0; ///< --timeout N%: N; 0 for none.
  std::string command;        ///< The command template, as the run record shows it.
  bool shell = false;         ///< The command ran through /bin/sh -c.
  std::string options;
  std::string version;        ///< The parmap that ran it.
  std::uint64_t replayed = 0; ///< Results it replayed from earlier sessions.
};

/// One attempt at an item: its result, a failure that was retried, or one parmap stopped.
struct ReportAttempt {
  std::int64_t session = 0; ///< ReportSession::id.
  std::uint64_t seq = 0;    ///< The item's position in that session's input.
  std::vector<std::string> args; ///< The command's arguments.
  std::string item;              ///< They, joined by spaces.
  std::string host;         ///< Where it ran; empty for this machine.
  std::string step;         ///< The Slurm job step that ran it ("JOBID.STEPID"); or empty.
  unsigned slot = 0;        ///< 1-based; 0 when not recorded (parmap 0.1.0).
  unsigned attempt = 1;     ///< 1 for the first try.
  bool is_result = true;    ///< Its outcome is the item's result (not tried again, not stopped).
  Status status = Status::ok;
  bool interrupted = false; ///< parmap stopped it (a signal, a halt); status is then failed.
  int exit_code = 0;
  int signal = 0;
  double started = 0;       ///< Unix time.
  double duration = 0;      ///< Seconds.
  std::uint64_t stdout_bytes = 0; ///< Bytes it wrote to stdout.
};

/// The sessions of the checkpoint at `path`, in start order. Throws parmap::Error as read_report.
std::vector<ReportSession> read_sessions(const std::string& path);

/// Calls `visit` for every recorded attempt, session after session, in input order within one
/// (retries after the first try). Reads one row at a time. Throws parmap::Error as read_report.
void for_each_attempt(const std::string& path,
                      const std::function<void(const ReportAttempt&)>& visit);

/// The command line `attempt` ran, shell-quoted as --joblog writes it (rebuilt from the
/// session's command template).
std::string command_line(const ReportSession& session, const ReportAttempt& attempt);

/// Writes the checkpoint's report as one self-contained HTML page (`parmap --report --html`):
/// the summary, a timeline of every attempt per session and slot, and a histogram of
/// durations. Reads the file in one consistent snapshot (a run may be writing it) and hands
/// the page to `write` piece by piece; memory stays bounded whatever the number of items.
/// Throws parmap::Error as read_report, or whatever `write` throws.
void write_html_report(const std::string& path,
                       const std::function<void(std::string_view)>& write);

/// Writes GNU parallel's joblog of the checkpoint's results (`parmap --report --joblog`): the
/// header, then one line per result, session after session, in input order within each: the
/// lines the runs' own --joblog wrote, without replayed results. Hands it to `write` line by
/// line. Throws parmap::Error as read_report, or whatever `write` throws.
void write_joblog_report(const std::string& path,
                         const std::function<void(std::string_view)>& write);

} // namespace parmap
