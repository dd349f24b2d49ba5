#include "exec/agent/agent.hpp"

#include "base/error.hpp"
#include "base/reactor.hpp"
#include "base/signals.hpp"
#include "exec/agent/connection.hpp"
#include "exec/agent/incoming_file.hpp"
#include "exec/local/local_executor.hpp"
#include "parmap/agent.hpp"
#include "parmap/parmap.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

namespace parmap::agent {
namespace {

/// An item killed by a signal parmap did not send may have died with its host: a cancelled
/// Slurm step or a node shutting down signals every process at once, this agent too. Its end
/// is told this much later, so that the agent's own end comes first and the controller runs
/// the item elsewhere instead of recording a failure it did not cause.
constexpr auto k_outside_signal_wait = std::chrono::milliseconds(500);

/// The variable's value, or "" when it is not set.
std::string env_or_empty(const char* name)
{
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

/// The host's name; inside a Slurm step the node's name as Slurm knows it (it may differ from
/// the kernel's hostname), which is what users give to Slurm's commands.
std::string host_name()
{
  if (std::string node = env_or_empty("SLURMD_NODENAME"); !node.empty()) {
    return node;
  }
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

/// "JOBID.STEPID" when this agent is a Slurm job step, else empty.
std::string slurm_step()
{
  std::string job = env_or_empty("SLURM_JOB_ID");
  std::string step = env_or_empty("SLURM_STEP_ID");
  return job.empty() || step.empty() ? "" : job + "." + step;
}

class Agent final : public Connection::Handler, public OutputListener, public LaunchBuilder {
public:
  Agent(int in, int out)
      : m_spill(""),
        m_connection(m_reactor, Fd(::dup(in)), Fd(::dup(out)), *this, false, m_spill),
        m_signals(m_reactor, [this](int sig) { stop(fmt::format("killed by signal {}", sig)); })
  {
    m_connection.send_raw(greeting());
    m_connection.send(Hello{cpu_count(), host_name(), slurm_step()});
  }

  int run()
  {
    std::vector<ExecutorEvent> events;
    while (!m_stopped) {
      events.clear();
      if (m_executor) {
        m_executor->wait(std::nullopt, events);
      } else {
        m_reactor.run_once(std::nullopt);
      }
      for (auto& e : events) {
        handle(e);
      }
    }
    m_executor.reset(); // SIGKILL to every group still running, and reaped
    clean_up();
    return m_failed ? 1 : 0;
  }

  void on_message(Message& message) override
  {
    std::visit([this](auto& m) { receive(m); }, message);
  }

  void on_closed(const std::string& why) override { stop(why); }

  bool on_output(std::uint64_t seq, Stream stream, std::string_view bytes) override
  {
    m_connection.send_output(seq, stream, bytes);
    return true; // a slow controller costs the outbox's spill file, not blocked items
  }

  std::optional<std::string> build(const Item& item, unsigned, Launch& out) const override
  {
    const Run& run = m_runs.at(item.seq);
    out.argv = run.argv;
    out.env = run.env;
    return std::nullopt; // the controller refused what must not run
  }

  std::string display(const Item& item, unsigned) const override
  {
    std::string line;
    for (const auto& word : m_runs.at(item.seq).argv) {
      line += line.empty() ? "" : " ";
      append_shell_quoted(line, word);
    }
    return line;
  }

private:
  void stop(const std::string& why)
  {
    (void)why; // nobody is left to tell
    m_stopped = true;
  }

  void fatal(const std::string& message)
  {
    m_connection.send(Fatal{message});
    m_connection.drain(1.0);
    m_failed = true;
    m_stopped = true;
  }

  void receive(Setup& setup)
  {
    if (m_executor) {
      return fatal("a second setup");
    }
    m_cleanup = setup.cleanup;
    if (!enter_workdir(setup.workdir)) {
      return;
    }
    LocalExecutorConfig config;
    m_slots = std::max(1U, setup.slots);
    config.slots = m_slots;
    config.kill_grace = setup.kill_grace;
    config.null_stdin = true; // stdin is the connection
    config.reset_sigpipe = true;
    config.env = std::move(setup.env);
    m_executor = std::make_unique<LocalExecutor>(m_reactor, *this, *this, config);
    m_queued.assign(m_slots, {});
    m_busy.assign(m_slots, false);
    m_hold = setup.hold;
    if (setup.heartbeat > 0) {
      // The controller pings while it runs; a long silence means it is gone without a word.
      m_connection.set_heartbeat(setup.heartbeat, 12 * setup.heartbeat);
    }
  }

  bool enter_workdir(const std::string& dir)
  {
    std::string path = dir;
    if (dir == "...") {
      const char* tmp = std::getenv("TMPDIR");
      std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                            "/parmap-XXXXXX";
      if (::mkdtemp(pattern.data()) == nullptr) {
        fatal(fmt::format("cannot make a temporary working directory: {}", std::strerror(errno)));
        return false;
      }
      m_tempdir = pattern;
      path = pattern;
    }
    if (path.empty()) {
      return true;
    }
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (::chdir(path.c_str()) != 0) {
      fatal(fmt::format("cannot enter the working directory {}: {}", path, std::strerror(errno)));
      return false;
    }
    return true;
  }

  void receive(Run& run)
  {
    if (!m_executor) {
      return fatal("run before setup");
    }
    std::uint64_t seq = run.seq;
    if (auto it = m_transfer_errors.find(seq); it != m_transfer_errors.end()) {
      m_connection.send_output(seq, Stream::err, it->second);
      m_transfer_errors.erase(it);
    }
    unsigned slot = std::clamp(run.slot, 1U, m_slots);
    m_runs[seq] = std::move(run);
    m_queued[slot - 1].push_back(seq);
    start_queued(slot);
  }

  /// Starts the slot's next queued item, unless one runs there or an end holds the queue.
  void start_queued(unsigned slot)
  {
    auto& queue = m_queued[slot - 1];
    if (m_held > 0 || m_busy[slot - 1] || queue.empty()) {
      return;
    }
    Item item;
    item.seq = queue.front();
    item.timeout = m_runs.at(item.seq).timeout; // counted from now, when it starts
    queue.pop_front();
    m_busy[slot - 1] = true;
    Batch batch;
    batch.items.push_back(std::move(item));
    m_executor->start(slot, std::move(batch));
  }

  /// Ends every queued item from `from_seq` on as interrupted: they never start.
  void drop_queued(std::uint64_t from_seq)
  {
    for (auto& queue : m_queued) {
      while (!queue.empty() && queue.back() >= from_seq) {
        ItemEnded dropped;
        dropped.seq = queue.back();
        dropped.interrupted = true;
        queue.pop_back();
        finish(dropped);
      }
    }
  }

  void start_all_queued()
  {
    for (unsigned slot = 1; slot <= m_slots; ++slot) {
      start_queued(slot);
    }
  }

  void receive(Cancel& c)
  {
    if (m_executor) {
      drop_queued(c.from_seq);
      m_executor->cancel(c.from_seq, c.signal);
      m_hold = {}; // the run stops: no end can halt it now, and what was not dropped runs
      m_held = 0;
      start_all_queued();
    }
  }
  void receive(KillAll&)
  {
    if (m_executor) {
      drop_queued(0);
      m_executor->kill_all();
    }
  }
  void receive(Release& release)
  {
    if (!m_executor) {
      return;
    }
    m_held -= std::min(m_held, release.ends);
    start_all_queued();
  }

  void receive(FileBegin& header)
  {
    m_file_seq = header.seq;
    m_file = std::make_unique<IncomingFile>(std::move(header.path), header.mode);
  }

  void receive(FileData& data)
  {
    if (m_file) {
      m_file->write(data.bytes);
    }
  }

  void receive(FileEnd& end)
  {
    if (!m_file) {
      return;
    }
    std::string error = m_file->finish(end.error);
    if (!error.empty()) {
      m_transfer_errors[m_file_seq] += fmt::format("parmap: {}: cannot transfer {}: {}\n",
                                                   host_name(), m_file->path(), error);
    } else if (m_file_seq == 0) {
      m_basefiles.push_back(m_file->path());
    }
    m_file.reset();
  }

  // Agent-to-controller messages arriving here are a confused controller: ignored.
  void receive(Hello&) {}
  void receive(Started&) {}
  void receive(ItemOutput&) {}
  void receive(Ended&) {}
  void receive(Fatal&) {}
  void receive(Ping&) {}

  void handle(ExecutorEvent& event)
  {
    if (auto* started = std::get_if<ItemStarted>(&event)) {
      m_connection.send(Started{started->seq});
    } else if (auto* free = std::get_if<SlotFree>(&event)) {
      m_busy[free->slot - 1] = false;
      start_queued(free->slot);
    } else if (auto* ended = std::get_if<ItemEnded>(&event)) {
      if (!ended->interrupted && m_hold(ended->status)) {
        ++m_held; // before its slot's SlotFree: the next item waits for the controller's word
      }
      if (ended->status == Status::signaled) {
        m_reactor.at(Clock::now() + k_outside_signal_wait, [this, e = *ended] { finish(e); });
      } else {
        finish(*ended);
      }
    }
  }

  void finish(const ItemEnded& e)
  {
    auto it = m_runs.find(e.seq);
    if (it == m_runs.end()) {
      return;
    }
    Run run = std::move(it->second);
    m_runs.erase(it);
    if (!e.interrupted) {
      for (const auto& path : run.returns) {
        m_connection.send_path(FileBegin{e.seq, path, 0}, path);
      }
    }
    for (const auto& path : run.remove) {
      ::unlink(path.c_str()); // returned files are open already: they still go out whole
    }
    Ended out;
    out.seq = e.seq;
    out.status = e.status;
    out.exit_code = e.exit_code;
    out.signal = e.signal;
    out.started = std::chrono::duration<double>(e.started.time_since_epoch()).count();
    out.duration = e.duration;
    out.interrupted = e.interrupted;
    m_connection.send(out);
  }

  void clean_up()
  {
    if (m_cleanup) {
      for (const auto& path : m_basefiles) {
        ::unlink(path.c_str());
      }
    }
    m_file.reset();
    if (!m_tempdir.empty()) {
      std::error_code ec;
      std::filesystem::current_path("/", ec);
      std::filesystem::remove_all(m_tempdir, ec);
    }
  }

  Reactor m_reactor;
  SigpipeGuard m_sigpipe; // a closed connection is EPIPE, handled, not a silent death
  SpillFactory m_spill;
  Connection m_connection;
  SignalWatcher m_signals;
  std::unique_ptr<LocalExecutor> m_executor;
  unsigned m_slots = 1;
  std::unordered_map<std::uint64_t, Run> m_runs;
  std::vector<std::deque<std::uint64_t>> m_queued; ///< Per slot: items sent ahead, not started.
  std::vector<bool> m_busy;                         ///< Per slot: an item runs there.
  HoldAfter m_hold;
  std::uint32_t m_held = 0; ///< Ends that hold the queues until released.
  std::unordered_map<std::uint64_t, std::string> m_transfer_errors;
  std::unique_ptr<IncomingFile> m_file; ///< The transfer being received.
  std::uint64_t m_file_seq = 0;
  std::vector<std::string> m_basefiles;
  std::string m_tempdir;
  bool m_cleanup = false;
  bool m_stopped = false;
  bool m_failed = false;
};

} // namespace

int serve(int in, int out)
{
  // How the agent was started (a wrapper's traps, a background job's ignored SIGINT) is an
  // accident its items must not inherit: they start with default dispositions, nothing blocked.
  for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP,
                  SIGTTIN, SIGTTOU, SIGCHLD}) {
    std::signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  try {
    Agent agent(in, out);
    return agent.run();
  } catch (const std::exception& e) {
    std::string line = fmt::format("parmap --agent: {}\n", e.what());
    (void)!::write(STDERR_FILENO, line.data(), line.size());
    return 1;
  }
}

} // namespace parmap::agent

namespace parmap {

int run_agent()
{
  return agent::serve(STDIN_FILENO, STDOUT_FILENO);
}

} // namespace parmap
