#include "exec/slurm/allocation.hpp"

#include "base/error.hpp"
#include "base/reactor.hpp"
#include "base/signals.hpp"
#include "exec/local/spawn.hpp"
#include "exec/command.hpp"
#include "parmap/result.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <functional>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace parmap::slurm {
namespace {

/// Seconds squeue may take before its answer counts as none.
constexpr double k_squeue_timeout = 10;
/// What salloc runs: the allocation's environment, an empty entry to end it, then a wait for
/// parmap to close its stdin.
constexpr const char* k_holder = "env -0 && printf '\\000' && exec cat >/dev/null";

/// The value of `name` in `env`, or "" when it is not there.
std::string lookup(const std::vector<std::string>& env, std::string_view name)
{
  for (const auto& entry : env) {
    if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
        entry[name.size()] == '=') {
      return entry.substr(name.size() + 1);
    }
  }
  return {};
}

/// A count from the environment; 0 when it is not a number.
unsigned number(std::string_view text)
{
  unsigned n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() && end == text.data() + text.size() ? n : 0;
}

Clock::duration seconds(double s)
{
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

/// Reads what is there of a non-blocking descriptor; false at its end (or on an error).
bool drain(int fd, std::string& into)
{
  char buf[4096];
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

struct Captured {
  int status = -1; ///< The exit status; -1 when it could not start or did not end in time.
  std::string out;
  std::string err;
};

/// Runs a short command to its end (killed after `timeout` seconds) and keeps what it wrote.
Captured capture(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                 double timeout)
{
  Spawner spawner(true, true);
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  Spawned child = spawner.spawn(argv, env, {}, Spawner::Stdio{out.write.get(), err.write.get(), -1});
  out.write.reset();
  err.write.reset();
  Captured c;
  if (child.pid < 0) {
    c.err = child.message;
    return c;
  }
  pollfd fds[2] = {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}};
  std::string* into[2] = {&c.out, &c.err};
  auto deadline = Clock::now() + seconds(timeout);
  while ((fds[0].fd >= 0 || fds[1].fd >= 0) && Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    ::poll(fds, 2, static_cast<int>(std::max<long long>(1, left.count())));
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && fds[i].revents != 0 && !drain(fds[i].fd, *into[i])) {
        fds[i].fd = -1; // its end: poll skips it
      }
    }
  }
  bool ended = fds[0].fd < 0 && fds[1].fd < 0;
  if (!ended) {
    ::kill(-child.pid, SIGKILL);
  }
  int status = 0;
  retry_eintr([&] { return ::waitpid(child.pid, &status, 0); });
  if (ended) {
    c.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return c;
}

/// A descriptor's readiness as a callback.
struct Ready final : Watcher {
  std::function<void()> fn;
  void on_ready(std::uint32_t) override { fn(); }
};

} // namespace

unsigned count_cpus(std::string_view cpus_per_node)
{
  unsigned total = 0;
  while (!cpus_per_node.empty()) {
    std::string_view group = cpus_per_node.substr(0, cpus_per_node.find(','));
    cpus_per_node.remove_prefix(std::min(cpus_per_node.size(), group.size() + 1));
    std::size_t paren = group.find("(x");
    unsigned repeat = 1;
    if (paren != std::string_view::npos && group.back() == ')') {
      repeat = number(group.substr(paren + 2, group.size() - paren - 3));
      group = group.substr(0, paren);
    }
    unsigned cpus = number(group);
    if (cpus == 0 || repeat == 0) {
      return 0;
    }
    total += cpus * repeat;
  }
  return total;
}

std::optional<Allocation> allocation_of(const std::vector<std::string>& env)
{
  Allocation a;
  a.job_id = lookup(env, "SLURM_JOB_ID");
  if (a.job_id.empty()) {
    return std::nullopt;
  }
  a.cpus_per_task = number(lookup(env, "SLURM_CPUS_PER_TASK"));
  a.in_step = !lookup(env, "SLURM_STEP_ID").empty();
  // Inside a step SLURM_NTASKS counts the step's tasks, not the allocation's.
  unsigned tasks = a.in_step ? 0 : number(lookup(env, "SLURM_NTASKS"));
  if (tasks == 0) {
    tasks = count_cpus(lookup(env, "SLURM_JOB_CPUS_PER_NODE")) / std::max(1U, a.cpus_per_task);
  }
  a.tasks = std::max(1U, tasks);
  return a;
}

std::string allocation_end(const std::string& job_id, const std::vector<std::string>& env)
{
  Captured c = capture({"squeue", "--noheader", "--jobs=" + job_id, "--states=all",
                        "--format=%T"},
                       env, k_squeue_timeout);
  std::string state = c.out.substr(0, c.out.find_first_of("\r\n"));
  if (c.status == 0 && state.empty()) {
    return "gone";
  }
  if (c.status != 0) {
    return c.err.find("Invalid job id") != std::string::npos ? "gone" : "";
  }
  for (const char* alive : {"RUNNING", "CONFIGURING", "SUSPENDED", "RESIZING"}) {
    if (state == alive) {
      return "";
    }
  }
  return state;
}

Salloc::Salloc(const std::string& args, const std::vector<std::string>& env, bool watch_signals)
{
  std::vector<std::string> argv{"salloc"};
  for (auto& word : split_words(args)) {
    argv.push_back(std::move(word));
  }
  argv.insert(argv.end(), {"sh", "-c", k_holder});
  // Signals are watched from before salloc starts: a Ctrl-C that killed parmap while the
  // request waits in the queue would leave it there.
  Reactor reactor;
  int signal = 0;
  std::optional<SignalWatcher> signals;
  if (watch_signals) {
    signals.emplace(reactor, [&](int sig) { signal = sig; });
  }
  Pipe hold = make_feed_pipe();
  Pipe out = make_pipe();
  // Its own process group (as every child's): the terminal's Ctrl-C reaches parmap only, and
  // parmap decides when the allocation goes.
  Spawner spawner(false, true);
  Spawned child = spawner.spawn(argv, env, {}, Spawner::Stdio{out.write.get(), STDERR_FILENO,
                                                              hold.read.get()});
  if (child.pid < 0) {
    throw Error("--slurm-alloc: " + child.message);
  }
  m_pid = child.pid;
  m_pidfd = open_pidfd(child.pid);
  m_hold = std::move(hold.write);
  out.write.reset();
  hold.read.reset();

  std::string block;
  bool open = true;
  bool exited = false;
  Ready output;
  output.fn = [&] { open = drain(out.read.get(), block); };
  Ready exit;
  exit.fn = [&] { exited = true; };
  reactor.add(out.read.get(), EPOLLIN, &output);
  reactor.add(m_pidfd.get(), EPOLLIN, &exit);
  auto granted = [&] { return block == std::string(1, '\0') || block.ends_with(std::string(2, '\0')); };
  while (!granted() && open && !exited && signal == 0) {
    reactor.run_once(std::nullopt);
  }
  if (granted()) {
    for (std::size_t at = 0, end; (end = block.find('\0', at)) != std::string::npos; at = end + 1) {
      std::string entry = block.substr(at, end - at);
      if (entry.starts_with("SLURM_")) {
        m_env.push_back(std::move(entry));
      }
    }
    return;
  }
  stop(SIGTERM, 10); // still in the queue: salloc withdraws the request
  if (signal != 0) {
    throw Interrupted(signal);
  }
  throw Error("--slurm-alloc: salloc " + args + " ended without granting an allocation");
}

Salloc::~Salloc()
{
  if (m_pid < 0) {
    return;
  }
  m_hold.reset(); // the holder ends: salloc relinquishes the allocation and exits
  if (!reaped_within(30)) {
    stop(SIGHUP, 5); // salloc's way out: release, and exit without waiting for the holder
  }
}

void Salloc::stop(int signal, double grace)
{
  ::kill(m_pid, signal);
  if (!reaped_within(grace)) {
    ::kill(m_pid, SIGKILL);
    int status = 0;
    retry_eintr([&] { return ::waitpid(m_pid, &status, 0); });
    m_pid = -1;
  }
}

bool Salloc::reaped_within(double limit)
{
  auto deadline = Clock::now() + seconds(limit);
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG) == 0 &&
        info.si_pid != 0) {
      m_pid = -1;
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd p{m_pidfd.get(), POLLIN, 0}; // without a pidfd (before Linux 5.3) poll just sleeps
    ::poll(&p, 1, static_cast<int>(m_pidfd ? left.count() : std::min<long long>(left.count(), 50)));
  }
}

} // namespace parmap::slurm
