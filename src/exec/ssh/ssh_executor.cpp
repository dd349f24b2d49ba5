#include "exec/ssh/ssh_executor.hpp"

#include "exec/agent/remote_executor.hpp"
#include "exec/composite_executor.hpp"
#include "exec/ssh/sshlogin.hpp"
#include "parmap/parmap.hpp"

#include <cstdlib>

namespace parmap {

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

SshExecutor make_ssh_executor(Reactor& reactor, const LaunchBuilder& launch,
                              OutputListener& listener, const Options& options, unsigned jobs,
                              LocalExecutorConfig local)
{
  const Remote& remote = options.remote;
  auto logins = parse_sshlogins(remote.sshlogins, split_words(remote.ssh));
  agent::RemoteConfig config;
  config.slots = jobs;
  config.kill_grace = options.kill_grace;
  config.workdir = options.work_dir;
  config.env = exported_env(remote.env);
  config.transfers = remote.transfer;
  config.returns = remote.returns;
  config.basefiles = remote.basefiles;
  config.cleanup = remote.cleanup;
  unsigned local_slots = 0;
  std::string agent_command = "exec " + shell_quote(remote.remote_parmap) + " --agent";
  for (const auto& login : logins) {
    if (login.local()) {
      local_slots = login.slots ? login.slots : (jobs ? jobs : cpu_count());
      continue;
    }
    agent::Endpoint endpoint;
    endpoint.name = login.name;
    endpoint.command = login.ssh;
    endpoint.command.push_back(login.host);
    endpoint.command.push_back(agent_command);
    endpoint.slots = login.slots;
    config.endpoints.push_back(std::move(endpoint));
  }
  std::vector<CompositeExecutor::Part> parts;
  if (local_slots > 0) {
    local.slots = LocalExecutor::fd_limited_slots(local_slots);
    local.first_slot = 1;
    local.env = {"PARMAP_HOST=:", "PARALLEL_SSHLOGIN=:"};
    parts.push_back({1, local.slots, std::make_unique<LocalExecutor>(reactor, launch, listener, local)});
  }
  if (!config.endpoints.empty()) {
    config.first_slot = 1 + (parts.empty() ? 0 : parts.front().slots);
    config.last_resort = parts.empty();
    auto executor = std::make_unique<agent::RemoteExecutor>(reactor, launch, listener, config);
    unsigned slots = executor->slots();
    parts.push_back({config.first_slot, slots, std::move(executor)});
  }
  SshExecutor made;
  for (const auto& part : parts) {
    made.slots += part.slots;
  }
  if (parts.size() == 1) {
    made.executor = std::move(parts.front().executor);
  } else {
    made.executor = std::make_unique<CompositeExecutor>(reactor, std::move(parts));
  }
  return made;
}

} // namespace parmap
