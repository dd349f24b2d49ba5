#include "base/signals.hpp"

#include "base/error.hpp"

#include <atomic>
#include <mutex>
#include <sys/epoll.h>
#include <unistd.h>

namespace parmap {
namespace {

constexpr int k_signals[3] = {SIGINT, SIGTERM, SIGHUP};
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

SignalWatcher::SignalWatcher(Reactor& reactor, std::function<void(int)> on_signal)
    : m_reactor(reactor), m_on_signal(std::move(on_signal)), m_pipe(make_pipe(/*nonblocking_write=*/true))
{
  int expected = -1;
  if (!g_write_fd.compare_exchange_strong(expected, m_pipe.write.get())) {
    throw Error("another parmap run is already handling signals in this process");
  }
  m_reactor.add(m_pipe.read.get(), EPOLLIN, this);
  for (int i = 0; i < 3; ++i) {
    struct sigaction sa {};
    sa.sa_handler = on_signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: a blocking call in progress returns EINTR
    ::sigaction(k_signals[i], &sa, &m_previous[i]);
  }
}

SignalWatcher::~SignalWatcher()
{
  for (int i = 0; i < 3; ++i) {
    ::sigaction(k_signals[i], &m_previous[i], nullptr);
  }
  g_write_fd.store(-1);
  m_reactor.remove(m_pipe.read.get(), this);
}

void SignalWatcher::on_ready(std::uint32_t)
{
  unsigned char buf[16];
  for (;;) {
    ssize_t n = ::read(m_pipe.read.get(), buf, sizeof buf);
    if (n <= 0) {
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      m_on_signal(buf[i]);
    }
  }
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
