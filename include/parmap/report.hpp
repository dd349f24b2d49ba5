// parmap::read_report: what a checkpoint holds, summarised without running anything.
#pragma once

#include "parmap/result.hpp"

#include <cstdint>
#include <string>
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

} // namespace parmap
