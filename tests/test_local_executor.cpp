// LocalExecutor with real processes: statuses, exit codes, output capture, timeouts that kill
// whole process groups, cancel, fd-limit sizing, many jobs.
#include "exec/local/local_executor.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <map>
#include <sys/resource.h>

using namespace parmap;

namespace {

struct Collect final : OutputListener {
  std::map<std::uint64_t, std::string> out, err;
  bool on_output(std::uint64_t seq, Stream stream, std::string_view bytes) override
  {
    (stream == Stream::out ? out : err)[seq].append(bytes);
    return true;
  }
};

/// Runs `items` through a LocalExecutor, one batch per slot round-robin, and returns the ends.
struct Harness {
  Reactor reactor;
  Collect collect;
  CommandTemplate command;
  TemplateLaunch launch{command};
  LocalExecutor executor;
  std::map<std::uint64_t, ItemEnded> ended;
  std::vector<unsigned> freed;

  Harness(std::vector<std::string> words, unsigned slots = 2, double grace = 1.0)
      : command(std::move(words), Shell::automatic),
        executor(reactor, launch, collect, config(slots, grace))
  {
  }
  static LocalExecutorConfig config(unsigned slots, double grace)
  {
    LocalExecutorConfig c;
    c.slots = slots;
    c.kill_grace = grace;
    c.null_stdin = true;
    return c;
  }
  void pump(double max_seconds = 20)
  {
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(max_seconds));
    std::vector<ExecutorEvent> events;
    while (executor.running() > 0 && Clock::now() < deadline) {
      executor.wait(deadline, events);
    }
    executor.wait(Clock::now(), events); // what was queued without a wait
    for (auto& e : events) {
      if (auto* end = std::get_if<ItemEnded>(&e)) {
        ended[end->seq] = *end;
      } else if (auto* free = std::get_if<SlotFree>(&e)) {
        freed.push_back(free->slot);
      }
    }
  }
  void run(unsigned slot, std::vector<std::pair<std::string, double>> items, std::uint64_t first = 1)
  {
    Batch batch;
    std::uint64_t seq = first;
    for (auto& [text, timeout] : items) {
      batch.items.push_back(Item{seq++, {text}, 0, timeout});
    }
    executor.start(slot, std::move(batch));
  }
};

bool alive(pid_t pid)
{
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return false;
  }
  auto close = line.rfind(')');
  return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
}

bool gone_soon(pid_t pid)
{
  for (int i = 0; i < 250 && alive(pid); ++i) {
    usleep(20000);
  }
  return !alive(pid);
}

std::vector<pid_t> read_pids(const std::filesystem::path& file)
{
  std::ifstream in(file);
  std::vector<pid_t> pids;
  pid_t p = 0;
  while (in >> p) {
    pids.push_back(p);
  }
  return pids;
}

} // namespace

TEST_CASE("local executor: exit statuses, signals and output")
{
  Harness h({"sh", "-c", "echo out $1; echo err $1 >&2; case $1 in 3) exit 3;; k) kill -9 $$;; esac",
             "sh"},
            1);
  h.run(1, {{"0", 0}, {"3", 0}, {"k", 0}});
  h.pump();
  REQUIRE(h.ended.size() == 3);
  CHECK(h.ended[1].status == Status::ok);
  CHECK(h.ended[1].exit_code == 0);
  CHECK(h.ended[2].status == Status::failed);
  CHECK(h.ended[2].exit_code == 3);
  CHECK(h.ended[3].status == Status::signaled);
  CHECK(h.ended[3].signal == SIGKILL);
  CHECK(h.ended[3].exit_code == 128 + SIGKILL);
  CHECK(h.collect.out[1] == "out 0\n");
  CHECK(h.collect.err[2] == "err 3\n");
  CHECK(h.freed == std::vector<unsigned>{1});
  // Items of a batch run one after another on their slot.
  CHECK(h.ended[1].slot == 1);
  CHECK(h.ended[3].slot == 1);
}

TEST_CASE("local executor: a command that cannot start")
{
  SUBCASE("not found is 127")
  {
    Harness h({"parmap-no-such-command-xyz"}, 1);
    h.run(1, {{"a", 0}, {"b", 0}});
    h.pump();
    REQUIRE(h.ended.size() == 2);
    CHECK(h.ended[1].status == Status::failed);
    CHECK(h.ended[1].exit_code == 127);
    CHECK(h.collect.err[1].find("command not found") != std::string::npos);
  }
  SUBCASE("a directory is 126")
  {
    Harness h({"/"}, 1);
    h.run(1, {{"a", 0}});
    h.pump();
    CHECK(h.ended[1].exit_code == 126);
  }
  SUBCASE("a NUL byte or an item over the argument limit is 126")
  {
    Harness h({"echo"}, 1);
    Batch batch;
    batch.items.push_back(Item{1, {std::string("a\0b", 3)}, 0, 0});
    batch.items.push_back(Item{2, {std::string(10, 'x')}, 200000, 0});
    h.executor.start(1, std::move(batch));
    h.pump();
    CHECK(h.ended[1].exit_code == 126);
    CHECK(h.collect.err[1].find("NUL") != std::string::npos);
    CHECK(h.ended[2].exit_code == 126);
    CHECK(h.collect.err[2].find("200000") != std::string::npos);
  }
}

TEST_CASE("local executor: children read /dev/null and get PARMAP_SEQ, PARMAP_SLOT")
{
  Harness h({"sh", "-c", "cat; echo $PARMAP_SEQ/$PARMAP_SLOT"}, 2);
  h.run(2, {{"a", 0}}, 7);
  h.pump();
  CHECK(h.collect.out[7] == "7/2\n");
}

TEST_CASE("local executor: a timeout kills the whole process group")
{
  auto dir = test::scratch("timeout");
  auto pids = dir / "pids";
  Harness h({"sh", "-c", "sleep 100 & echo $! >> $1; sleep 100 & echo $! >> $1; echo $$ >> $1; wait",
             "sh"},
            1, 0.5);
  auto t0 = Clock::now();
  h.run(1, {{pids.string(), 0.3}});
  h.pump();
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  REQUIRE(h.ended.count(1) == 1);
  CHECK(h.ended[1].status == Status::timeout);
  CHECK(h.ended[1].exit_code == 124);
  CHECK(took < 5);
  auto all = read_pids(pids);
  CHECK(all.size() == 3);
  for (pid_t p : all) {
    CAPTURE(p);
    CHECK(gone_soon(p));
  }
}

TEST_CASE("local executor: SIGTERM ignored means SIGKILL after the grace")
{
  auto dir = test::scratch("grace");
  auto pids = dir / "pids";
  Harness h({"sh", "-c", "trap '' TERM; sleep 100 & echo $! >> $1; sleep 100", "sh"}, 1, 0.3);
  auto t0 = Clock::now();
  h.run(1, {{pids.string(), 0.2}});
  h.pump();
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  CHECK(h.ended[1].status == Status::timeout);
  CHECK(took >= 0.45);
  CHECK(took < 5);
  for (pid_t p : read_pids(pids)) {
    CHECK(gone_soon(p));
  }
}

TEST_CASE("local executor: a background process holding the pipe is given up on")
{
  auto dir = test::scratch("linger");
  auto pids = dir / "pids";
  Harness h({"sh", "-c", "echo first; sleep 30 & echo $! > $1; echo last", "sh"}, 1);
  auto t0 = Clock::now();
  h.run(1, {{pids.string(), 0}});
  h.pump();
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  CHECK(h.ended[1].status == Status::ok);
  CHECK(h.collect.out[1] == "first\nlast\n");
  CHECK(took < 3);
  // Not killed: it left the item's group only in the sense that parmap stopped listening.
  auto bg = read_pids(pids);
  REQUIRE(bg.size() == 1);
  CHECK(alive(bg[0]));
  ::kill(bg[0], SIGKILL);
}

TEST_CASE("local executor: cancel drops queued items and interrupts running ones")
{
  Harness h({"sleep"}, 2, 0.5);
  h.run(1, {{"30", 0}, {"30", 0}});
  h.run(2, {{"30", 0}}, 3);
  std::vector<ExecutorEvent> events;
  h.executor.wait(Clock::now(), events);
  h.executor.cancel(2, SIGTERM); // item 1 keeps running; 2 (queued) and 3 (running) go
  h.pump(1.0);
  CHECK(h.ended.count(1) == 0);
  REQUIRE(h.ended.count(2) == 1);
  CHECK(h.ended[2].interrupted);
  REQUIRE(h.ended.count(3) == 1);
  CHECK(h.ended[3].interrupted);
  h.executor.kill_all();
  h.pump();
  REQUIRE(h.ended.count(1) == 1);
  CHECK(h.ended[1].interrupted);
  CHECK(h.executor.running() == 0);
}

TEST_CASE("local executor: cancel without a signal lets running items finish")
{
  Harness h({"sh", "-c", "sleep 0.2; echo done"}, 1);
  h.run(1, {{"a", 0}, {"b", 0}});
  std::vector<ExecutorEvent> events;
  h.executor.wait(Clock::now(), events);
  h.executor.cancel(0, 0);
  h.pump();
  CHECK_FALSE(h.ended[1].interrupted);
  CHECK(h.ended[1].status == Status::ok);
  CHECK(h.ended[2].interrupted); // queued: dropped
}

TEST_CASE("local executor: -j is limited by the open-file limit")
{
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(LocalExecutor::fd_limited_slots(4) == 4);
  // A much lower limit can no longer hold three descriptors per job for 500 jobs.
  rlimit low = saved;
  low.rlim_cur = 64;
  if (setrlimit(RLIMIT_NOFILE, &low) == 0 && saved.rlim_max == 64) {
    unsigned fit = LocalExecutor::fd_limited_slots(500);
    CHECK(fit < 20);
    CHECK(fit >= 1);
  }
  setrlimit(RLIMIT_NOFILE, &saved);
}

TEST_CASE("local executor: a thousand jobs, every output whole")
{
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 256) {
    MESSAGE("skipped: ulimit -n is below 256");
    return;
  }
  Harness h({"echo"}, 4);
  const std::uint64_t n = 1000;
  // Each slot gets 250 consecutive seqs.
  for (unsigned s = 0; s < 4; ++s) {
    std::vector<std::pair<std::string, double>> items;
    for (std::uint64_t i = 0; i < 250; ++i) {
      std::uint64_t seq = s * 250 + i + 1;
      items.push_back({"item" + std::to_string(seq), 0});
    }
    h.run(s + 1, items, s * 250 + 1);
  }
  h.pump(120);
  REQUIRE(h.ended.size() == n);
  for (std::uint64_t seq = 1; seq <= n; ++seq) {
    CHECK(h.collect.out[seq] == "item" + std::to_string(seq) + "\n");
    CHECK(h.ended[seq].status == Status::ok);
  }
}
