// The public API (parmap/parmap.hpp) with real processes: imap ordering and streaming, Result
// fields, fail-fast and keep-going, timeouts, early abandon, map, map_async, imap_async,
// checkpoint and resume, option validation, forwarding, Items::from_range, large outputs.
// Only the public headers are used, plus the scratch directory from support.hpp.
#include "parmap/parmap.hpp"
#include "parmap/report.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <ranges>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

using namespace parmap;
using parmap::test::scratch;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0)
{
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string slurp(const fs::path& path)
{
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const fs::path& path)
{
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

/// Single-quoted for sh (scratch paths have no quotes, but be safe).
std::string sh_quote(const std::string& s)
{
  std::string q = "'";
  for (char c : s) {
    q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return q + "'";
}

/// Polls `done` every 20 ms for up to `limit` seconds.
template <class F>
bool wait_until(F done, double limit = 10)
{
  auto t0 = Clock::now();
  while (!done()) {
    if (seconds_since(t0) > limit) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

/// A process that exists and is not a zombie (an orphaned grandchild may linger as a zombie
/// until init reaps it: it is dead all the same).
bool alive(pid_t pid)
{
  if (::kill(pid, 0) != 0) {
    return false;
  }
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'Z';
}

std::vector<pid_t> pids_in(const fs::path& path)
{
  std::vector<pid_t> pids;
  for (const auto& line : lines_of(path)) {
    if (!line.empty()) {
      pids.push_back(static_cast<pid_t>(std::stol(line)));
    }
  }
  return pids;
}

/// Every pid listed in `path` is gone (waiting a little: the kernel may lag behind).
bool all_dead(const fs::path& path)
{
  auto pids = pids_in(path);
  return !pids.empty() &&
         wait_until([&] { return std::none_of(pids.begin(), pids.end(), alive); }, 5);
}

/// A shell fragment that records its shell's pid and a background sleep's pid in `pidfile`,
/// then waits for the sleep: the item runs for `secs` seconds in two processes.
std::string long_running(const fs::path& pidfile, int secs = 30)
{
  return "echo $$ >> " + sh_quote(pidfile) + "; sleep " + std::to_string(secs) + " & echo $! >> " +
         sh_quote(pidfile) + "; wait";
}

std::vector<std::string> numbers(int from, int to)
{
  std::vector<std::string> items;
  for (int i = from; i <= to; ++i) {
    items.push_back(std::to_string(i));
  }
  return items;
}

std::vector<std::uint64_t> seqs_of(const std::vector<Result>& results)
{
  std::vector<std::uint64_t> seqs;
  for (const auto& r : results) {
    seqs.push_back(r.seq);
  }
  return seqs;
}

std::vector<std::string> items_of(const std::vector<Result>& results)
{
  std::vector<std::string> items;
  for (const auto& r : results) {
    items.push_back(r.item);
  }
  return items;
}

Options jobs(std::size_t n)
{
  Options o;
  o.jobs = n;
  return o;
}

/// Fills a file descriptor of a fresh temporary file, for Options::forward and write_to.
struct TempFile {
  fs::path path;
  int fd = -1;
  explicit TempFile(const fs::path& p) : path(p)
  {
    fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
  }
  ~TempFile()
  {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

} // namespace

// --- ordering and streaming ----------------------------------------------------------------

TEST_CASE("api: imap yields results in input order although they finish in reverse")
{
  // The first item runs longest: they finish 4, 3, 2, 1.
  Command cmd{"sh", "-c", "sleep \"$1\"; echo \"$1\"", "sh"}; // the item is appended as $1
  std::vector<Result> results;
  for (const Result& r : imap(cmd, {"0.9", "0.6", "0.3", "0"}, jobs(4))) {
    results.push_back(r);
  }
  CHECK(seqs_of(results) == std::vector<std::uint64_t>{1, 2, 3, 4});
  CHECK(items_of(results) == std::vector<std::string>{"0.9", "0.6", "0.3", "0"});
  for (const auto& r : results) {
    CHECK(r.out.str() == r.item + "\n");
  }
  // They really did finish in reverse: item 1 ended after item 4.
  auto end_of = [](const Result& r) {
    return r.started + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           std::chrono::duration<double>(r.duration));
  };
  CHECK(end_of(results[0]) > end_of(results[3]));
}

TEST_CASE("api: as-ready order follows completion")
{
  Options o = jobs(4);
  o.order = Order::as_ready;
  std::vector<Result> results;
  for (const Result& r : imap({"sleep {}; echo {}"}, {"0.9", "0.6", "0.3", "0"}, o)) {
    results.push_back(r);
  }
  CHECK(seqs_of(results) == std::vector<std::uint64_t>{4, 3, 2, 1});
  CHECK(items_of(results) == std::vector<std::string>{"0", "0.3", "0.6", "0.9"});
}

static_assert(std::input_iterator<Results::iterator>);
static_assert(std::ranges::input_range<Results>);

TEST_CASE("api: Results composes with std::views")
{
  Results results = imap({"echo"}, Items(numbers(1, 10)), jobs(2));
  std::vector<std::string> evens;
  auto even = [](const Result& r) { return r.seq % 2 == 0; };
  for (const Result& r : results | std::views::filter(even) | std::views::take(3)) {
    evens.push_back(r.out.str());
  }
  CHECK(evens == std::vector<std::string>{"2\n", "4\n", "6\n"});
}

TEST_CASE("api: imap is lazy: nothing runs before begin()")
{
  auto dir = scratch("api-lazy");
  auto mark = dir / "mark";
  Results results = imap({"touch " + sh_quote(mark) + "; : {}"}, {"x"}, jobs(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK_FALSE(fs::exists(mark));
  CHECK(results.summary().counts.finished == 0);
  std::size_t n = 0;
  for (const Result& r : results) {
    CHECK(r.ok());
    ++n;
  }
  CHECK(n == 1);
  CHECK(fs::exists(mark));
  CHECK(results.summary().counts.finished == 1);
  CHECK(results.summary().exit_status() == 0);
}

TEST_CASE("api: results arrive while the input is still being written")
{
  // A writer thread writes the first item, then waits until the first result has arrived
  // before it writes the second one: the run must not wait for the end of the input.
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::mutex m;
  std::condition_variable cv;
  bool got_first = false;
  bool first_before_second = false;
  std::thread writer([&] {
    std::string first = "first\n";
    CHECK(::write(fds[1], first.data(), first.size()) == static_cast<ssize_t>(first.size()));
    {
      std::unique_lock lock(m);
      first_before_second = cv.wait_for(lock, std::chrono::seconds(15), [&] { return got_first; });
    }
    std::string second = "second\n";
    CHECK(::write(fds[1], second.data(), second.size()) == static_cast<ssize_t>(second.size()));
    ::close(fds[1]);
  });
  std::vector<std::string> seen;
  for (const Result& r : imap({"echo"}, Items::from_fd(fds[0], '\n', "pipe"), jobs(2))) {
    seen.push_back(r.out.str());
    std::lock_guard lock(m);
    got_first = true;
    cv.notify_all();
  }
  writer.join();
  ::close(fds[0]);
  CHECK(first_before_second);
  CHECK(seen == std::vector<std::string>{"first\n", "second\n"});
}

TEST_CASE("api: a long generated input is pulled only as far as the run needs")
{
  std::atomic<std::uint64_t> pulled{0};
  const std::uint64_t total = 100000;
  auto gen = [&]() -> std::optional<std::string> {
    if (pulled == total) {
      return std::nullopt;
    }
    return std::to_string(++pulled);
  };
  Options o = jobs(2);
  o.max_pending = 4;

  SUBCASE("finite, with a known count: the first result comes long before the end")
  {
    std::uint64_t pulled_at_first = 0;
    std::size_t taken = 0;
    for (const Result& r : imap({"echo"}, Items::generate(gen, total), o)) {
      if (taken == 0) {
        pulled_at_first = pulled;
        CHECK(r.seq == 1);
        CHECK(r.out.str() == "1\n");
      }
      if (++taken == 20) {
        break;
      }
    }
    CHECK(pulled_at_first > 0);
    CHECK(pulled_at_first < 20);
    CHECK(pulled < 60); // bounded by max_pending, not by the input's length
  }
  SUBCASE("endless: results flow and memory stays flat")
  {
    std::uint64_t n = 0;
    auto endless = [&]() -> std::optional<std::string> { return std::to_string(++n); };
    std::size_t taken = 0;
    std::uint64_t last = 0;
    Results results = imap({"echo"}, Items::generate(endless), o);
    for (const Result& r : results) {
      CHECK(r.seq == last + 1);
      last = r.seq;
      CHECK(n < r.seq + 40); // read ahead by at most about max_pending batches
      if (++taken == 50) {
        break;
      }
    }
    CHECK(taken == 50);
    CHECK_FALSE(results.summary().counts.known_total);
  }
}

// --- Result fields --------------------------------------------------------------------------

TEST_CASE("api: Result fields of successful and failed items")
{
  Options o = jobs(2);
  o.halt = Halt::keep_going();
  o.record_command = true;
  auto t0 = std::chrono::system_clock::now();
  auto results = map({"echo out {} $PARMAP_SEQ $PARMAP_SLOT; echo err {} >&2; [ {} = good ]"},
                     {"good", "bad"}, o);
  REQUIRE(results.size() == 2);
  const Result& good = results[0];
  const Result& bad = results[1];

  CHECK(good.seq == 1);
  CHECK(good.item == "good");
  CHECK(good.status == Status::ok);
  CHECK(good.ok());
  CHECK(good.exit_code == 0);
  CHECK(good.signal == 0);
  CHECK(good.out.str() == "out good 1 " + std::to_string(good.slot) + "\n");
  CHECK(good.err.str() == "err good\n");
  CHECK(good.out.kept());
  CHECK(good.out.size() == good.out.str().size());
  CHECK(good.attempts == 1);
  CHECK_FALSE(good.replayed);
  CHECK(good.slot >= 1);
  CHECK(good.slot <= 2);
  CHECK(good.duration > 0);
  CHECK(good.duration < 10);
  CHECK(good.started >= t0 - std::chrono::seconds(1));
  CHECK(good.started <= std::chrono::system_clock::now());
  CHECK(good.command.find("good") != std::string::npos);

  CHECK(bad.seq == 2);
  CHECK(bad.item == "bad");
  CHECK(bad.status == Status::failed);
  CHECK_FALSE(bad.ok());
  CHECK(bad.exit_code == 1);
  CHECK(bad.signal == 0);
  CHECK(bad.out.str() == "out bad 2 " + std::to_string(bad.slot) + "\n");
  CHECK(bad.err.str() == "err bad\n");
  CHECK(std::string(to_string(bad.status)) == "failed");
}

TEST_CASE("api: killed by a signal, command not found, retries")
{
  Options o = jobs(2);
  o.halt = Halt::keep_going();

  SUBCASE("signaled")
  {
    auto results = map({"kill -9 $$; : {}"}, {"x"}, o);
    REQUIRE(results.size() == 1);
    CHECK(results[0].status == Status::signaled);
    CHECK(results[0].signal == SIGKILL);
    CHECK(results[0].exit_code == 128 + SIGKILL);
  }
  SUBCASE("command not found is exit 127 with a message on stderr")
  {
    auto results = map({"parmap-no-such-command-xyz"}, {"x"}, o);
    REQUIRE(results.size() == 1);
    CHECK(results[0].status == Status::failed);
    CHECK(results[0].exit_code == 127);
    CHECK(results[0].err.str().find("not found") != std::string::npos);
  }
  SUBCASE("a retried item keeps only its last attempt")
  {
    auto dir = scratch("api-retry");
    o.retries = 2;
    auto results = map({"if [ -e {} ]; then echo second; else touch {}; echo first; exit 3; fi"},
                       {(dir / "marker").string()}, o);
    REQUIRE(results.size() == 1);
    CHECK(results[0].ok());
    CHECK(results[0].attempts == 2);
    CHECK(results[0].out.str() == "second\n");
  }
}

// --- failures -------------------------------------------------------------------------------

TEST_CASE("api: fail-fast throws ItemFailed after exactly the results before it")
{
  auto dir = scratch("api-failfast");
  auto pids = dir / "pids";
  // 3 and 4 are slow, so 5 fails while they still run; 6 to 8 would run for 30 s.
  std::string script = "case {} in 3|4) sleep 0.5;; 5) sleep 0.2; echo boom >&2; exit 7;; "
                       "6|7|8) " + long_running(pids) + ";; esac; echo {}";
  auto t0 = Clock::now();
  Results results = imap({script}, Items(numbers(1, 8)), jobs(4));
  std::vector<Result> before;
  std::optional<Result> failed;
  std::string message;
  try {
    for (const Result& r : results) {
      before.push_back(r);
    }
  } catch (const ItemFailed& e) {
    failed = e.result();
    message = e.what();
  }
  CHECK(seconds_since(t0) < 10);
  CHECK(seqs_of(before) == std::vector<std::uint64_t>{1, 2, 3, 4});
  for (const auto& r : before) {
    CHECK(r.ok());
    CHECK(r.out.str() == r.item + "\n");
  }
  REQUIRE(failed.has_value());
  CHECK(failed->seq == 5);
  CHECK(failed->item == "5");
  CHECK(failed->status == Status::failed);
  CHECK(failed->exit_code == 7);
  CHECK(failed->err.str() == "boom\n");
  CHECK(message.find("5") != std::string::npos);
  CHECK(message.find("exit status 7") != std::string::npos);

  Summary s = results.summary();
  CHECK(s.halted);
  CHECK(s.stop_result.seq == 5);
  CHECK(s.exit_status() == 7);
  // Item 6 started with 5 (after 1 and 2) and was killed; 7 and 8 never started.
  CHECK(pids_in(pids).size() == 2);
  CHECK(all_dead(pids));
}

TEST_CASE("api: fail-fast in as-ready order throws ItemFailed too")
{
  Options o = jobs(3);
  o.order = Order::as_ready;
  std::vector<std::string> seen;
  try {
    for (const Result& r : imap({"[ {} != 2 ] || exit 9; echo {}"}, Items(numbers(1, 3)), o)) {
      seen.push_back(r.item);
    }
    FAIL("no ItemFailed");
  } catch (const ItemFailed& e) {
    CHECK(e.result().item == "2");
    CHECK(e.result().exit_code == 9);
  }
  CHECK(std::find(seen.begin(), seen.end(), "2") == seen.end());
}

TEST_CASE("api: keep-going gives failures as results and the run completes")
{
  Options o = jobs(3);
  o.halt = Halt::keep_going();
  Results results = imap({"echo {}; [ $(( {} % 2 )) = 0 ] || exit {}"}, Items(numbers(1, 6)), o);
  std::vector<Result> all;
  for (const Result& r : results) {
    all.push_back(r);
  }
  REQUIRE(all.size() == 6);
  for (const auto& r : all) {
    int n = std::stoi(r.item);
    CHECK(r.ok() == (n % 2 == 0));
    CHECK(r.exit_code == (n % 2 == 0 ? 0 : n));
    CHECK(r.out.str() == r.item + "\n");
  }
  Summary s = results.summary();
  CHECK_FALSE(s.halted);
  CHECK(s.counts.finished == 6);
  CHECK(s.counts.failed == 3);
  CHECK(s.exit_status() == 3);
}

TEST_CASE("api: a timeout kills the item's processes and gives status timeout, exit 124")
{
  auto dir = scratch("api-timeout");
  auto pids = dir / "pids";
  Options o = jobs(1);
  o.timeout = 0.5;
  o.kill_grace = 0.5;

  SUBCASE("keep-going: a result")
  {
    o.halt = Halt::keep_going();
    auto t0 = Clock::now();
    auto results = map({long_running(pids)}, {"x"}, o);
    CHECK(seconds_since(t0) < 10);
    REQUIRE(results.size() == 1);
    CHECK(results[0].status == Status::timeout);
    CHECK(results[0].exit_code == 124);
    CHECK(results[0].duration >= 0.4);
    CHECK(results[0].duration < 5);
    CHECK(std::string(to_string(results[0].status)) == "timeout");
    CHECK(pids_in(pids).size() == 2); // the shell and its background sleep
    CHECK(all_dead(pids));
  }
  SUBCASE("fail-fast: ItemFailed")
  {
    try {
      map({long_running(pids)}, {"x"}, o);
      FAIL("no ItemFailed");
    } catch (const ItemFailed& e) {
      CHECK(e.result().status == Status::timeout);
      CHECK(e.result().exit_code == 124);
      CHECK(std::string(e.what()).find("timed out") != std::string::npos);
    }
    CHECK(all_dead(pids));
  }
}

// --- early abandon --------------------------------------------------------------------------

TEST_CASE("api: breaking out of imap stops the run promptly and kills its processes")
{
  auto dir = scratch("api-abandon");
  auto pids = dir / "pids";
  // Item 1 ends at once; 2 to 4 run for 30 s, each as a shell and a background sleep.
  std::string script = "[ {} = 1 ] || { " + long_running(pids) + "; }; echo {}";
  double after_break = 0;
  {
    Clock::time_point broke;
    for (const Result& r : imap({script}, Items(numbers(1, 6)), jobs(4))) {
      CHECK(r.item == "1");
      // Wait until the three long items have started, so that there is something to kill.
      REQUIRE(wait_until([&] { return pids_in(pids).size() == 6; }));
      broke = Clock::now();
      break;
    }
    after_break = seconds_since(broke);
  }
  CHECK(after_break < 5); // SIGTERM, not the 30 s sleeps
  CHECK(pids_in(pids).size() == 6);
  CHECK(all_dead(pids));
}

TEST_CASE("api: destroying an unstarted or half-read Results is quiet")
{
  auto dir = scratch("api-abandon2");
  auto mark = dir / "mark";
  {
    Results unused = imap({"touch " + sh_quote(mark) + "; : {}"}, {"x"}, jobs(1));
  }
  CHECK_FALSE(fs::exists(mark));
  {
    Results moved_from = imap({"echo"}, Items(numbers(1, 3)), jobs(1));
    Results moved_to = std::move(moved_from);
    auto it = moved_to.begin();
    CHECK(it->item == "1");
  }
}

// --- map, map_async, imap_async -----------------------------------------------------------

TEST_CASE("api: map returns every result in order, or throws ItemFailed")
{
  auto all = map({"echo"}, Items(numbers(1, 20)), jobs(4));
  REQUIRE(all.size() == 20);
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].seq == i + 1);
    CHECK(all[i].out.str() == std::to_string(i + 1) + "\n");
  }
  CHECK_THROWS_AS(map({"[ {} != 3 ]"}, Items(numbers(1, 5)), jobs(2)), ItemFailed);
  CHECK(map({"echo"}, Items{}, jobs(2)).empty());
}

TEST_CASE("api: map_async gives the results through a future, and its failure too")
{
  SUBCASE("results")
  {
    auto fut = map_async({"sleep 0.3; echo {}"}, Items(numbers(1, 4)), jobs(4));
    // It runs on its own thread: the caller is not blocked.
    CHECK(fut.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
    auto results = fut.get();
    REQUIRE(results.size() == 4);
    CHECK(items_of(results) == numbers(1, 4));
    CHECK(results[3].out.str() == "4\n");
  }
  SUBCASE("a failing run: the future throws ItemFailed (not an empty result)")
  {
    auto fut = map_async({"echo {}; [ {} != 2 ] || { echo nope >&2; exit 5; }"},
                         Items(numbers(1, 3)), jobs(1));
    try {
      fut.get();
      FAIL("no exception from the future");
    } catch (const ItemFailed& e) {
      CHECK(e.result().item == "2");
      CHECK(e.result().exit_code == 5);
      CHECK(e.result().err.str() == "nope\n");
    }
  }
  SUBCASE("two runs at once, one per thread")
  {
    auto a = map_async({"echo a{}"}, Items(numbers(1, 30)), jobs(3));
    auto b = map_async({"echo b{}"}, Items(numbers(1, 30)), jobs(3));
    auto ra = a.get();
    auto rb = b.get();
    REQUIRE(ra.size() == 30);
    REQUIRE(rb.size() == 30);
    for (std::size_t i = 0; i < 30; ++i) {
      CHECK(ra[i].out.str() == "a" + std::to_string(i + 1) + "\n");
      CHECK(rb[i].out.str() == "b" + std::to_string(i + 1) + "\n");
    }
  }
}

TEST_CASE("api: imap_async calls back per result on the run's thread; the future gives Summary")
{
  std::vector<std::string> seen;
  std::set<std::thread::id> threads;
  Options o = jobs(3);
  o.halt = Halt::keep_going();
  auto fut = imap_async({"echo {}; [ {} != 4 ]"}, Items(numbers(1, 6)), o, [&](const Result& r) {
    seen.push_back(r.out.str()); // one thread calls back: no lock needed
    threads.insert(std::this_thread::get_id());
  });
  Summary s = fut.get();
  CHECK(seen == std::vector<std::string>{"1\n", "2\n", "3\n", "4\n", "5\n", "6\n"});
  CHECK(threads.size() == 1);
  CHECK(threads.count(std::this_thread::get_id()) == 0);
  CHECK(s.counts.finished == 6);
  CHECK(s.counts.failed == 1);
  CHECK(s.exit_status() == 1);
  CHECK_FALSE(s.halted);
}

TEST_CASE("api: imap_async: a failure in fail-fast mode reaches the future as ItemFailed")
{
  std::vector<std::string> seen;
  auto fut = imap_async({"[ {} != 3 ] || exit 4"}, Items(numbers(1, 5)), jobs(1),
                        [&](const Result& r) { seen.push_back(r.item); });
  try {
    fut.get();
    FAIL("no exception from the future");
  } catch (const ItemFailed& e) {
    CHECK(e.result().item == "3");
    CHECK(e.result().exit_code == 4);
  }
  CHECK(seen == std::vector<std::string>{"1", "2"});
}

TEST_CASE("api: imap_async: an exception from the callback stops the run and reaches the future")
{
  auto dir = scratch("api-callback-throws");
  auto pids = dir / "pids";
  std::string script = "[ {} = 1 ] || { " + long_running(pids) + "; }; echo {}";
  struct Stop : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  auto t0 = Clock::now();
  auto fut = imap_async({script}, Items(numbers(1, 4)), jobs(4), [&](const Result& r) {
    CHECK(r.item == "1");
    REQUIRE(wait_until([&] { return pids_in(pids).size() == 6; }));
    throw Stop("enough");
  });
  CHECK_THROWS_WITH_AS(fut.get(), "enough", Stop);
  CHECK(seconds_since(t0) < 15);
  CHECK(all_dead(pids));
}

TEST_CASE("api: imap_async without a callback just runs")
{
  auto fut = imap_async({"true {}"}, Items(numbers(1, 3)), jobs(2), nullptr);
  CHECK(fut.get().counts.finished == 3);
}

// --- checkpoint and resume -----------------------------------------------------------------

TEST_CASE("api: a checkpointed run is replayed on resume; only new items run")
{
  auto dir = scratch("api-checkpoint");
  auto log = dir / "ran";
  Command cmd{"echo {} >> " + sh_quote(log) + "; echo out-{}; echo err-{} >&2"};
  Options o = jobs(2);
  o.checkpoint = (dir / "ck.db").string();

  auto first = map(cmd, {"a", "b", "c"}, o);
  REQUIRE(first.size() == 3);
  for (const auto& r : first) {
    CHECK_FALSE(r.replayed);
  }
  auto report = read_report(o.checkpoint);
  CHECK(report.total == 3);
  CHECK(report.ok == 3);

  // Same checkpoint without resume: refused, nothing overwritten.
  CHECK_THROWS_AS(map(cmd, {"a"}, o), Error);

  o.resume = true;
  auto second = map(cmd, {"a", "b", "c", "d", "e"}, o);
  REQUIRE(second.size() == 5);
  CHECK(items_of(second) == std::vector<std::string>{"a", "b", "c", "d", "e"});
  for (const auto& r : second) {
    bool old = r.item < "d";
    CHECK(r.replayed == old);
    CHECK(r.out.str() == "out-" + r.item + "\n"); // stored output comes back
    CHECK(r.err.str() == "err-" + r.item + "\n");
    CHECK(r.ok());
    if (old) {
      CHECK(r.slot == 0);
    } else {
      CHECK(r.slot >= 1);
    }
  }
  // The side effects: each item ran exactly once over the two runs.
  auto ran = lines_of(log);
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(read_report(o.checkpoint).total == 5);
}

TEST_CASE("api: checkpoint: a yielded result is recorded once the caller asks for the next")
{
  auto dir = scratch("api-checkpoint-consumed");
  auto log = dir / "ran";
  Command cmd{"echo {} >> " + sh_quote(log) + "; echo {}"};
  Options o = jobs(1);
  o.checkpoint = (dir / "ck.db").string();
  for (const Result& r : imap(cmd, {"a", "b", "c"}, o)) {
    if (r.item == "b") {
      break; // "a" was consumed (we asked for "b"); "b" was yielded but not consumed
    }
  }
  CHECK(read_report(o.checkpoint).total == 1);

  o.resume = true;
  std::vector<std::pair<std::string, bool>> second;
  for (const Result& r : imap(cmd, {"a", "b", "c"}, o)) {
    second.emplace_back(r.item, r.replayed);
  }
  CHECK(second == std::vector<std::pair<std::string, bool>>{{"a", true}, {"b", false}, {"c", false}});
  // At least once: "b" (and maybe "c") ran twice, "a" once.
  auto ran = lines_of(log);
  CHECK(std::count(ran.begin(), ran.end(), "a") == 1);
  CHECK(std::count(ran.begin(), ran.end(), "b") == 2);
}

/// Item 3 fails until the file `fixed` exists; every run of an item appends it to `ran`.
Command fails_at_3(const fs::path& dir)
{
  return {"echo {} >> " + sh_quote(dir / "ran") + "; [ {} != 3 ] || [ -e " +
          sh_quote(dir / "fixed") + " ]"};
}

TEST_CASE("api: checkpoint: resume with retry_failed after a fail-fast run finishes the rest")
{
  auto dir = scratch("api-checkpoint-fail");
  Options o = jobs(1);
  o.checkpoint = (dir / "ck.db").string();
  CHECK_THROWS_AS(map(fails_at_3(dir), Items(numbers(1, 5)), o), ItemFailed);
  CHECK(read_report(o.checkpoint).ok == 2); // what was delivered before the failure

  o.resume = true;
  o.retry_failed = true;
  std::ofstream(dir / "fixed").put('\n');
  auto results = map(fails_at_3(dir), Items(numbers(1, 5)), o);
  REQUIRE(results.size() == 5);
  CHECK(results[0].replayed);
  CHECK(results[1].replayed);
  CHECK_FALSE(results[2].replayed);
  CHECK(results[2].ok());
  CHECK(lines_of(dir / "ran") == std::vector<std::string>{"1", "2", "3", "3", "4", "5"});
}

// The failed item that ends a fail-fast run is thrown as ItemFailed, and recorded all the same,
// so that a resume replays it as a failure and finishes the rest (as the CLI does).
TEST_CASE("api: checkpoint: the failure that stopped a run is recorded and replayed")
{
  auto dir = scratch("api-checkpoint-fail-recorded");
  Options o = jobs(1);
  o.checkpoint = (dir / "ck.db").string();
  CHECK_THROWS_AS(map(fails_at_3(dir), Items(numbers(1, 5)), o), ItemFailed);
  auto report = read_report(o.checkpoint);
  CHECK(report.ok == 2);
  CHECK(report.failed == 1);

  // The stored failure is replayed as a failure and does not stop the resumed run.
  o.resume = true;
  std::vector<Result> results;
  CHECK_NOTHROW(results = map(fails_at_3(dir), Items(numbers(1, 5)), o));
  REQUIRE(results.size() == 5);
  CHECK(results[2].replayed);
  CHECK(results[2].status == Status::failed);
  CHECK(lines_of(dir / "ran") == numbers(1, 5)); // each item ran once
}

TEST_CASE("api: handle_signals: SIGINT stops the run with Interrupted, kills items, commits")
{
  auto dir = scratch("api-interrupted");
  auto pids = dir / "pids";
  auto go = dir / "go";
  // Item 1 ends at once; the others run for 30 s until `go` exists (the resumed run).
  Command cmd{"[ {} = 1 ] || [ -e " + sh_quote(go) + " ] || { " + long_running(pids) +
              "; }; echo {}"};
  Options o = jobs(3);
  o.handle_signals = true;
  o.kill_grace = 0.5; // background jobs of sh ignore SIGINT: they need the SIGKILL
  o.checkpoint = (dir / "ck.db").string();

  struct sigaction before {};
  ::sigaction(SIGINT, nullptr, &before);
  std::vector<std::string> seen;
  auto t0 = Clock::now();
  try {
    for (const Result& r : imap(cmd, Items(numbers(1, 3)), o)) {
      seen.push_back(r.item);
      REQUIRE(wait_until([&] { return pids_in(pids).size() == 4; }));
      ::raise(SIGINT); // as if the user pressed Ctrl-C
    }
    FAIL("no Interrupted");
  } catch (const Interrupted& e) {
    CHECK(e.signal() == SIGINT);
  }
  CHECK(seconds_since(t0) < 15);
  CHECK(seen == std::vector<std::string>{"1"});
  CHECK(all_dead(pids));
  struct sigaction after {};
  ::sigaction(SIGINT, nullptr, &after);
  CHECK((after.sa_handler == before.sa_handler)); // the caller's handler is back

  // The consumed item was committed; killed items were not recorded and run again.
  CHECK(read_report(o.checkpoint).total == 1);
  std::ofstream(go).put('\n');
  o.resume = true;
  auto results = map(cmd, Items(numbers(1, 3)), o);
  REQUIRE(results.size() == 3);
  CHECK(results[0].replayed);
  CHECK_FALSE(results[1].replayed);
  CHECK_FALSE(results[2].replayed);
}

TEST_CASE("api: items started from the main thread get SIGTERM when the process dies")
{
  // PR_SET_PDEATHSIG fires when the thread that started a child ends: only the main thread,
  // which ends with the process, asks for it. The item reports what it got (PR_GET_PDEATHSIG).
  Command cmd{"python3", "-c",
              "import ctypes; s = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(s)); "
              "print(s.value, end='')"};
  auto on_main = map(cmd, {"x"}, jobs(1));
  CHECK(on_main.at(0).out.str() == std::to_string(SIGTERM));
  auto elsewhere = map_async(cmd, {"x"}, jobs(1)).get();
  CHECK(elsewhere.at(0).out.str() == "0");
}

TEST_CASE("api: only one run at a time may handle signals")
{
  Options o = jobs(1);
  o.handle_signals = true;
  Results first = imap({"echo"}, {"x"}, o);
  CHECK_THROWS_AS(imap({"echo"}, {"y"}, o), Error);
  o.handle_signals = false;
  CHECK(map({"echo"}, {"z"}, o).size() == 1); // runs that do not handle signals are fine
}

// --- options --------------------------------------------------------------------------------

TEST_CASE("api: invalid options throw parmap::Error before anything runs")
{
  auto dir = scratch("api-invalid");
  auto mark = dir / "mark";
  Command cmd{"touch " + sh_quote(mark) + "; : {}"};
  std::uint64_t pulled = 0;
  auto counted = [&] {
    return Items::generate([&]() -> std::optional<std::string> {
      ++pulled;
      return std::nullopt;
    });
  };
  Options o = jobs(1);
  SUBCASE("batch_size 0") { o.batch_size = 0; }
  SUBCASE("resume without checkpoint") { o.resume = true; }
  SUBCASE("retry_failed without resume") { o.retry_failed = true; }
  SUBCASE("checkpoint_every 0") { o.checkpoint_every = 0; }
  SUBCASE("negative timeout") { o.timeout = -1; }
  SUBCASE("dry_run with a checkpoint")
  {
    o.dry_run = true;
    o.checkpoint = (dir / "ck.db").string();
  }
  CHECK_THROWS_AS(imap(cmd, counted(), o), Error);
  CHECK_THROWS_AS(map(cmd, counted(), o), Error);
  auto fut = map_async(cmd, counted(), o);
  CHECK_THROWS_AS(fut.get(), Error);
  auto fut2 = imap_async(cmd, counted(), o, [](const Result&) {});
  CHECK_THROWS_AS(fut2.get(), Error);
  CHECK(pulled == 0);
  CHECK_FALSE(fs::exists(mark));
  CHECK_FALSE(fs::exists(dir / "ck.db"));
}

TEST_CASE("api: an empty command is refused")
{
  CHECK_THROWS_AS(imap({}, {"x"}), Error);
}

TEST_CASE("api: Options::forward writes outputs to descriptors, in input order")
{
  auto dir = scratch("api-forward");
  TempFile out(dir / "out");
  TempFile err(dir / "err");
  Options o = jobs(3);
  o.forward.stdout_fd = out.fd;
  o.forward.stderr_fd = err.fd;

  SUBCASE("raw")
  {
    auto results = map({"sleep {}; echo {}; echo e{} >&2"}, {"0.6", "0.3", "0"}, o);
    REQUIRE(results.size() == 3);
    for (const auto& r : results) {
      CHECK(r.out.size() == r.item.size() + 1); // the size is always known
      // Forwarded output may be retained or not (an item whose output went straight through
      // is not): kept() tells.
      CHECK(r.out.str() == (r.out.kept() ? r.item + "\n" : std::string()));
    }
    CHECK(slurp(out.path) == "0.6\n0.3\n0\n");
    CHECK(slurp(err.path) == "e0.6\ne0.3\ne0\n");
  }
  SUBCASE("tag")
  {
    o.forward.format = Format::tag;
    map({"echo x; echo y; : {}"}, {"a", "b"}, o);
    CHECK(slurp(out.path) == "a\tx\na\ty\nb\tx\nb\ty\n");
  }
  SUBCASE("json")
  {
    o.forward.format = Format::json;
    map({"echo {}"}, {"a", "b"}, o);
    auto lines = lines_of(out.path);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].find("\"seq\":1") != std::string::npos);
    CHECK(lines[0].find("\"stdout\":\"a\\n\"") != std::string::npos);
    CHECK(lines[1].find("\"item\":\"b\"") != std::string::npos);
  }
}

// SIGPIPE is ignored process-wide while any forwarding run goes on: when two runs overlap, the
// first to end must not restore SIG_DFL under the other. Run in a forked child, so that a
// SIGPIPE would not take the test binary down.
TEST_CASE("api: two forwarding runs at once: a closed output is EPIPE, not a SIGPIPE death")
{
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int code = 1;
    try {
      int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      // Run A ignores SIGPIPE from 0 to about 0.3 s, then restores what it found.
      std::thread a([&] {
        Options o = jobs(1);
        o.forward.stdout_fd = devnull;
        map({"sleep 0.3; echo a"}, {"x"}, o);
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      // Run B writes at about 0.8 s to a pipe whose reader is gone.
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) == 0) {
        ::close(fds[0]);
        Options o = jobs(1);
        o.forward.stdout_fd = fds[1];
        Results results = imap({"sleep 0.8; echo b"}, {"y"}, o);
        for (const Result& r : results) {
          (void)r;
        }
        code = results.summary().output_closed ? 0 : 2;
      }
      a.join();
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK_FALSE(WIFSIGNALED(status)); // fails today: killed by SIGPIPE
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

// --- Items ----------------------------------------------------------------------------------

TEST_CASE("api: Items::blocks: blocks on the commands' stdin; one left unread is no SIGPIPE death")
{
  pid_t child = ::fork(); // a SIGPIPE would kill the process: let it be another one
  REQUIRE(child >= 0);
  if (child == 0) {
    int code = 1;
    try {
      auto dir = scratch("api-blocks");
      std::ofstream(dir / "in") << std::string(4 << 20, 'x') + "\n" + "a\nb\nc\n";
      int fd = ::open((dir / "in").c_str(), O_RDONLY | O_CLOEXEC);
      BlockFormat format;
      format.records = 1;
      // Block 1 is a 4 MB line its command never reads; the others are one line each.
      auto results = map({"sh", "-c", "[ $PARMAP_SEQ = 1 ] && exit; cat"},
                         Items::blocks(fd, format), jobs(1));
      code = results.size() == 4 && results[3].out.str() == "c\n" ? 0 : 2;
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK_FALSE(WIFSIGNALED(status));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("api: Items::from_range over containers and views")
{
  Options o = jobs(2);
  auto outputs = [](const std::vector<Result>& results) {
    std::vector<std::string> v;
    for (const auto& r : results) {
      v.push_back(r.out.str());
    }
    return v;
  };

  SUBCASE("an lvalue vector (referenced)")
  {
    std::vector<std::string> v{"x", "y", "z"};
    Results results = imap({"echo"}, Items::from_range(v), o);
    std::vector<Result> all;
    for (const Result& r : results) {
      all.push_back(r);
    }
    CHECK(outputs(all) == std::vector<std::string>{"x\n", "y\n", "z\n"});
    CHECK(results.summary().counts.known_total);
    CHECK(results.summary().counts.total == 3);
  }
  SUBCASE("an rvalue vector of const char* (moved in)")
  {
    auto all = map({"echo"}, Items::from_range(std::vector<const char*>{"p", "q"}), o);
    CHECK(outputs(all) == std::vector<std::string>{"p\n", "q\n"});
  }
  SUBCASE("iota | transform")
  {
    auto view = std::views::iota(1, 6) |
                std::views::transform([](int i) { return "n" + std::to_string(i * i); });
    auto all = map({"echo"}, Items::from_range(view), o);
    CHECK(outputs(all) == std::vector<std::string>{"n1\n", "n4\n", "n9\n", "n16\n", "n25\n"});
  }
  SUBCASE("an unbounded iota | transform | take")
  {
    auto view = std::views::iota(10) | std::views::transform([](int i) { return std::to_string(i); }) |
                std::views::take(3);
    auto all = map({"echo"}, Items::from_range(std::move(view)), o);
    CHECK(outputs(all) == std::vector<std::string>{"10\n", "11\n", "12\n"});
  }
  SUBCASE("sources appended in order: a list, a file, a range")
  {
    auto dir = scratch("api-items");
    std::ofstream(dir / "list") << "f1\nf2\n";
    Items items{"a"};
    items.append(Items::from_file((dir / "list").string()));
    items.append(Items::from_range(std::vector<std::string>{"r"}));
    auto all = map({"echo"}, std::move(items), o);
    CHECK(outputs(all) == std::vector<std::string>{"a\n", "f1\n", "f2\n", "r\n"});
    CHECK_THROWS_AS(Items::from_file((dir / "missing").string()), Error);
  }
}

// --- large outputs --------------------------------------------------------------------------

TEST_CASE("api: a large output is complete, by str(), chunks, tail and write_to")
{
  auto dir = scratch("api-large");
  auto expected = [](int n) {
    std::string s;
    for (int i = 1; i <= n; ++i) {
      s += std::to_string(i);
      s += '\n';
    }
    return s;
  };
  // About 4 and 5 MB, two at once.
  auto results = map({"seq 1 {}"}, {"600000", "700000"}, jobs(2));
  REQUIRE(results.size() == 2);
  for (const auto& r : results) {
    std::string want = expected(std::stoi(r.item));
    CHECK(r.out.size() == want.size());
    CHECK(r.out.kept());
    CHECK(r.out.str() == want);
    CHECK(r.out.tail(7) == r.item + "\n");

    std::string joined;
    std::size_t biggest = 0;
    r.out.for_each_chunk([&](std::string_view piece) {
      biggest = std::max(biggest, piece.size());
      joined.append(piece);
    });
    CHECK(joined == want);
    CHECK(biggest <= 64 * 1024);

    TempFile copy(dir / ("copy" + r.item));
    r.out.write_to(copy.fd);
    CHECK(slurp(copy.path) == want);
  }
}

TEST_CASE("api: version and to_string")
{
  CHECK(std::string(version()).find('.') != std::string::npos);
  CHECK(std::string(to_string(Status::ok)) == "ok");
  CHECK(std::string(to_string(Status::signaled)) == "signaled");
}

TEST_CASE("api: Summary::exit_status follows GNU parallel's rules for each halt")
{
  auto summary = [](Halt halt, std::uint64_t failed, std::uint64_t total) {
    Summary s;
    s.halt = halt;
    s.counts.failed = failed;
    s.counts.finished = total;
    s.counts.total = total;
    return s;
  };
  // Not halted: the failures (101 for more than 100), or their percentage, rounded up.
  CHECK(summary(Halt::keep_going(), 0, 10).exit_status() == 0);
  CHECK(summary(Halt::keep_going(), 4, 10).exit_status() == 4);
  CHECK(summary(Halt::keep_going(), 250, 300).exit_status() == 101);
  CHECK(summary(Halt{Halt::When::now, Halt::On::fail, 90, true}, 4, 10).exit_status() == 40);
  CHECK(summary(Halt{Halt::When::now, Halt::On::fail, 90, true}, 1, 3).exit_status() == 34);
  // Halted on failures: one failure gives the item's status; more, their number.
  Summary s = summary(Halt::fail_fast(), 1, 10);
  s.halted = true;
  s.stop_result.status = Status::failed;
  s.stop_result.exit_code = 7;
  s.failed_at_halt = 1;
  CHECK(s.exit_status() == 7);
  s.stop_result.status = Status::timeout;
  s.stop_result.exit_code = 124;
  CHECK(s.exit_status() == 124);
  s.halt.threshold = 3;
  s.failed_at_halt = 3;
  CHECK(s.exit_status() == 3);
  s.halt.percent = true;
  s.halt.threshold = 20;
  s.failed_at_halt = 2;
  CHECK(s.exit_status() == 20);
  // Halted on successes: 0; on done=1: the item's status.
  s.halt = Halt{Halt::When::now, Halt::On::success, 2, false};
  CHECK(s.exit_status() == 0);
  s.halt = Halt{Halt::When::now, Halt::On::done, 1, false};
  s.stop_result.status = Status::ok;
  s.stop_result.exit_code = 0;
  CHECK(s.exit_status() == 0);
}
