// loop_compare: two ways for a parent to supervise short-lived children.
//
//   raw   posix_spawn + a raw epoll loop + pidfd + non-blocking pipes (what parmap's
//         src/exec/local/local_executor.cpp does)
//   bp2   posix_spawn + Boost.Process v2 + asio: bp2::process(io.get_executor(), pid)
//         async_wait for the exit, asio::readable_pipe async_read_some for the output
//
// Both run N children of PROG (default /bin/true) with P in flight, every child in its own
// process group, stdin /dev/null, stdout and stderr each captured through a pipe (bytes
// counted and dropped), and a child counts as done after its exit AND both EOFs. Rounds
// alternate the two variants (raw bp2 / bp2 raw / ...). One line per (variant, round):
//
//   variant round n wall_us_per_spawn parent_cpu_us_per_spawn child_cpu_us_per_spawn bytes
//
// parent CPU = getrusage(RUSAGE_SELF) delta; child CPU = getrusage(RUSAGE_CHILDREN) delta.
//
// Build: g++ -O2 -std=c++20 -o loop_compare loop_compare.cpp -lboost_filesystem -pthread
// Usage: loop_compare [N [P [ROUNDS [PROG [ARGS...]]]]]

#include <boost/asio.hpp>
#include <boost/process/v2.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <signal.h>
#include <spawn.h>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace asio = boost::asio;
namespace bp2 = boost::process::v2;

namespace {

[[noreturn]] void die(const char* what, int err)
{
  std::fprintf(stderr, "loop_compare: %s: %s\n", what, std::strerror(err));
  std::exit(2);
}

struct Spawner {
  int devnull = -1;
  sigset_t mask{};
  sigset_t deflt{};
  std::vector<char*> argv;

  explicit Spawner(std::vector<char*> args) : argv(std::move(args))
  {
    argv.push_back(nullptr);
    devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) {
      die("/dev/null", errno);
    }
    sigemptyset(&mask);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
  }

  /// Starts one child with stdout/stderr on fresh pipes; returns the read ends.
  pid_t spawn(int& out_read, int& err_read)
  {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC | O_NONBLOCK) != 0 || ::pipe2(err, O_CLOEXEC | O_NONBLOCK) != 0) {
      die("pipe2", errno);
    }
    // The child's ends must be blocking: O_NONBLOCK lives on the open file description, so
    // clear it on the write ends (the read ends stay non-blocking for the loop).
    ::fcntl(out[1], F_SETFL, 0);
    ::fcntl(err[1], F_SETFL, 0);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, devnull, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &mask);
    posix_spawnattr_setsigdefault(&at, &deflt);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, argv[0], &fa, &at, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
      die(argv[0], rc);
    }
    out_read = out[0];
    err_read = err[0];
    return pid;
  }
};

struct Totals {
  long done = 0;
  unsigned long long bytes = 0;
  long failed = 0;
};

// ---------------------------------------------------------------------------------------
// (i) raw epoll + pidfd
// ---------------------------------------------------------------------------------------

struct RawChild;
struct RawWatch {
  RawChild* child;
  int kind; // 0 out, 1 err, 2 pidfd
};
struct RawChild {
  pid_t pid = -1;
  int fds[3] = {-1, -1, -1}; // out, err, pidfd
  RawWatch watch[3];
  int open = 0;
};

void run_raw(Spawner& sp, long n, int p, Totals& t)
{
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    die("epoll_create1", errno);
  }
  std::vector<char> buf(128 * 1024);
  long started = 0;
  int running = 0;
  auto start_one = [&] {
    auto* c = new RawChild;
    c->pid = sp.spawn(c->fds[0], c->fds[1]);
    c->fds[2] = static_cast<int>(::syscall(SYS_pidfd_open, c->pid, 0));
    if (c->fds[2] < 0) {
      die("pidfd_open", errno);
    }
    for (int k = 0; k < 3; ++k) {
      c->watch[k] = RawWatch{c, k};
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &c->watch[k];
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, c->fds[k], &ev) != 0) {
        die("epoll_ctl", errno);
      }
    }
    c->open = 3;
    ++started;
    ++running;
  };
  std::vector<RawChild*> dead; // deleted after each epoll batch, which may still name them
  auto close_one = [&](RawChild* c, int k) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, c->fds[k], nullptr);
    ::close(c->fds[k]);
    c->fds[k] = -1;
    if (--c->open == 0) {
      int status = 0;
      while (::waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ++t.failed;
      }
      dead.push_back(c);
      ++t.done;
      --running;
    }
  };
  while (started < n && running < p) {
    start_one();
  }
  epoll_event evs[64];
  while (running > 0) {
    int m = ::epoll_wait(ep, evs, 64, -1);
    if (m < 0) {
      if (errno == EINTR) {
        continue;
      }
      die("epoll_wait", errno);
    }
    for (int i = 0; i < m; ++i) {
      auto* w = static_cast<RawWatch*>(evs[i].data.ptr);
      RawChild* c = w->child;
      int k = w->kind;
      if (c->fds[k] < 0) {
        continue; // closed earlier in this batch
      }
      if (k == 2) {
        close_one(c, 2); // exited; reaped once both pipes are done too
        continue;
      }
      for (;;) {
        ssize_t r = ::read(c->fds[k], buf.data(), buf.size());
        if (r > 0) {
          t.bytes += static_cast<unsigned long long>(r);
          continue;
        }
        if (r < 0 && errno == EINTR) {
          continue;
        }
        if (r < 0 && errno == EAGAIN) {
          break;
        }
        close_one(c, k); // EOF
        break;
      }
    }
    for (RawChild* c : dead) {
      delete c;
    }
    dead.clear();
    while (started < n && running < p) {
      start_one();
    }
  }
  ::close(ep);
}

// ---------------------------------------------------------------------------------------
// (ii) Boost.Process v2 + asio
// ---------------------------------------------------------------------------------------

struct Bp2Run;
struct Bp2Child : std::enable_shared_from_this<Bp2Child> {
  Bp2Run* run;
  bp2::process proc;
  asio::readable_pipe out;
  asio::readable_pipe err;
  std::array<char, 64 * 1024> obuf;
  std::array<char, 64 * 1024> ebuf;
  int left = 3;
  Bp2Child(Bp2Run* r, asio::io_context& io, pid_t pid, int o, int e)
      : run(r), proc(io.get_executor(), pid), out(io, o), err(io, e)
  {
  }
  void start();
  void read(asio::readable_pipe& pipe, std::array<char, 64 * 1024>& buf);
  void one_done();
};

struct Bp2Run {
  asio::io_context io;
  Spawner& sp;
  Totals& t;
  long n;
  int p;
  long started = 0;
  int running = 0;
  Bp2Run(Spawner& s, Totals& tt, long nn, int pp) : sp(s), t(tt), n(nn), p(pp) {}
  void fill()
  {
    while (started < n && running < p) {
      int o = -1;
      int e = -1;
      pid_t pid = sp.spawn(o, e);
      auto c = std::make_shared<Bp2Child>(this, io, pid, o, e);
      ++started;
      ++running;
      c->start();
    }
  }
};

void Bp2Child::start()
{
  auto self = shared_from_this();
  proc.async_wait([self](boost::system::error_code ec, int code) {
    if (ec || code != 0) {
      ++self->run->t.failed;
    }
    self->one_done();
  });
  read(out, obuf);
  read(err, ebuf);
}

void Bp2Child::read(asio::readable_pipe& pipe, std::array<char, 64 * 1024>& buf)
{
  auto self = shared_from_this();
  pipe.async_read_some(asio::buffer(buf), [self, &pipe, &buf](boost::system::error_code ec,
                                                               std::size_t got) {
    self->run->t.bytes += got;
    if (ec) {
      self->one_done(); // EOF (or error): this stream is finished
      return;
    }
    self->read(pipe, buf);
  });
}

void Bp2Child::one_done()
{
  if (--left == 0) {
    --run->running;
    ++run->t.done;
    // Launch from a posted handler, never from inside a completion handler.
    asio::post(run->io, [r = run] { r->fill(); });
  }
}

void run_bp2(Spawner& sp, long n, int p, Totals& t)
{
  Bp2Run r(sp, t, n, p);
  r.fill();
  r.io.run();
}

double tv_us(const timeval& tv)
{
  return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);
}

double cpu_us(const rusage& ru)
{
  return tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
}

} // namespace

int main(int argc, char** argv)
{
  long n = argc > 1 ? std::atol(argv[1]) : 5000;
  int p = argc > 2 ? std::atoi(argv[2]) : 2;
  int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  std::vector<char*> args;
  static char default_prog[] = "/bin/true";
  if (argc > 4) {
    for (int i = 4; i < argc; ++i) {
      args.push_back(argv[i]);
    }
  } else {
    args.push_back(default_prog);
  }
  ::signal(SIGPIPE, SIG_IGN);
  Spawner sp(args);
  using Clock = std::chrono::steady_clock;
  for (int round = 0; round < rounds; ++round) {
    for (int k = 0; k < 2; ++k) {
      bool raw = ((round + k) % 2) == 0; // raw bp2 / bp2 raw / ...
      Totals t;
      rusage s0{};
      rusage c0{};
      ::getrusage(RUSAGE_SELF, &s0);
      ::getrusage(RUSAGE_CHILDREN, &c0);
      auto w0 = Clock::now();
      if (raw) {
        run_raw(sp, n, p, t);
      } else {
        run_bp2(sp, n, p, t);
      }
      auto w1 = Clock::now();
      rusage s1{};
      rusage c1{};
      ::getrusage(RUSAGE_SELF, &s1);
      ::getrusage(RUSAGE_CHILDREN, &c1);
      double wall = std::chrono::duration<double, std::micro>(w1 - w0).count();
      std::printf("%s %d %ld %.1f %.1f %.1f %llu\n", raw ? "raw" : "bp2", round, t.done,
                  wall / static_cast<double>(t.done),
                  (cpu_us(s1) - cpu_us(s0)) / static_cast<double>(t.done),
                  (cpu_us(c1) - cpu_us(c0)) / static_cast<double>(t.done), t.bytes);
      std::fflush(stdout);
      if (t.done != n || t.failed != 0) {
        std::fprintf(stderr, "loop_compare: %s: %ld of %ld done, %ld failed\n",
                     raw ? "raw" : "bp2", t.done, n, t.failed);
        return 1;
      }
    }
  }
  return 0;
}
