// GnuRecord: the columns GNU parallel writes for a job in its joblog and its --results
// CSV/TSV/JSON files (Seq Host Starttime JobRuntime Send Receive Exitval Signal Command).
#pragma once

#include "parmap/result.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace parmap {

struct GnuRecord {
  std::uint64_t seq = 0;
  /// As -S named it; ":" is this machine, as in GNU parallel; NODE/JOBID.STEPID for a job
  /// that ran in a Slurm step (--slurm).
  std::string host;
  std::string start;     ///< Seconds since the epoch, 3 decimals ("1700000000.123").
  double runtime = 0;    ///< Seconds.
  std::uint64_t receive = 0; ///< Bytes the job wrote to stdout.
  /// The exit code; 0 when a signal ended the job, -1 when parmap killed it (its timeout):
  /// scripts filter failures with `$7 != 0`.
  int exitval = 0;
  int signal = 0; ///< The signal that ended the job, 0 if none.
};

inline GnuRecord gnu_record(const Result& r)
{
  GnuRecord g;
  g.seq = r.seq;
  g.host = r.host.empty() ? ":" : r.step.empty() ? r.host : r.host + "/" + r.step;
  g.start = fmt::format("{:.3f}",
                        std::chrono::duration<double>(r.started.time_since_epoch()).count());
  g.runtime = r.duration;
  g.receive = r.out.size();
  g.exitval = r.status == Status::timeout ? -1 : r.signal != 0 ? 0 : r.exit_code;
  g.signal = r.signal;
  return g;
}

} // namespace parmap
