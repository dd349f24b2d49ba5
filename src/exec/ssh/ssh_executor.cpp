#include "exec/ssh/ssh_executor.hpp"

#include "exec/agent/remote_config.hpp"
#include "exec/agent/remote_executor.hpp"
#include "exec/composite_executor.hpp"
#include "exec/ssh/sshlogin.hpp"
#include "parmap/parmap.hpp"

namespace parmap {

SshExecutor make_ssh_executor(Reactor& reactor, const LaunchBuilder& launch,
                              OutputListener& listener, const Options& options, unsigned jobs,
                              LocalExecutorConfig local)
{
  const Remote& remote = options.remote;
  auto logins = parse_sshlogins(remote.sshlogins, split_words(remote.ssh));
  agent::RemoteConfig config = agent::remote_config(options);
  config.slots = jobs;
  // --onall: a host is one slot, and keeps it when given up (its jobs fail there).
  config.pinned = remote.on_all;
  unsigned local_slots = 0;
  std::string agent = remote.remote_parmap.empty() ? "parmap" : remote.remote_parmap;
  std::string agent_command = "exec " + shell_quote(agent) + " --agent";
  for (const auto& login : logins) {
    if (login.local()) {
      local_slots = remote.on_all ? 1 : (login.slots ? login.slots : (jobs ? jobs : cpu_count()));
      continue;
    }
    agent::Endpoint endpoint;
    endpoint.name = login.name;
    endpoint.command = login.ssh;
    endpoint.command.push_back(login.host);
    endpoint.command.push_back(agent_command);
    endpoint.slots = remote.on_all ? 1 : login.slots;
    endpoint.item_env = {"PARALLEL_SSHLOGIN=" + login.name};
    config.endpoints.push_back(std::move(endpoint));
  }
  std::vector<CompositeExecutor::Part> parts;
  SshExecutor made;
  if (local_slots > 0) {
    local.slots = LocalExecutor::fd_limited_slots(local_slots);
    local.first_slot = 1;
    made.local_slots = local.slots;
    local.env = {"PARMAP_HOST=:", "PARALLEL_SSHLOGIN=:"};
    parts.push_back({1, local.slots, std::make_unique<LocalExecutor>(reactor, launch, listener, local)});
  }
  if (!config.endpoints.empty()) {
    unsigned first_slot = 1 + (parts.empty() ? 0 : parts.front().slots);
    config.first_slot = first_slot;
    config.last_resort = parts.empty();
    auto executor = std::make_unique<agent::RemoteExecutor>(reactor, launch, listener,
                                                           std::move(config));
    unsigned slots = executor->slots();
    parts.push_back({first_slot, slots, std::move(executor)});
  }
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
