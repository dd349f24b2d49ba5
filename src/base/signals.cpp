#include "base/signals.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <span>
#include <vector>
#include <sys/epoll.h>
#include <unistd.h>

namespace parmap {
namespace {

// What a user or a service manager sends to end a program: taken over unless ignored.
constexpr int k_stop_requests[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM};
// What ends or stops a program only when nobody handles it: taken over while at the default
// action, so that an embedding program's own use (SIGALRM timers, SIGPROF profilers, SIGTSTP in
// a curses program) is left alone.
constexpr int k_by_default[] = {SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF,
                                SIGTSTP, SIGTTIN, SIGTTOU};
std::atomic<int> g_write_fd{-1};

extern "C" void on_signal_handler(int signal)
{
  int saved = errno;
  int fd = g_write_fd.load();
  if (fd >= 0) {
    auto byte = static_cast<unsigned char>(signal);
    [[maybe_unused]] ssize_t n = ::write(fd, &byte, 1); // full pipe: the run is stopping anyway
  }
  errno = saved;
}

} // namespace

bool is_job_control_signal(int signal)
{
  return signal == SIGTSTP || signal == SIGTTIN || signal == SIGTTOU;
}

SignalWatcher::SignalWatcher(Reactor& reactor, std::function<void(int)> on_signal)
    : m_reactor(reactor), m_on_signal(std::move(on_signal)), m_pipe(make_pipe(/*nonblocking_write=*/true))
{
  int expected = -1;
  if (!g_write_fd.compare_exchange_strong(expected, m_pipe.write.get())) {
    throw Error("another parmap run is already handling signals in this process");
  }
  m_reactor.add(m_pipe.read.get(), EPOLLIN, this);
  struct sigaction sa {};
  sa.sa_handler = on_signal_handler;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: a blocking call in progress returns EINTR. (Restarting a read or write of
  // the terminal from the background would only raise SIGTTIN or SIGTTOU again, forever.)
  sa.sa_flags = 0;
  for (bool requests : {true, false}) {
    for (int signal : requests ? std::span<const int>(k_stop_requests) : k_by_default) {
      struct sigaction current {};
      ::sigaction(signal, nullptr, &current);
      if (current.sa_handler == SIG_IGN || (!requests && current.sa_handler != SIG_DFL)) {
        continue; // ignored stays ignored; a program's own handler stays in place
      }
      ::sigaction(signal, &sa, nullptr);
      m_taken.push_back(Taken{signal, current});
    }
  }
}

SignalWatcher::~SignalWatcher()
{
  for (const Taken& t : m_taken) {
    ::sigaction(t.signal, &t.previous, nullptr);
  }
  g_write_fd.store(-1);
  m_reactor.remove(m_pipe.read.get(), this);
}

void SignalWatcher::on_ready(std::uint32_t)
{
  // Read everything first: a background read of the terminal may have raised SIGTTIN several
  // times before the loop got here, and one stop is what the user meant. Terminating signals
  // all count (a second one kills at once).
  std::vector<int> signals;
  unsigned char buf[64];
  for (ssize_t n; (n = ::read(m_pipe.read.get(), buf, sizeof buf)) > 0;) {
    for (ssize_t i = 0; i < n; ++i) {
      int signal = buf[i];
      if (!is_job_control_signal(signal) ||
          std::find(signals.begin(), signals.end(), signal) == signals.end()) {
        signals.push_back(signal);
      }
    }
  }
  for (int signal : signals) {
    m_on_signal(signal);
  }
}

void SignalWatcher::stop_self(int signal)
{
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  struct sigaction mine {};
  ::sigaction(signal, &dfl, &mine);
  ::raise(signal); // delivered before raise() returns: the process stops here
  ::sigaction(signal, &mine, nullptr);
}

namespace {
// Runs on several threads may overlap: the first guard ignores SIGPIPE, the last restores it.
std::mutex g_sigpipe_mutex;
int g_sigpipe_users = 0;
struct sigaction g_sigpipe_previous = {};
} // namespace

SigpipeGuard::SigpipeGuard()
{
  std::lock_guard lock(g_sigpipe_mutex);
  if (g_sigpipe_users++ == 0) {
    struct sigaction sa {};
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGPIPE, &sa, &g_sigpipe_previous);
  }
  m_previous = g_sigpipe_previous;
}

SigpipeGuard::~SigpipeGuard()
{
  std::lock_guard lock(g_sigpipe_mutex);
  if (--g_sigpipe_users == 0) {
    ::sigaction(SIGPIPE, &g_sigpipe_previous, nullptr);
  }
}

} // namespace parmap
