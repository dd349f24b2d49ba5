#include "exec/agent/remote_config.hpp"

#include <cstdlib>

namespace parmap::agent {

std::vector<std::string> exported_env(const std::vector<std::string>& names)
{
  std::vector<std::string> env;
  for (const auto& name : names) {
    // bash exports a function f as BASH_FUNC_f%%: --env f carries it, as GNU parallel's does.
    for (const std::string& var : {name, "BASH_FUNC_" + name + "%%"}) {
      if (const char* value = std::getenv(var.c_str())) {
        env.push_back(var + "=" + value);
      }
    }
  }
  return env;
}

RemoteConfig remote_config(const Options& options)
{
  const Remote& remote = options.remote;
  RemoteConfig config;
  config.kill_grace = options.kill_grace;
  config.workdir = options.work_dir;
  config.env = exported_env(remote.env);
  config.transfers = remote.transfer;
  config.returns = remote.returns;
  config.basefiles = remote.basefiles;
  config.cleanup = remote.cleanup;
  // The agents must not start a queued item after an end that may halt the run.
  const Halt& halt = options.halt;
  bool halts = halt.when != Halt::When::never;
  config.hold.failure = halts && halt.on != Halt::On::success;
  config.hold.success = halts && halt.on != Halt::On::fail;
  return config;
}

} // namespace parmap::agent
