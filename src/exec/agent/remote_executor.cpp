#include "exec/agent/remote_executor.hpp"

#include "base/error.hpp"
#include "exec/agent/incoming_file.hpp"
#include "exec/agent/pacing.hpp"
#include "parmap/parmap.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

namespace parmap::agent {
namespace {

/// Consecutive failed connections after which a host is given up.
constexpr unsigned k_max_failures = 5;
/// The last bytes of a transport's stderr kept for messages.
constexpr std::size_t k_stderr_tail = 2048;

Clock::duration seconds(double s)
{
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

/// The last non-empty line of `text`, for a one-line message.
std::string last_line(const std::string& text)
{
  std::size_t end = text.find_last_not_of("\r\n");
  if (end == std::string::npos) {
    return {};
  }
  std::size_t start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1,
                     end - (start == std::string::npos ? 0 : start + 1) + 1);
}

/// A path template rendered for one item ({} and friends; no item is appended).
std::string render_path(const CommandTemplate& path, const Item& item, unsigned slot,
                        std::vector<std::string>& scratch)
{
  (void)path.render(RenderContext{item.args, item.seq, slot}, scratch); // a path: no arithmetic
  return scratch.front();
}

/// The refusal of an agent that speaks another protocol, naming both versions.
std::string mismatch(const Greeting& greeting)
{
  return fmt::format("its parmap is version {} (agent protocol {}), this one is {} (protocol "
                     "{}): install the same version there, or name it with --remote-parmap",
                     greeting.version, greeting.protocol, version(), k_protocol_version);
}

} // namespace

std::string remote_path(const std::string& local)
{
  auto at = local.find("/./");
  return at == std::string::npos ? local : local.substr(at + 3);
}

/// One endpoint: its transport process, its connection, and where it stands.
struct RemoteExecutor::Host final : Connection::Handler {
  enum class State { connecting, ready, down, gone };

  struct Watch final : Watcher {
    Host* host = nullptr;
    bool exit = false;
    void on_ready(std::uint32_t) override { exit ? host->on_exit() : host->read_stderr(); }
  };

  RemoteExecutor* owner = nullptr;
  Endpoint endpoint;
  std::string name; ///< The endpoint's name, or its agent's (Endpoint::named_by_agent).
  std::string step; ///< The Slurm job step its agent is, if it is one.
  State state = State::connecting;
  unsigned first = 0; ///< Its first global slot.
  unsigned count = 0; ///< Its slots.
  unsigned cpus = 0;
  unsigned failures = 0;
  std::string problem;     ///< Why it is down, or gone.
  bool permanent = false;  ///< The problem will not go away by retrying.
  pid_t pid = -1;
  Fd pidfd;
  Fd err;
  Watch exit_watch;
  Watch err_watch;
  int wait_status = 0;
  bool exited = true;
  bool closed = true;
  std::string close_why;
  std::string stderr_tail;
  std::unique_ptr<Connection> connection;
  std::unique_ptr<IncomingFile> file; ///< A --return being received.
  std::uint64_t file_seq = 0;
  std::uint64_t paused = 0; ///< The item whose output the engine asked to hold back.
  Pacing pacing;
  /// Ends that hold its agent's queues (HoldAfter): received, and handed to the engine.
  std::uint32_t held = 0;
  std::uint32_t handed = 0;
  Reactor::TimerId timer = 0; ///< Retry after backoff, or the wait for the transport's exit.

  void on_message(Message& message) override { owner->handle(*this, message); }
  void on_closed(const std::string& why) override
  {
    closed = true;
    close_why = why;
    if (!exited) {
      // The transport ends once the agent's side closed; when this side gave up (garbage,
      // another protocol, silence) it is told to, and one that lingers is killed.
      if (!connection->peer_closed()) {
        ::kill(-pid, SIGTERM);
      }
      timer = owner->m_reactor.at(Clock::now() + std::chrono::seconds(2), [this] {
        timer = 0;
        ::kill(-pid, SIGKILL);
      });
      return;
    }
    owner->on_down(*this);
  }

  void read_stderr()
  {
    char buf[4096];
    ssize_t n = retry_eintr([&] { return ::read(err.get(), buf, sizeof buf); });
    if (n > 0) {
      stderr_tail.append(buf, static_cast<std::size_t>(n));
      if (stderr_tail.size() > k_stderr_tail) {
        stderr_tail.erase(0, stderr_tail.size() - k_stderr_tail);
      }
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      owner->m_reactor.remove(err.get(), &err_watch);
      err.reset();
    }
  }

  void on_exit()
  {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0) {
      return;
    }
    wait_status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    owner->m_reactor.remove(pidfd.get(), &exit_watch);
    pidfd.reset();
    pid = -1;
    exited = true;
    while (err) {
      read_stderr(); // its last words explain the failure
    }
    if (closed) {
      owner->m_reactor.cancel(timer);
      timer = 0;
      owner->on_down(*this);
    } else {
      // What it wrote before exiting is still in the pipe: read on to the end of it.
      timer = owner->m_reactor.at(Clock::now() + std::chrono::seconds(1), [this] {
        timer = 0;
        if (!closed) {
          on_closed("the transport exited");
        }
      });
    }
  }

  /// Why the agent did not start, from what the transport left behind.
  std::string start_failure() const
  {
    std::string said = last_line(stderr_tail);
    if (wait_status == 127) {
      return fmt::format("parmap was not found there ({}); install it, or name it with "
                         "--remote-parmap", said.empty() ? "exit 127" : said);
    }
    if (said.empty()) {
      said = close_why;
    }
    return fmt::format("cannot start the agent (exit status {}): {}", wait_status, said);
  }
};

RemoteExecutor::RemoteExecutor(Reactor& reactor, const LaunchBuilder& launch,
                               OutputListener& listener, RemoteConfig config)
    : m_reactor(reactor), m_launch(launch), m_listener(listener), m_config(std::move(config)),
      m_spawner(false, true),
      m_env(m_config.transport_env ? *m_config.transport_env : snapshot_environment()),
      m_spill("")
{
  for (const auto& t : m_config.transfers) {
    m_transfers.emplace_back(std::vector<std::string>{t}, Shell::never);
  }
  for (const auto& t : m_config.returns) {
    m_returns.emplace_back(std::vector<std::string>{t}, Shell::never);
  }
  for (auto& e : m_config.endpoints) {
    auto host = std::make_unique<Host>();
    host->owner = this;
    host->endpoint = e;
    host->name = e.name;
    host->exit_watch.host = host.get();
    host->exit_watch.exit = true;
    host->err_watch.host = host.get();
    m_hosts.push_back(std::move(host));
  }
  for (auto& host : m_hosts) {
    schedule_connect(*host);
  }
  wait_for_greetings();
  std::string problems = assign_slots();
  bool none_ready = std::none_of(m_hosts.begin(), m_hosts.end(), [](const auto& h) {
    return h->state == Host::State::ready;
  });
  if (none_ready && m_config.last_resort) {
    reap_all();
    throw Error("no host to run on" + problems);
  }
  for (auto& host : m_hosts) {
    if (host->state == Host::State::ready) {
      on_hello(*host, host->cpus); // now that its slots are known
    } else if (!m_config.pinned || host->state != Host::State::gone) {
      set_away(*host, true); // until it greets (a pinned host's items fail once it is gone)
    }
  }
}

RemoteExecutor::~RemoteExecutor()
{
  reap_all();
}

void RemoteExecutor::wait_for_greetings()
{
  // Slot counts not given come from the agents' CPU counts, and the run starts on all the
  // hosts together: wait for every greeting (a host that did not greet in time joins later).
  auto pending = [this] {
    return std::any_of(m_hosts.begin(), m_hosts.end(),
                       [](const auto& h) { return h->state == Host::State::connecting; });
  };
  auto deadline = Clock::now() + seconds(m_config.connect_wait);
  while (pending() && Clock::now() < deadline) {
    m_reactor.run_once(deadline);
    m_dead.clear();
  }
}

std::string RemoteExecutor::assign_slots()
{
  std::string problems;
  unsigned slot = m_config.first_slot;
  for (auto& host : m_hosts) {
    host->first = slot;
    if (m_config.pinned) {
      host->count = 1; // reachable or not: its items are its own
    } else if (host->state != Host::State::gone) {
      unsigned fallback = host->state == Host::State::ready ? std::max(1U, host->cpus) : 1;
      host->count = host->endpoint.slots ? host->endpoint.slots
                                         : (m_config.slots ? m_config.slots : fallback);
    }
    for (unsigned i = 0; i < host->count; ++i) {
      m_slot_states.push_back(SlotState{host.get(), 0, false});
    }
    slot += host->count;
    if (host->state == Host::State::connecting) {
      problems += fmt::format("; {}: no greeting from its agent within {} s", host->name,
                              m_config.connect_wait);
    } else if (host->state != Host::State::ready) {
      problems += fmt::format("; {}: {}", host->name, host->problem);
      bool gone = host->state == Host::State::gone;
      notice(host->name + (gone ? ": giving up on it: " : ": ") + host->problem +
             (gone ? "" : "; trying again"));
    }
  }
  m_slot_count = slot - m_config.first_slot;
  return problems;
}

void RemoteExecutor::reap_all()
{
  m_reactor.cancel(m_launch_timer);
  m_launch_timer = 0;
  m_launch_queue.clear();
  for (auto& host : m_hosts) {
    m_reactor.cancel(host->timer);
    host->timer = 0;
    host->connection.reset(); // the agent's input closes: it kills its items and exits
    host->file.reset();
  }
  m_dead.clear();
  // Give the agents a moment to clean up, then make sure no transport outlives the run.
  auto deadline = Clock::now() + seconds(m_config.kill_grace + 2);
  for (auto& host : m_hosts) {
    while (host->pid > 0 && host->pidfd && Clock::now() < deadline) {
      pollfd p{host->pidfd.get(), POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      ::poll(&p, 1, static_cast<int>(std::max<long long>(1, left.count())));
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(host->pid), &info, WEXITED | WNOHANG) == 0 &&
          info.si_pid != 0) {
        host->pid = -1;
      }
    }
    if (host->pid > 0) {
      ::kill(-host->pid, SIGKILL);
      int status = 0;
      retry_eintr([&] { return ::waitpid(host->pid, &status, 0); });
      host->pid = -1;
    }
    if (host->pidfd) {
      m_reactor.remove(host->pidfd.get(), &host->exit_watch);
      host->pidfd.reset();
    }
    if (host->err) {
      m_reactor.remove(host->err.get(), &host->err_watch);
      host->err.reset();
    }
  }
}

void RemoteExecutor::schedule_connect(Host& host)
{
  host.state = Host::State::connecting;
  m_launch_queue.push_back(&host);
  launch_due();
}

void RemoteExecutor::launch_due()
{
  while (!m_launch_queue.empty() && m_launch_timer == 0) {
    auto now = Clock::now();
    if (now < m_next_launch) {
      m_launch_timer = m_reactor.at(m_next_launch, [this] {
        m_launch_timer = 0;
        launch_due();
      });
      return;
    }
    Host& host = *m_launch_queue.front();
    m_launch_queue.pop_front();
    m_next_launch = now + seconds(m_config.start_interval);
    connect(host);
  }
}

void RemoteExecutor::connect(Host& host)
{
  host.stderr_tail.clear();
  host.close_why.clear();
  // Our ends are non-blocking; the transport's are left as programs expect them.
  Pipe to = make_feed_pipe();
  Pipe from = make_pipe();
  Pipe err = make_pipe();
  Spawned child = m_spawner.spawn(host.endpoint.command, m_env, {},
                                  Spawner::Stdio{from.write.get(), err.write.get(), to.read.get()});
  if (child.pid < 0) {
    host.permanent = true;
    host.problem = child.message;
    give_up(host, child.message);
    return;
  }
  host.pid = child.pid;
  host.exited = false;
  host.closed = false;
  host.pidfd = open_pidfd(child.pid);
  m_reactor.add(host.pidfd.get(), EPOLLIN, &host.exit_watch);
  host.err = std::move(err.read);
  m_reactor.add(host.err.get(), EPOLLIN, &host.err_watch);
  host.connection = std::make_unique<Connection>(m_reactor, std::move(from.read),
                                                 std::move(to.write), host, true, m_spill);
  // An agent that never greets (a hung login) counts as down after the same silence.
  host.connection->set_heartbeat(m_config.heartbeat, 6 * m_config.heartbeat);
}

void RemoteExecutor::handle(Host& host, Message& message)
{
  if (auto* hello = std::get_if<Hello>(&message)) {
    host.cpus = hello->cpus;
    host.step = hello->step;
    if (host.endpoint.named_by_agent && !hello->hostname.empty()) {
      host.name = hello->hostname;
    }
    if (host.count > 0) {
      on_hello(host, hello->cpus); // a reconnection, or a late greeting: slots are fixed
    } else {
      host.state = Host::State::ready; // the constructor sets it up once slots are known
    }
  } else if (auto* started = std::get_if<Started>(&message)) {
    on_started(host, *started);
  } else if (auto* output = std::get_if<ItemOutput>(&message)) {
    if (m_items.contains(output->seq) &&
        !m_listener.on_output(output->seq, output->stream, output->bytes)) {
      host.paused = output->seq;
      host.connection->pause(true);
    }
  } else if (auto* ended = std::get_if<Ended>(&message)) {
    on_ended(host, *ended);
  } else if (auto* fatal = std::get_if<Fatal>(&message)) {
    host.permanent = true;
    host.problem = "the agent stopped: " + fatal->message;
  } else {
    on_return(host, message);
  }
}

void RemoteExecutor::on_hello(Host& host, unsigned cpus)
{
  host.state = Host::State::ready;
  host.failures = 0;
  host.problem.clear();
  Setup setup;
  setup.slots = host.count;
  setup.kill_grace = m_config.kill_grace;
  setup.workdir = m_config.workdir;
  setup.env = m_config.env;
  setup.env.push_back("PARMAP_HOST=" + host.name);
  setup.env.insert(setup.env.end(), host.endpoint.item_env.begin(), host.endpoint.item_env.end());
  setup.cleanup = m_config.cleanup;
  setup.heartbeat = m_config.heartbeat;
  setup.hold = m_config.hold;
  (void)cpus;
  host.connection->send(setup);
  for (const auto& path : m_config.basefiles) {
    host.connection->send_path(FileBegin{0, remote_path(path), 0}, path);
  }
  set_away(host, false);
}

void RemoteExecutor::set_away(Host& host, bool away)
{
  for (unsigned s = host.first; s < host.first + host.count; ++s) {
    SlotState& state = slot_state(s);
    if (state.away != away) {
      state.away = away;
      state.busy = false;
      m_events.emplace_back(SlotFree{s, away});
    }
  }
}

void RemoteExecutor::on_started(Host& host, const Started& started)
{
  auto it = m_items.find(started.seq);
  if (it == m_items.end() || it->second.started) {
    return;
  }
  InFlight& flight = it->second;
  flight.started = true;
  if (flight.sent_to_idle) {
    host.pacing.round_trip(std::chrono::duration<double>(Clock::now() - *flight.sent_to_idle).count());
  }
  m_events.emplace_back(ItemStarted{started.seq, flight.slot, host.name, 0, 0});
  --slot_state(flight.slot).queued;
  free_if_ready(flight.slot);
}

void RemoteExecutor::on_ended(Host& host, Ended& e)
{
  host.held += !e.interrupted && m_config.hold(e.status) ? 1 : 0; // as its agent counts them
  auto it = m_items.find(e.seq);
  if (it == m_items.end() || it->second.host != &host) {
    return;
  }
  ItemEnded end;
  end.seq = e.seq;
  end.slot = it->second.slot;
  end.status = e.status;
  end.exit_code = e.exit_code;
  end.signal = e.signal;
  end.started = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(std::isfinite(e.started) ? e.started : 0)));
  end.duration = std::isfinite(e.duration) ? e.duration : 0;
  end.interrupted = e.interrupted;
  end.host = host.name;
  end.step = host.step;
  unsigned slot = it->second.slot;
  SlotState& state = slot_state(slot);
  if (!it->second.started) {
    --state.queued; // dropped by a cancel before it started
  } else if (!e.interrupted) {
    host.pacing.ran(end.duration);
  }
  m_items.erase(it);
  m_events.emplace_back(std::move(end));
  --state.outstanding;
  free_if_ready(slot);
}

void RemoteExecutor::on_return(Host& host, Message& message)
{
  if (auto* begin = std::get_if<FileBegin>(&message)) {
    host.file.reset();
    auto it = m_items.find(begin->seq);
    if (it == m_items.end()) {
      return;
    }
    // Only files this side asked for land, and where it said: never a path the host chose.
    for (const auto& [remote, local] : it->second.returns) {
      if (remote == begin->path) {
        host.file = std::make_unique<IncomingFile>(local, begin->mode);
        host.file_seq = begin->seq;
        break;
      }
    }
  } else if (auto* data = std::get_if<FileData>(&message)) {
    if (host.file) {
      host.file->write(data->bytes);
    }
  } else if (auto* end = std::get_if<FileEnd>(&message)) {
    if (!host.file) {
      return;
    }
    std::string error = host.file->finish(end->error);
    if (!error.empty()) {
      m_listener.on_output(host.file_seq, Stream::err,
                           fmt::format("parmap: {}: cannot return {}: {}\n", host.name,
                                       host.file->path(), error));
    }
    host.file.reset();
  }
}

void RemoteExecutor::on_down(Host& host)
{
  bool was_ready = host.state == Host::State::ready;
  if (host.connection) {
    const auto& greeting = host.connection->reader().greeting();
    if (greeting && greeting->protocol != k_protocol_version) {
      host.permanent = true;
      host.problem = mismatch(*greeting);
    }
    m_dead.push_back(std::move(host.connection));
  }
  host.file.reset();
  if (host.err) {
    m_reactor.remove(host.err.get(), &host.err_watch);
    host.err.reset();
  }
  if (host.problem.empty()) {
    host.problem = was_ready ? fmt::format("connection lost ({}{}{})", host.close_why,
                                           host.stderr_tail.empty() ? "" : ": ",
                                           last_line(host.stderr_tail))
                             : host.start_failure();
  }
  site_ended();
  if (was_ready) {
    std::size_t lost = std::count_if(m_items.begin(), m_items.end(),
                                     [&](const auto& i) { return i.second.host == &host; });
    if (!m_stopping) {
      notice(fmt::format("{}: {}; {} item{} will run again {}", host.name, host.problem, lost,
                         lost == 1 ? "" : "s", m_config.pinned ? "when it is back" : "elsewhere"));
    }
    lose_items(host);
    set_away(host, true);
  }
  host.state = Host::State::down;
  ++host.failures;
  if (host.permanent || host.failures >= k_max_failures || m_stopping) {
    give_up(host, host.problem);
    return;
  }
  if (!was_ready && host.count > 0) {
    notice(fmt::format("{}: {}; trying again", host.name, host.problem));
  }
  double backoff = std::min(30.0, static_cast<double>(1U << (host.failures - 1)));
  host.timer = m_reactor.at(Clock::now() + seconds(backoff), [this, &host] {
    host.timer = 0;
    host.problem.clear();
    schedule_connect(host);
  });
}

bool RemoteExecutor::site_ended()
{
  if (!m_config.site || m_stopping) {
    return false;
  }
  std::string why = m_config.site->ended();
  if (why.empty()) {
    return false;
  }
  m_stopping = true; // no endpoint comes back: the run ends with what it has
  if (!m_failed) {
    m_failed = true;
    notice(why, true);
  }
  return true;
}

void RemoteExecutor::lose_items(Host& host)
{
  for (auto it = m_items.begin(); it != m_items.end();) {
    if (it->second.host != &host) {
      ++it;
      continue;
    }
    ItemEnded end;
    end.seq = it->first;
    end.slot = it->second.slot;
    end.lost = true;
    end.host = host.name;
    end.step = host.step;
    slot_state(it->second.slot).outstanding = 0;
    slot_state(it->second.slot).queued = 0;
    m_events.emplace_back(std::move(end));
    it = m_items.erase(it);
  }
}

void RemoteExecutor::give_up(Host& host, const std::string& why)
{
  host.state = Host::State::gone;
  if (host.count > 0) {
    // Before the run started a host that could not be reached is reported with the others.
    if (!m_stopping) {
      notice(fmt::format("{}: giving up on it: {}", host.name, why));
    }
    set_away(host, !m_config.pinned); // pinned: back, for its items to fail there
  }
  bool none_left = std::all_of(m_hosts.begin(), m_hosts.end(), [](const auto& h) {
    return h->state == Host::State::gone;
  });
  if (none_left && m_config.last_resort && !m_failed && !m_stopping && m_slot_count > 0) {
    m_failed = true;
    notice("no host left to run on", true);
  }
}

void RemoteExecutor::free_if_ready(unsigned slot)
{
  SlotState& s = slot_state(slot);
  // A batch queued here while another slot idles would wait for nothing (the engine takes
  // the lowest free slot, idle or not); a stopping run starts nothing more.
  auto idle = [](const SlotState& o) {
    return o.outstanding == 0 && !o.away && o.host->state == Host::State::ready;
  };
  unsigned depth = m_config.queue_ahead.value_or(s.host->pacing.depth());
  // Pinned items cannot go to another slot: whether one idles does not matter.
  bool ready = s.outstanding == 0 ||
               (s.queued < depth && !m_stopping &&
                (m_config.pinned || std::none_of(m_slot_states.begin(), m_slot_states.end(), idle)));
  bool up = s.host->state == Host::State::ready ||
            (m_config.pinned && s.host->state == Host::State::gone);
  if (s.busy && ready && !s.away && up) {
    s.busy = false;
    m_events.emplace_back(SlotFree{slot, false});
  }
}

void RemoteExecutor::release_held()
{
  for (auto& host : m_hosts) {
    if (host->handed > 0 && host->state == Host::State::ready && !m_stopping) {
      host->connection->send(Release{host->handed});
    }
    host->handed = 0;
  }
}

void RemoteExecutor::notice(std::string message, bool fatal)
{
  m_events.emplace_back(ExecutorNotice{std::move(message), fatal});
}

void RemoteExecutor::fail_item(unsigned slot, const Item& item, const std::string& message,
                               int exit_code)
{
  const std::string& host = slot_state(slot).host->name;
  m_events.emplace_back(ItemStarted{item.seq, slot, host, 0, 0});
  m_listener.on_output(item.seq, Stream::err, "parmap: " + message + "\n");
  ItemEnded end;
  end.seq = item.seq;
  end.slot = slot;
  end.host = host;
  end.status = Status::failed;
  end.exit_code = exit_code;
  end.started = std::chrono::system_clock::now();
  m_events.emplace_back(std::move(end));
}

void RemoteExecutor::start(unsigned slot, Batch batch)
{
  SlotState& state = slot_state(slot);
  state.busy = true;
  Host& host = *state.host;
  for (const Item& item : batch.items) {
    if (m_config.pinned && host.state == Host::State::gone) {
      // As ssh says a host cannot be reached: exit status 255.
      fail_item(slot, item, fmt::format("{}: not run there: {}", host.name, host.problem), 255);
    } else if (host.state != Host::State::ready || state.away) {
      ItemEnded end; // not run: it goes back to the queue; the slot waits for its host
      end.seq = item.seq;
      end.slot = slot;
      end.lost = true;
      m_events.emplace_back(std::move(end));
    } else if (item.seq >= m_cancel_from) {
      ItemEnded end;
      end.seq = item.seq;
      end.slot = slot;
      end.interrupted = true;
      m_events.emplace_back(std::move(end));
    } else if (auto why = prepare_launch(m_launch, item, slot, m_launch_buf)) {
      fail_item(slot, item, *why);
    } else {
      send_item(host, slot, item);
    }
  }
  free_if_ready(slot);
}

void RemoteExecutor::send_item(Host& host, unsigned slot, const Item& item)
{
  InFlight flight;
  flight.host = &host;
  flight.slot = slot;
  Run run;
  run.seq = item.seq;
  run.slot = slot - host.first + 1;
  run.timeout = item.timeout;
  std::vector<std::string> scratch;
  for (const auto& t : m_transfers) {
    std::string local = render_path(t, item, slot, scratch);
    std::string remote = remote_path(local);
    host.connection->send_path(FileBegin{item.seq, remote, 0}, local);
    if (m_config.cleanup) {
      run.remove.push_back(remote);
    }
  }
  for (const auto& t : m_returns) {
    std::string local = render_path(t, item, slot, scratch);
    std::string remote = remote_path(local);
    run.returns.push_back(remote);
    if (m_config.cleanup) {
      run.remove.push_back(remote);
    }
    flight.returns.emplace_back(remote, local);
  }
  run.argv = m_launch_buf.argv; // prepared by prepare_launch() before
  run.env = m_launch_buf.env;
  SlotState& state = slot_state(slot);
  if (state.outstanding == 0) {
    flight.sent_to_idle = Clock::now();
  }
  host.connection->send(run);
  m_items[item.seq] = std::move(flight);
  ++state.outstanding;
  ++state.queued;
}

void RemoteExecutor::wait(std::optional<Clock::time_point> until, std::vector<ExecutorEvent>& events)
{
  release_held();
  if (m_events.empty()) {
    m_reactor.run_once(until);
  }
  m_dead.clear();
  for (auto& e : m_events) {
    events.push_back(std::move(e));
  }
  m_events.clear();
  for (auto& host : m_hosts) {
    host->handed += std::exchange(host->held, 0); // released at the next wait, once handled
  }
}

void RemoteExecutor::cancel(std::uint64_t from_seq, int signal)
{
  m_cancel_from = std::min(m_cancel_from, from_seq);
  m_stopping = true;
  for (auto& host : m_hosts) {
    if (host->state == Host::State::ready) {
      host->connection->send(Cancel{from_seq, signal});
    } else if (host->state == Host::State::down) {
      // The run is stopping: a host that is away is not waited for.
      m_reactor.cancel(host->timer);
      host->timer = 0;
      give_up(*host, host->problem);
    }
  }
  for (Host* host : m_launch_queue) {
    give_up(*host, "the run stopped before it started"); // nor is a transport not started yet
  }
  m_launch_queue.clear();
}

void RemoteExecutor::kill_all()
{
  m_cancel_from = 0;
  for (auto& host : m_hosts) {
    if (host->state == Host::State::ready) {
      host->connection->send(KillAll{});
    }
  }
}

void RemoteExecutor::resume_output(std::uint64_t seq)
{
  for (auto& host : m_hosts) {
    if (host->paused == seq && host->connection) {
      host->paused = 0;
      host->connection->pause(false);
    }
  }
}

std::size_t RemoteExecutor::running() const
{
  return static_cast<std::size_t>(std::count_if(
      m_items.begin(), m_items.end(), [](const auto& i) { return i.second.started; }));
}

} // namespace parmap::agent
