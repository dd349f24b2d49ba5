// remote_options: -S and the options of running on other hosts (GNU parallel's spellings).
#pragma once

#include "raw_options.hpp"

#include "parmap/parmap.hpp"

namespace CLI {
class App;
}

namespace parmap::cli {

/// Adds -S, --sshloginfile, --ssh, --remote-parmap, the transfer options, --basefile, --slurm
/// and --slurm-alloc.
void add_remote_options(CLI::App& app, Options& o, Raw& r);

/// Completes o.remote from `r`: sshlogin files read, $PARALLEL_SSH, --trc/--transfer spelled
/// out, --env names (with "_") resolved. Throws UsageError for a file it cannot read.
void finish_remote(const Raw& r, Options& o);

} // namespace parmap::cli
