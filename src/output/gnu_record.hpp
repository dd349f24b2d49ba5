// GnuRecord: the columns GNU parallel writes for a job in its joblog and its --results
// CSV/TSV/JSON files (Seq Host Starttime JobRuntime Send Receive Exitval Signal Command).
#pragma once

#include "parmap/report.hpp"
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

/// The columns of a job, `start` in seconds since the epoch, `receive` its stdout's size.
template <class Job> GnuRecord gnu_record(const Job& job, double start, std::uint64_t receive)
{
  GnuRecord g;
  g.seq = job.seq;
  g.host = job.host.empty() ? ":" : job.step.empty() ? job.host : job.host + "/" + job.step;
  g.start = fmt::format("{:.3f}", start);
  g.runtime = job.duration;
  g.receive = receive;
  g.exitval = job.status == Status::timeout ? -1 : job.signal != 0 ? 0 : job.exit_code;
  g.signal = job.signal;
  return g;
}

inline GnuRecord gnu_record(const Result& r)
{
  return gnu_record(r, std::chrono::duration<double>(r.started.time_since_epoch()).count(),
                    r.out.size());
}

/// A recorded attempt's columns (--report --joblog).
inline GnuRecord gnu_record(const ReportAttempt& a)
{
  return gnu_record(a, a.started, a.stdout_bytes);
}

} // namespace parmap
