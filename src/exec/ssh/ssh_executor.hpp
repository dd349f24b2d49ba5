// ssh_executor: the executor of a run with --sshlogin: this machine's slots (":") and one
// agent per host over ssh (RemoteExecutor), behind one Executor.
#pragma once

#include "exec/executor.hpp"
#include "exec/launch.hpp"
#include "exec/local/local_executor.hpp"
#include "parmap/options.hpp"

#include <memory>

namespace parmap {

struct SshExecutor {
  std::unique_ptr<Executor> executor;
  unsigned slots = 0;
  /// This machine's slots (":"), numbered first; the others are remote.
  unsigned local_slots = 0;
};

/// Connects to the hosts of options.remote (waiting for their agents' greetings) and builds
/// the executor. `jobs` is -j (0: each host's CPU count); `local` configures the slots of ":".
/// Throws parmap::Error for a bad sshlogin, or when no host can be reached and ":" is not one.
SshExecutor make_ssh_executor(Reactor& reactor, const LaunchBuilder& launch,
                              OutputListener& listener, const Options& options, unsigned jobs,
                              LocalExecutorConfig local);

} // namespace parmap
