// Slurm allocations: the one parmap runs in, read from its environment as srun reads it; whether
// it still lives (squeue); and one obtained for the run with salloc (--slurm-alloc).
#pragma once

#include "base/fd.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace parmap::slurm {

/// What parmap needs to know of a Slurm allocation to run steps in it.
struct Allocation {
  std::string job_id;
  /// Tasks it was granted (SLURM_NTASKS); without -n, its CPUs over cpus_per_task.
  unsigned tasks = 1;
  unsigned cpus_per_task = 0; ///< SLURM_CPUS_PER_TASK; 0 when not given (one CPU a task).
  /// parmap itself runs in a job step (SLURM_STEP_ID), which holds CPUs its steps must share.
  bool in_step = false;
};

/// The allocation described by `env` (NAME=VALUE, as an allocation's commands see it); nothing
/// when SLURM_JOB_ID is not set.
std::optional<Allocation> allocation_of(const std::vector<std::string>& env);

/// The CPUs in SLURM_JOB_CPUS_PER_NODE's notation ("2(x3),1" is 7); 0 when it cannot be read.
unsigned count_cpus(std::string_view cpus_per_node);

/// Why the allocation can run no more steps, as squeue tells its state ("TIMEOUT",
/// "CANCELLED", "gone" once the controller forgot it); empty while it runs, and when squeue
/// cannot tell (a controller too busy to answer is not the end of the allocation).
std::string allocation_end(const std::string& job_id, const std::vector<std::string>& env);

/// An allocation obtained with `salloc ARGS` for one run (--slurm-alloc). salloc runs a holder
/// that prints the allocation's environment and waits for its stdin to close; so the
/// allocation is released when this is destroyed, and also when parmap dies.
class Salloc {
public:
  /// Runs salloc (its messages go to parmap's stderr) and waits, as long as the queue takes,
  /// until the allocation is granted. `args` is split at blanks. Throws parmap::Error when
  /// salloc ends first; with `watch_signals`, parmap::Interrupted when SIGINT, SIGTERM or SIGHUP
  /// comes meanwhile (the request is withdrawn first).
  Salloc(const std::string& args, const std::vector<std::string>& env, bool watch_signals);
  /// Releases the allocation and waits for salloc to exit.
  ~Salloc();
  Salloc(const Salloc&) = delete;
  Salloc& operator=(const Salloc&) = delete;

  /// The allocation's environment: NAME=VALUE of every SLURM_* variable its commands get.
  const std::vector<std::string>& env() const { return m_env; }

private:
  /// Waits up to `limit` seconds for salloc to exit; true when it did (and was reaped).
  bool reaped_within(double limit);
  /// Sends salloc `signal`, and SIGKILL if it has not exited `grace` seconds later; reaps it.
  void stop(int signal, double grace);

  pid_t m_pid = -1;
  Fd m_pidfd;
  Fd m_hold; ///< The holder's stdin: closing it ends the holder, and so the allocation.
  std::vector<std::string> m_env;
};

} // namespace parmap::slurm
