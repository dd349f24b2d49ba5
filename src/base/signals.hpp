// SignalWatcher: turns the signals that would end or stop parmap into reactor events (a
// self-pipe), and SigpipeGuard: ignores SIGPIPE while parmap writes to a pipe that may close.
#pragma once

#include "base/fd.hpp"
#include "base/reactor.hpp"

#include <csignal>
#include <functional>
#include <vector>

namespace parmap {

/// The job-control signals whose default action stops the process: SIGTSTP, SIGTTIN, SIGTTOU.
bool is_job_control_signal(int signal);

/// While it lives, the signals that would end or stop the process are caught (the handler only
/// writes the signal number to a pipe) and `on_signal` runs from the reactor (job-control
/// signals once per wake-up). SIGINT, SIGTERM, SIGHUP and SIGQUIT are taken over unless they
/// are ignored; SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGTSTP,
/// SIGTTIN and SIGTTOU only while their action is the default. A signal ignored when it starts
/// (nohup's SIGHUP, SIGINT in the background of a script) thus stays ignored, in parmap and in
/// the children it starts. The previous actions come back on destruction. One at a time per
/// process; a second one throws parmap::Error.
class SignalWatcher final : public Watcher {
public:
  SignalWatcher(Reactor& reactor, std::function<void(int)> on_signal);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  void on_ready(std::uint32_t events) override;

  /// Stops the whole process with `signal`'s default action, as if it had not been caught, and
  /// returns once it is continued (SIGCONT); at once when the kernel discards the stop (an
  /// orphaned process group, where nobody could continue it).
  void stop_self(int signal);

private:
  struct Taken {
    int signal = 0;
    struct sigaction previous {};
  };

  Reactor& m_reactor;
  std::function<void(int)> m_on_signal;
  Pipe m_pipe;
  std::vector<Taken> m_taken; ///< The signals caught, with the actions they had before.
};

/// Ignores SIGPIPE while it lives, so that a closed stdout shows up as EPIPE, and remembers
/// whether it was ignored before (children then inherit that instead of the default).
class SigpipeGuard {
public:
  SigpipeGuard();
  ~SigpipeGuard();
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  bool was_ignored() const { return m_previous.sa_handler == SIG_IGN; }

private:
  struct sigaction m_previous = {};
};

} // namespace parmap
