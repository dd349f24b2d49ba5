// SignalWatcher: turns SIGINT, SIGTERM and SIGHUP into reactor events (a self-pipe), and
// SigpipeGuard: ignores SIGPIPE while parmap writes to a pipe that may close.
#pragma once

#include "base/fd.hpp"
#include "base/reactor.hpp"

#include <csignal>
#include <functional>

namespace parmap {

/// While it lives, SIGINT, SIGTERM and SIGHUP are caught (the handler only writes the signal
/// number to a pipe) and `on_signal` runs from the reactor. The previous handlers come back on
/// destruction. One at a time per process; a second one throws parmap::Error.
class SignalWatcher final : public Watcher {
public:
  SignalWatcher(Reactor& reactor, std::function<void(int)> on_signal);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  void on_ready(std::uint32_t events) override;

private:
  Reactor& m_reactor;
  std::function<void(int)> m_on_signal;
  Pipe m_pipe;
  struct sigaction m_previous[3] = {};
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
