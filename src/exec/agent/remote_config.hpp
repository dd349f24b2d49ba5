// remote_config: what every remote run (-S hosts, --slurm steps) takes from the run's options.
#pragma once

#include "exec/agent/remote_executor.hpp"
#include "parmap/options.hpp"

#include <string>
#include <vector>

namespace parmap::agent {

/// The agents' settings from `options` (kill grace, --workdir, --env, files to transfer, return
/// and clean up); endpoints and slots are the caller's.
RemoteConfig remote_config(const Options& options);

/// NAME=VALUE for each variable named (with bash's exported function NAME, if any); names not
/// set are left out.
std::vector<std::string> exported_env(const std::vector<std::string>& names);

} // namespace parmap::agent
