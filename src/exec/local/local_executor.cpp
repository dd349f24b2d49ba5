#include "exec/local/local_executor.hpp"

#include "base/error.hpp"
#include "exec/local/stdin_feeder.hpp"
#include "base/process_groups.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace parmap {
namespace {

using Seconds = std::chrono::duration<double>;

constexpr std::size_t k_read_size = 128 * 1024;
// A default pipe holds 64 KiB: a read or splice that took that much found the pipe full.
constexpr long k_pipe_full = 64 * 1024;

Clock::duration to_duration(double seconds)
{
  return std::chrono::duration_cast<Clock::duration>(Seconds(seconds));
}

/// Collects an exited group leader, which frees its group id.
void reap(pid_t pid)
{
  int status = 0;
  retry_eintr([&] { return ::waitpid(pid, &status, 0); });
}

/// Kills what is left of a group, then reaps its leader.
void kill_and_reap(pid_t pid)
{
  ::kill(-pid, SIGKILL);
  reap(pid);
}

/// Descriptors open in this process now.
unsigned open_fd_count()
{
  unsigned n = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (::readdir(dir) != nullptr) {
      ++n;
    }
    ::closedir(dir);
    return n > 3 ? n - 3 : n; // ".", ".." and the directory's own descriptor
  }
  return 16;
}

} // namespace

/// One item's process while it runs: its pid (kept unreaped until the item is finished, so that
/// its process group id cannot be reused while parmap may still signal it), pidfd and pipes.
struct LocalExecutor::Running {
  struct PipeWatch final : Watcher {
    Running* r = nullptr;
    Stream stream = Stream::out;
    void on_ready(std::uint32_t) override { r->owner->read_pipe(*r, stream); }
  };
  struct ExitWatch final : Watcher {
    Running* r = nullptr;
    void on_ready(std::uint32_t) override { r->owner->on_exit(*r); }
  };

  /// The read end of the child's stdout or stderr pipe, and its state.
  struct StreamPipe {
    Fd fd;
    PipeWatch watch;
    bool paused = false; ///< Not read while the engine holds this item's output back.
    bool grown = false;  ///< Enlarged by grow_pipe().
  };

  LocalExecutor* owner = nullptr;
  Slot* slot = nullptr;
  Item item;
  pid_t pid = -1;
  Fd pidfd;
  StreamPipe pipes[2]; ///< By index_of(Stream); closed with -u (the item writes directly).
  ExitWatch exit_watch;
  ItemDir work_dir; ///< Where it runs (--wd); a fresh one goes with the Running.
  bool exited = false;
  bool timed_out = false;
  bool interrupted = false;
  bool finished = false;
  int wait_code = 0;   ///< siginfo si_code: CLD_EXITED, CLD_KILLED or CLD_DUMPED.
  int wait_status = 0; ///< Exit code or signal number.
  Clock::time_point t0;
  std::chrono::system_clock::time_point started;
  Reactor::TimerId deadline = 0;
  Reactor::TimerId kill_timer = 0;
  Reactor::TimerId linger = 0;
  Reactor::TimerId exit_poll = 0; ///< Polls for the exit when pidfds are unavailable.
  std::unique_ptr<StdinFeeder> feeder; ///< Writes the item's block; null without one.
  std::string block_path; ///< --cat / --fifo: the file or FIFO removed when the item ends.

  StreamPipe& pipe(Stream s) { return pipes[index_of(s)]; }
  /// True while either pipe is open: something may still write output.
  bool pipes_open() const { return pipes[0].fd || pipes[1].fd; }
};

unsigned LocalExecutor::fd_limited_slots(unsigned wanted, bool feeds_stdin)
{
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return wanted;
  }
  if (lim.rlim_cur < lim.rlim_max) {
    // Many jobs need many descriptors; the soft limit is there to be raised by who needs it.
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      lim = raised;
    }
  }
  if (lim.rlim_cur == RLIM_INFINITY) {
    return wanted;
  }
  // Three per running item (two pipes and a pidfd; a fourth for a block's stdin pipe), two
  // more while one spawns, and a reserve for the checkpoint, the spill file and the input.
  long long per_item = feeds_stdin ? 4 : 3;
  auto limit = static_cast<long long>(lim.rlim_cur);
  if (limit >= per_item * wanted + 1024) {
    return wanted; // plenty: no need to count what is open
  }
  long long free_fds = limit - static_cast<long long>(open_fd_count()) - 2 - 12;
  long long fit = free_fds / per_item;
  return static_cast<unsigned>(std::clamp<long long>(fit, 1, wanted));
}

LocalExecutor::LocalExecutor(Reactor& reactor,
                             const LaunchBuilder& launch,
                             OutputListener& listener,
                             LocalExecutorConfig config)
    : m_reactor(reactor), m_launch_builder(launch), m_listener(listener), m_config(config),
      m_spawner(config.null_stdin, config.reset_sigpipe),
      m_work_dirs(config.work_dir, config.temp_dir), m_env(snapshot_environment()),
      m_block_files(config.temp_dir)
{
  override_env(m_env, m_config.env);
  slot_at(m_config.first_slot + std::max(1U, config.slots) - 1);
  if (config.nice != 0) {
    errno = 0;
    int own = ::getpriority(PRIO_PROCESS, 0); // -1 is a valid niceness: errno tells
    m_nice = std::clamp((errno == 0 ? own : 0) + config.nice, -20, 19);
  }
  // Probe pidfd support once; without it exits are polled (kernels before 5.3).
  Fd probe = open_pidfd(::getpid());
  m_use_pidfd = static_cast<bool>(probe);
}

LocalExecutor::~LocalExecutor()
{
  std::vector<pid_t> leaders;
  for (auto& slot : m_slots) {
    if (slot.running && slot.running->pid > 0) {
      leaders.push_back(slot.running->pid);
    }
  }
  for (const auto& [pid, timer] : m_doomed) {
    m_reactor.cancel(timer);
    leaders.push_back(pid);
  }
  for (pid_t pid : leaders) {
    kill_and_reap(pid);
  }
}

std::size_t LocalExecutor::running() const
{
  return static_cast<std::size_t>(std::count_if(
      m_slots.begin(), m_slots.end(), [](const Slot& s) { return s.running != nullptr; }));
}

LocalExecutor::Slot& LocalExecutor::slot_at(unsigned number)
{
  // Slots are numbered from first_slot (a composite executor gives each of its executors a
  // range); a number not seen yet adds slots (the engine may grow a run: -j FILE).
  while (m_slots.size() <= number - m_config.first_slot) {
    auto next = m_config.first_slot + static_cast<unsigned>(m_slots.size());
    m_slots.emplace_back().number = next;
  }
  return m_slots[number - m_config.first_slot];
}

void LocalExecutor::start(unsigned slot_number, Batch batch)
{
  Slot& slot = slot_at(slot_number);
  slot.busy = true;
  for (auto& item : batch.items) {
    slot.queue.push_back(std::move(item));
  }
  start_next(slot);
}

void LocalExecutor::start_next(Slot& slot)
{
  while (!slot.running && slot.delayed == 0) {
    while (!slot.queue.empty() && slot.queue.front().seq >= m_cancel_from) {
      drop(slot, std::move(slot.queue.front()));
      slot.queue.pop_front();
    }
    if (slot.queue.empty()) {
      if (slot.busy) {
        slot.busy = false;
        m_events.emplace_back(SlotFree{slot.number});
      }
      return;
    }
    if (m_config.delay > 0) {
      auto now = Clock::now();
      if (now < m_next_start) {
        slot.delayed = m_reactor.at(m_next_start, [this, &slot] {
          slot.delayed = 0;
          start_next(slot);
        });
        return;
      }
      m_next_start = now + to_duration(m_config.delay);
    }
    Item item = std::move(slot.queue.front());
    slot.queue.pop_front();
    launch(slot, std::move(item));
  }
}

void LocalExecutor::fail_to_start(Slot& slot, Item item, int exit_code, const std::string& message)
{
  m_events.emplace_back(ItemStarted{item.seq, slot.number, {}, 0, 0});
  std::string line = "parmap: " + message + "\n";
  m_listener.on_output(item.seq, Stream::err, line);
  ItemEnded end;
  end.seq = item.seq;
  end.slot = slot.number;
  end.status = Status::failed;
  end.exit_code = exit_code;
  end.started = std::chrono::system_clock::now();
  m_events.emplace_back(std::move(end));
}

/// How an item's process gets its block: the descriptor it reads as stdin (with the parent's
/// copy to close once it is spawned) and the feeder that will write it, not yet started.
struct LocalExecutor::BlockStdin {
  Fd child;
  int child_fd = -1;
  std::unique_ptr<StdinFeeder> feeder;
};

int LocalExecutor::null_input()
{
  if (!m_devnull) {
    m_devnull.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!m_devnull) {
      throw_errno("/dev/null", errno);
    }
  }
  return m_devnull.get();
}

LocalExecutor::BlockStdin LocalExecutor::block_stdin(const Item& item, const std::string& path)
{
  BlockStdin in;
  if (m_config.block_input == BlockInput::file) {
    m_block_files.write_file(path, *item.block);
    in.child_fd = null_input();
    return in;
  }
  if (m_config.block_input == BlockInput::fifo) {
    m_block_files.make_fifo(path);
    in.child_fd = null_input();
    in.feeder = std::make_unique<StdinFeeder>(m_reactor, path, item.block, item.block_queue);
    return in;
  }
  Pipe pipe = make_feed_pipe();
  if (item.block_queue || item.block->header_size() + item.block->body_size() > k_pipe_full) {
    // A large block goes through a 1 MiB pipe with 16 times fewer wake-ups on both sides.
    ::fcntl(pipe.write.get(), F_SETPIPE_SZ, 1 << 20);
  }
  in.child_fd = pipe.read.get();
  in.child = std::move(pipe.read);
  in.feeder = std::make_unique<StdinFeeder>(m_reactor, std::move(pipe.write), item.block,
                                            item.block_queue);
  return in;
}

void LocalExecutor::launch(Slot& slot, Item item)
{
  bool has_block = item.block || item.block_queue;
  bool named = has_block && m_config.block_input != BlockInput::pipe;
  std::string block_path;
  try {
    block_path = named ? m_block_files.path(item.seq) : std::string();
  } catch (const Error& e) {
    fail_to_start(slot, std::move(item), 126, e.what());
    return;
  }
  // --cat and --fifo: {} is the block's path.
  Item shown;
  if (named) {
    shown.seq = item.seq;
    shown.args.assign(1, block_path);
  }
  const Item& rendered = named ? shown : item;
  if (m_config.dry_run) {
    pretend(slot, rendered);
    return;
  }
  if (auto why = prepare_launch(m_launch_builder, rendered, slot.number, m_launch)) {
    fail_to_start(slot, std::move(item), 126, *why);
    return;
  }
  ItemDir dir;
  try {
    dir = m_work_dirs.for_item(RenderContext{rendered.args, item.seq, slot.number});
  } catch (const Error& e) {
    fail_to_start(slot, std::move(item), 126, e.what());
    return;
  }
  if (m_config.verbose) {
    announce(rendered, slot.number);
  }
  BlockStdin in;
  if (has_block) {
    try {
      in = block_stdin(item, block_path);
    } catch (const Error& e) {
      fail_to_start(slot, std::move(item), 126, e.what());
      return;
    }
  }
  bool direct = m_config.direct_out >= 0;
  Pipe out = direct ? Pipe{} : make_pipe();
  Pipe err = direct ? Pipe{} : make_pipe();
  Spawner::Stdio stdio{direct ? m_config.direct_out : out.write.get(),
                       direct ? m_config.direct_err : err.write.get(), in.child_fd};
  Spawned child = m_spawner.spawn(m_launch.argv, m_env, m_launch.env, stdio, dir.path());
  in.child.reset(); // the child's end: kept open here, it would hide the child's exit (EPIPE)
  if (child.pid < 0) {
    if (!block_path.empty()) {
      m_block_files.remove(block_path);
    }
    fail_to_start(slot, std::move(item), child.exit_code, child.message);
    return;
  }
  if (m_nice != 0) {
    // The whole group, in case the item started children already; best effort (a lower
    // niceness needs privileges).
    ::setpriority(PRIO_PGRP, static_cast<id_t>(child.pid), m_nice);
  }
  watch(slot, std::move(item), child.pid, out, err, std::move(dir));
  Running& running = *slot.running;
  running.block_path = std::move(block_path);
  running.feeder = std::move(in.feeder);
  if (running.feeder) {
    running.feeder->start();
  }
}

void LocalExecutor::pretend(Slot& slot, const Item& item)
{
  m_events.emplace_back(ItemStarted{item.seq, slot.number, {}, 0, 0});
  std::string line = m_launch_builder.display(item, slot.number) + "\n";
  m_listener.on_output(item.seq, Stream::out, line);
  ItemEnded end;
  end.seq = item.seq;
  end.slot = slot.number;
  end.started = std::chrono::system_clock::now();
  m_events.emplace_back(std::move(end));
}

void LocalExecutor::watch(Slot& slot, Item item, pid_t pid, Pipe& out, Pipe& err, ItemDir dir)
{
  auto r = std::make_unique<Running>();
  r->owner = this;
  r->slot = &slot;
  r->item = std::move(item);
  r->pid = pid;
  r->t0 = Clock::now();
  r->started = std::chrono::system_clock::now();
  r->exit_watch.r = r.get();
  r->work_dir = std::move(dir);
  // The write ends close here, in the parent, so that EOF arrives when the child's side closes.
  out.write.reset();
  err.write.reset();
  for (auto [s, pipe] : {std::pair{Stream::out, &out}, std::pair{Stream::err, &err}}) {
    if (!pipe->read) {
      continue; // -u: the item writes straight to parmap's stdout and stderr
    }
    auto& p = r->pipe(s);
    p.fd = std::move(pipe->read);
    p.watch.r = r.get();
    p.watch.stream = s;
    m_reactor.add(p.fd.get(), EPOLLIN, &p.watch);
  }
  Running& ref = *r;
  if (m_use_pidfd) {
    ref.pidfd = open_pidfd(ref.pid);
  }
  if (ref.pidfd) {
    m_reactor.add(ref.pidfd.get(), EPOLLIN, &ref.exit_watch);
  } else {
    schedule_exit_poll(ref);
  }
  if (ref.item.timeout > 0) {
    ref.deadline = m_reactor.at(ref.t0 + to_duration(ref.item.timeout), [this, &ref] {
      ref.deadline = 0;
      ref.timed_out = true;
      signal_group(ref, SIGTERM);
      arm_kill(ref);
    });
  }
  slot.running = std::move(r);
  m_events.emplace_back(ItemStarted{ref.item.seq, slot.number, {}, ref.pid, 0});
}

void LocalExecutor::announce(const Item& item, unsigned slot)
{
  std::string line = m_launch_builder.display(item, slot) + "\n";
  if (m_config.direct_out < 0) {
    m_listener.on_output(item.seq, Stream::out, line);
    return;
  }
  try {
    write_all(m_config.direct_out, line, "stdout");
  } catch (const Error&) {
    // The item writes to the same place and meets the same error: its result tells.
  }
}

void LocalExecutor::schedule_exit_poll(Running& r)
{
  r.exit_poll = m_reactor.at(Clock::now() + std::chrono::milliseconds(5), [this, &r] {
    r.exit_poll = 0;
    on_exit(r);
    if (!r.exited) {
      schedule_exit_poll(r);
    }
  });
}

void LocalExecutor::signal_group(Running& r, int signal)
{
  // Safe while the item is not finished: its leader is unreaped (alive or a zombie), so the
  // group id still names this group and no other.
  if (r.pid > 0) {
    ::kill(-r.pid, signal);
  }
}

void LocalExecutor::arm_kill(Running& r)
{
  if (r.kill_timer != 0) {
    return;
  }
  r.kill_timer = m_reactor.at(Clock::now() + to_duration(m_config.kill_grace), [this, &r] {
    r.kill_timer = 0;
    signal_group(r, SIGKILL);
  });
}

void LocalExecutor::read_pipe(Running& r, Stream stream)
{
  auto& pipe = r.pipe(stream);
  Fd& fd = pipe.fd;
  for (int round = 0; fd && round < 8; ++round) {
    long took = m_listener.take_from_pipe(r.item.seq, stream, fd.get());
    if (took > 0) {
      if (took >= k_pipe_full) {
        grow_pipe(r, stream);
      }
      continue;
    }
    if (took == 0) {
      close_pipe(r, stream);
      maybe_finish(r);
      return;
    }
    if (!m_read_buf) {
      m_read_buf.reset(new char[k_read_size]);
    }
    ssize_t n = retry_eintr([&] { return ::read(fd.get(), m_read_buf.get(), k_read_size); });
    if (n > 0) {
      if (n >= k_pipe_full) {
        grow_pipe(r, stream);
      }
      bool more = m_listener.on_output(
          r.item.seq, stream, std::string_view(m_read_buf.get(), static_cast<std::size_t>(n)));
      if (!more) {
        pipe.paused = true;
        m_reactor.modify(fd.get(), 0, &pipe.watch);
        return;
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    }
    close_pipe(r, stream); // EOF, or an error that ends the stream all the same
    maybe_finish(r);
    return;
  }
}

void LocalExecutor::grow_pipe(Running& r, Stream stream)
{
  // An item that fills the pipe faster than it is drained writes a lot: a 1 MiB pipe (Linux's
  // default limit for unprivileged users) costs it and parmap 16 times fewer wake-ups.
  auto& pipe = r.pipe(stream);
  if (!pipe.grown) {
    pipe.grown = true;
    ::fcntl(pipe.fd.get(), F_SETPIPE_SZ, 1 << 20);
  }
}

void LocalExecutor::close_pipe(Running& r, Stream stream)
{
  auto& pipe = r.pipe(stream);
  if (pipe.fd) {
    // Removed before close(): another thread's spawn may hold a copy of the descriptor, and
    // then close() alone would leave it in the epoll set.
    m_reactor.remove(pipe.fd.get(), &pipe.watch);
    pipe.fd.reset();
  }
}

void LocalExecutor::resume_output(std::uint64_t seq)
{
  for (auto& slot : m_slots) {
    Running* r = slot.running.get();
    if (r == nullptr || r->item.seq != seq) {
      continue;
    }
    for (auto& pipe : r->pipes) {
      if (pipe.paused && pipe.fd) {
        pipe.paused = false;
        m_reactor.modify(pipe.fd.get(), EPOLLIN, &pipe.watch);
      }
    }
  }
}

void LocalExecutor::on_exit(Running& r)
{
  if (r.exited) {
    return;
  }
  siginfo_t info{};
  // WNOWAIT: learn the status but leave the zombie, which keeps the group id reserved.
  int rc = retry_eintr([&] { return ::waitid(P_PID, static_cast<id_t>(r.pid), &info, WEXITED | WNOHANG | WNOWAIT); });
  if (rc < 0 || info.si_pid == 0) {
    return;
  }
  r.exited = true;
  r.wait_code = info.si_code;
  r.wait_status = info.si_status;
  if (r.pidfd) {
    m_reactor.remove(r.pidfd.get(), &r.exit_watch);
    r.pidfd.reset();
  }
  maybe_finish(r);
}

void LocalExecutor::maybe_finish(Running& r)
{
  if (!r.exited || r.finished) {
    return;
  }
  if (r.pipes_open()) {
    // The process is gone but something it started still holds a pipe. Give it a moment to
    // finish writing, then stop listening instead of waiting for it indefinitely.
    if (r.linger == 0) {
      r.linger = m_reactor.at(Clock::now() + to_duration(m_config.linger), [this, &r] {
        r.linger = 0;
        for (Stream s : {Stream::out, Stream::err}) {
          if (r.pipe(s).fd && !r.pipe(s).paused) {
            read_pipe(r, s);
          }
          close_pipe(r, s);
        }
        finish(r);
      });
    }
    return;
  }
  finish(r);
}

void LocalExecutor::finish(Running& r)
{
  if (r.finished) {
    return;
  }
  r.finished = true;
  for (auto* timer : {&r.deadline, &r.linger, &r.exit_poll}) {
    if (*timer != 0) {
      m_reactor.cancel(*timer);
      *timer = 0;
    }
  }
  close_pipe(r, Stream::out);
  close_pipe(r, Stream::err);
  r.feeder.reset(); // whatever it had not written, nobody will read now
  if (!r.block_path.empty()) {
    m_block_files.remove(r.block_path);
  }
  // No pidfd is left to close: only an exited item finishes, and on_exit() closed it.
  ItemEnded end;
  end.seq = r.item.seq;
  end.slot = r.slot->number;
  end.started = r.started;
  end.duration = Seconds(Clock::now() - r.t0).count();
  end.interrupted = r.interrupted;
  if (r.wait_code == CLD_EXITED) {
    end.exit_code = r.wait_status;
    end.status = r.wait_status == 0 ? Status::ok : Status::failed;
  } else {
    end.signal = r.wait_status;
    end.exit_code = 128 + r.wait_status;
    end.status = Status::signaled;
  }
  if (r.timed_out) {
    end.status = Status::timeout;
    end.exit_code = 124;
  }
  if (r.kill_timer != 0) {
    // The group was told to terminate and its grace has not run out: keep the leader unreaped
    // (reserving the group id) until then, so that members ignoring SIGTERM still get SIGKILL.
    Clock::time_point kill_at = *m_reactor.due(r.kill_timer);
    m_reactor.cancel(r.kill_timer);
    r.kill_timer = 0;
    pid_t pid = r.pid;
    m_doomed[pid] = m_reactor.at(kill_at, [this, pid] {
      m_doomed.erase(pid);
      kill_and_reap(pid);
    });
  } else {
    reap(r.pid);
  }
  r.pid = -1;
  m_events.emplace_back(std::move(end));
  Slot& slot = *r.slot;
  m_dead.push_back(std::move(slot.running));
  start_next(slot);
}

void LocalExecutor::drop(Slot& slot, Item item)
{
  ItemEnded end;
  end.seq = item.seq;
  end.slot = slot.number;
  end.interrupted = true;
  m_events.emplace_back(std::move(end));
}

void LocalExecutor::cancel(std::uint64_t from_seq, int signal)
{
  m_cancel_from = std::min(m_cancel_from, from_seq);
  for (auto& slot : m_slots) {
    while (!slot.queue.empty() && slot.queue.back().seq >= from_seq) {
      drop(slot, std::move(slot.queue.back()));
      slot.queue.pop_back();
    }
    Running* r = slot.running.get();
    if (r != nullptr && r->item.seq >= from_seq && signal != 0) {
      if (!r->exited) {
        r->interrupted = true; // one that exited on its own before this is a real result
      }
      signal_group(*r, signal);
      arm_kill(*r);
    }
    if (slot.delayed != 0 && !slot.running) {
      m_reactor.cancel(slot.delayed);
      slot.delayed = 0;
    }
    if (!slot.running) {
      start_next(slot); // drops what is cancelled and frees the slot if nothing is left
    }
  }
}

void LocalExecutor::kill_all()
{
  m_cancel_from = 0;
  for (auto& slot : m_slots) {
    if (Running* r = slot.running.get()) {
      if (!r->exited) {
        r->interrupted = true;
      }
      signal_group(*r, SIGKILL);
    }
  }
}

void LocalExecutor::stop_all()
{
  signal_running(SIGSTOP);
}

void LocalExecutor::continue_all()
{
  signal_running(SIGCONT);
}

void LocalExecutor::signal_running(int signal)
{
  for (auto& slot : m_slots) {
    if (Running* r = slot.running.get()) {
      signal_group(*r, signal);
    }
  }
  for (const auto& [pid, timer] : m_doomed) {
    ::kill(-pid, signal); // finished items whose group is in its grace: the leader is unreaped
  }
}

void LocalExecutor::wait(std::optional<Clock::time_point> until, std::vector<ExecutorEvent>& events)
{
  if (m_events.empty()) {
    m_reactor.run_once(until);
  }
  m_dead.clear();
  for (auto& e : m_events) {
    events.push_back(std::move(e));
  }
  m_events.clear();
}

} // namespace parmap
