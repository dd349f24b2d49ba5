// slurm_executor: the executor of a run with --slurm: one long-lived job step per slot in a
// Slurm allocation, each a `parmap --agent` fed over srun's stdin and stdout (RemoteExecutor),
// started at a bounded rate. The allocation is the one parmap runs in, or one it gets with
// salloc for the run (--slurm-alloc).
#pragma once

#include "exec/agent/remote_executor.hpp"
#include "parmap/options.hpp"

#include <memory>

namespace parmap {

/// Steps started per second at most: sites count step creations against their controller.
inline constexpr double k_step_starts_per_second = 20;

/// Builds the executor of a --slurm run: `jobs` steps (0: one per task of the allocation),
/// waiting (up to 30 s) for them to greet. Throws parmap::Error outside an allocation without
/// --slurm-alloc (saying how to get one), when salloc fails, or when no step starts; and
/// parmap::Interrupted when a signal comes while salloc waits in the queue.
std::unique_ptr<agent::RemoteExecutor> make_slurm_executor(Reactor& reactor,
                                                           const LaunchBuilder& launch,
                                                           OutputListener& listener,
                                                           const Options& options, unsigned jobs);

} // namespace parmap
