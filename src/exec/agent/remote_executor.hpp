// RemoteExecutor: the controller's side of agent connections. Each endpoint is a local command
// (ssh HOST parmap --agent, or a Slurm step) whose stdin and stdout reach one agent; its slots
// run the commands this side renders. Connections that drop are reported, their in-flight
// items handed back to the engine as lost (not an attempt), and retried with backoff. A busy
// slot is freed for its next batch before its items end, so that the agent has it queued when
// they do (Pacing): the agent starts it then, and its timeout and start time count from then.
#pragma once

#include "base/reactor.hpp"
#include "exec/agent/connection.hpp"
#include "exec/agent/protocol.hpp"
#include "exec/command.hpp"
#include "exec/executor.hpp"
#include "exec/launch.hpp"
#include "exec/local/spawn.hpp"
#include "output/spill.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace parmap::agent {

/// One agent to start.
struct Endpoint {
  /// The host as the user wrote it (messages, joblog, PARMAP_HOST); with `named_by_agent`, what
  /// it is called until its agent greets.
  std::string name;
  std::vector<std::string> command; ///< The local command whose stdin/stdout reach the agent.
  std::vector<std::string> item_env; ///< NAME=VALUE for its items, besides PARMAP_HOST.
  unsigned slots = 0;               ///< 0: RemoteConfig::slots, else the agent's CPU count.
  /// The host is called what its agent says (a Slurm step lands on a node Slurm picks).
  bool named_by_agent = false;
};

/// What every endpoint runs inside, when that can end for all of them at once (a Slurm
/// allocation reaching its time limit).
class Site {
public:
  virtual ~Site() = default;
  /// Asked when an endpoint went down: why none of them can come back, or empty while they may.
  virtual std::string ended() = 0;
};

struct RemoteConfig {
  std::vector<Endpoint> endpoints;
  unsigned first_slot = 1;
  unsigned slots = 0; ///< Slots of an endpoint that names none (-j); 0: the agent's CPUs.
  double kill_grace = 1;
  std::string workdir;                 ///< On the hosts; "..." = a fresh temporary directory.
  std::vector<std::string> env;        ///< NAME=VALUE set for every item there (--env).
  std::vector<std::string> transfers;  ///< File templates sent before each item.
  std::vector<std::string> returns;    ///< File templates brought back after it.
  std::vector<std::string> basefiles;  ///< Files sent once per host before its first item.
  bool cleanup = false;
  /// Nothing else runs items: losing every endpoint ends the run with an error.
  bool last_resort = true;
  /// Each endpoint is one slot that the engine's items are pinned to (--onall): a host's items
  /// wait for it while it is away, and fail there once it is given up, rather than run
  /// elsewhere; its slot queues ahead whatever other slots do.
  bool pinned = false;
  double connect_wait = 30; ///< Seconds the start waits for agents to greet.
  double heartbeat = 5;     ///< Seconds between pings; silence for 6 of them is a lost host.
  double start_interval = 0; ///< Seconds between starting two transports (0: all at once).
  /// Items kept queued behind each slot's running one; none: as many as hide the measured
  /// round trip (Pacing).
  std::optional<unsigned> queue_ahead;
  /// The item ends a --halt may stop on: the agents hold their queues after them until this
  /// side has seen them (see Release).
  HoldAfter hold;
  /// The transports' environment (NAME=VALUE); none: parmap's own.
  std::optional<std::vector<std::string>> transport_env;
  /// Owned, and destroyed only after every transport is reaped; none: endpoints end one by one.
  std::unique_ptr<Site> site;
};

/// Where a file of the controller lands on a host: a path with "/./" in it is relative to the
/// working directory from there on (rsync -R); other paths are taken as they are.
std::string remote_path(const std::string& local);

class RemoteExecutor final : public Executor {
public:
  /// Starts every endpoint (start_interval apart) and waits, up to connect_wait, for the
  /// greetings (slot counts come with them); agents that greet later join the run then.
  /// Throws parmap::Error when none could be reached and last_resort is set.
  RemoteExecutor(Reactor& reactor, const LaunchBuilder& launch, OutputListener& listener,
                 RemoteConfig config);
  /// Closes every connection (the agents kill what still runs) and reaps the transports.
  ~RemoteExecutor() override;
  RemoteExecutor(const RemoteExecutor&) = delete;
  RemoteExecutor& operator=(const RemoteExecutor&) = delete;

  /// The slots, numbered from first_slot.
  unsigned slots() const { return m_slot_count; }

  void start(unsigned slot, Batch batch) override;
  /// Also tells the agents to go on after the ends the previous call handed over that held
  /// their queues (HoldAfter): the engine has handled those by now.
  void wait(std::optional<Clock::time_point> until, std::vector<ExecutorEvent>& events) override;
  void cancel(std::uint64_t from_seq, int signal) override;
  void kill_all() override;
  /// Job control stops this machine only: a remote item runs on (its host's terminal is not
  /// stopped), its timeout enforced there; its output waits in the connection.
  void stop_all() override {}
  void continue_all() override {}
  void resume_output(std::uint64_t seq) override;
  std::size_t running() const override;

private:
  struct Host;
  struct InFlight {
    Host* host = nullptr;
    unsigned slot = 0; ///< Global slot number.
    bool started = false;
    /// When it was sent to a slot with nothing else there, whose Started measures a round trip.
    std::optional<Clock::time_point> sent_to_idle;
    std::vector<std::pair<std::string, std::string>> returns; ///< (remote, local) paths.
  };
  /// What the engine and the hosts know of one slot.
  struct SlotState {
    Host* host = nullptr;
    unsigned outstanding = 0; ///< Items sent to its agent that have not ended.
    unsigned queued = 0;      ///< Of those, the ones not started yet.
    bool busy = false;        ///< Given a batch by the engine and not freed since.
    bool away = false;        ///< Reported gone to the engine while its host is away.
  };

  void wait_for_greetings();
  /// Numbers every host's slots; returns what kept hosts away ("; host: why" each).
  std::string assign_slots();
  /// Queues the host's transport to start when the start rate allows.
  void schedule_connect(Host& host);
  void launch_due();
  void connect(Host& host);
  /// Asks the site whether endpoints can still come back; when not, the run ends with its why.
  bool site_ended();
  void handle(Host& host, agent::Message& message);
  void on_hello(Host& host, unsigned cpus);
  void on_started(Host& host, const Started& started);
  void on_ended(Host& host, agent::Ended& ended);
  void on_return(Host& host, agent::Message& message);
  void on_down(Host& host);
  void give_up(Host& host, const std::string& why);
  void lose_items(Host& host);
  /// Takes the host's slots out of the run (its host is away), or brings them back.
  void set_away(Host& host, bool away);
  /// Frees the slot for the engine's next batch when it is idle, or when its agent should get
  /// that batch now to queue it behind what runs (Pacing).
  void free_if_ready(unsigned slot);
  /// Releases the ends that held the agents' queues and that an earlier wait() handed to the
  /// engine: it has handled them by now, and did not stop the run (a stop cancels instead).
  void release_held();
  void send_item(Host& host, unsigned slot, const Item& item);
  /// Ends an item that could not start there as a failure (exit status `exit_code`) whose
  /// stderr is `message`.
  void fail_item(unsigned slot, const Item& item, const std::string& message, int exit_code = 126);
  void notice(std::string message, bool fatal = false);
  SlotState& slot_state(unsigned slot) { return m_slot_states.at(slot - m_config.first_slot); }
  void reap_all();

  Reactor& m_reactor;
  const LaunchBuilder& m_launch;
  OutputListener& m_listener;
  RemoteConfig m_config;
  Spawner m_spawner;
  std::vector<std::string> m_env;
  SpillFactory m_spill;
  std::vector<CommandTemplate> m_transfers;
  std::vector<CommandTemplate> m_returns;
  std::vector<std::unique_ptr<Host>> m_hosts;
  std::deque<Host*> m_launch_queue; ///< Transports waiting for their turn to start.
  Clock::time_point m_next_launch{};
  Reactor::TimerId m_launch_timer = 0;
  std::vector<SlotState> m_slot_states;
  std::unordered_map<std::uint64_t, InFlight> m_items;
  std::vector<ExecutorEvent> m_events;
  /// Connections closed during the current wait, destroyed after it (their callbacks may be
  /// on the stack).
  std::vector<std::unique_ptr<Connection>> m_dead;
  unsigned m_slot_count = 0;
  std::uint64_t m_cancel_from = UINT64_MAX;
  bool m_stopping = false;
  bool m_failed = false; ///< The fatal notice went out.
  Launch m_launch_buf;
};

} // namespace parmap::agent
