#include "exec/slurm/slurm_executor.hpp"

#include "exec/agent/remote_config.hpp"
#include "exec/local/spawn.hpp"
#include "exec/slurm/allocation.hpp"
#include "parmap/error.hpp"

#include <fmt/format.h>

#include <climits>
#include <unistd.h>

namespace parmap {
namespace {

/// The allocation the steps run in: when one of them goes down, whether the others can still
/// come back. It owns an allocation got with salloc, released once every step is reaped.
class AllocationSite final : public agent::Site {
public:
  AllocationSite(std::string job_id, std::vector<std::string> env,
                 std::unique_ptr<slurm::Salloc> salloc)
      : m_job_id(std::move(job_id)), m_env(std::move(env)), m_salloc(std::move(salloc))
  {
  }

  std::string ended() override
  {
    std::string state = slurm::allocation_end(m_job_id, m_env);
    return state.empty() ? "" : fmt::format("the Slurm allocation {} has ended ({})", m_job_id, state);
  }

private:
  std::string m_job_id;
  std::vector<std::string> m_env;
  std::unique_ptr<slurm::Salloc> m_salloc;
};

/// The running executable: what the steps run (the nodes share the filesystem it lives on).
std::string own_executable()
{
  char path[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, static_cast<std::size_t>(n)) : "parmap";
}

/// One step of one task on one node, holding only its own CPUs (--exact), so that steps run
/// side by side; --overlap when they must share CPUs (more steps than tasks, or parmap itself
/// in a step that holds some). --unbuffered: srun otherwise holds output until a newline, and
/// the agent's frames are binary.
std::vector<std::string> srun_command(const slurm::Allocation& allocation, bool overlap,
                                      const std::string& agent)
{
  std::vector<std::string> command{"srun",      "--jobid=" + allocation.job_id,
                                   "--exact",   "--nodes=1",
                                   "--ntasks=1", "--quiet",
                                   "--unbuffered"};
  if (allocation.cpus_per_task > 0) {
    command.push_back("--cpus-per-task=" + std::to_string(allocation.cpus_per_task));
  }
  if (overlap) {
    command.emplace_back("--overlap");
  }
  command.push_back(agent);
  command.emplace_back("--agent");
  return command;
}

/// `env` with the allocation's SLURM_* variables in place of its own.
std::vector<std::string> with_allocation(std::vector<std::string> env,
                                         const std::vector<std::string>& allocation_env)
{
  std::erase_if(env, [](const std::string& e) { return e.starts_with("SLURM_"); });
  env.insert(env.end(), allocation_env.begin(), allocation_env.end());
  return env;
}

} // namespace

std::unique_ptr<agent::RemoteExecutor> make_slurm_executor(Reactor& reactor,
                                                           const LaunchBuilder& launch,
                                                           OutputListener& listener,
                                                           const Options& options, unsigned jobs)
{
  const Remote& remote = options.remote;
  std::vector<std::string> env = snapshot_environment();
  std::unique_ptr<slurm::Salloc> salloc;
  if (!remote.slurm_alloc.empty()) {
    salloc = std::make_unique<slurm::Salloc>(remote.slurm_alloc, env, options.handle_signals);
    env = with_allocation(std::move(env), salloc->env());
  }
  auto allocation = slurm::allocation_of(env);
  if (!allocation) {
    throw Error("--slurm runs items as job steps of a Slurm allocation, and parmap is in none "
                "(SLURM_JOB_ID is not set): run it inside one (salloc -n 8 parmap --slurm ..., "
                "or in a script for sbatch -n 8), or let it get one with --slurm-alloc '-n 8'");
  }
  unsigned steps = jobs > 0 ? jobs : allocation->tasks;
  bool overlap = allocation->in_step || steps > allocation->tasks;
  std::string agent = remote.remote_parmap.empty() ? own_executable() : remote.remote_parmap;
  agent::RemoteConfig config = agent::remote_config(options);
  config.start_interval = 1.0 / k_step_starts_per_second;
  config.transport_env = env;
  for (unsigned i = 1; i <= steps; ++i) {
    agent::Endpoint endpoint;
    endpoint.name = fmt::format("srun {}/{}", i, steps); // until its agent names its node
    endpoint.command = srun_command(*allocation, overlap, agent);
    endpoint.slots = 1;
    endpoint.named_by_agent = true;
    config.endpoints.push_back(std::move(endpoint));
  }
  config.site = std::make_unique<AllocationSite>(allocation->job_id, std::move(env),
                                                 std::move(salloc));
  return std::make_unique<agent::RemoteExecutor>(reactor, launch, listener, std::move(config));
}

} // namespace parmap
