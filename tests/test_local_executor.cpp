// LocalExecutor with real processes: statuses, exit codes, output capture, timeouts that kill
// whole process groups, cancel, fd-limit sizing, many jobs.
#include "base/signals.hpp"
#include "exec/local/local_executor.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <sys/resource.h>

using namespace parmap;

namespace {

/// A one-argument item by its fields (Item grows fields other tests need not name); `full_size`
/// above the text's size means it was cut.
Item make_item(std::uint64_t seq, std::string text, std::uint64_t full_size, double timeout = 0)
{
  Item item;
  item.seq = seq;
  item.oversize = full_size > text.size() ? full_size : 0;
  item.args.assign(1, std::move(text));
  item.timeout = timeout;
  return item;
}

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

  /// `blocks`: the items are blocks, reaching their process this way (as the engine sets it
  /// up, no item is appended to a command that gets its block on stdin).
  Harness(std::vector<std::string> words,
          unsigned slots = 2,
          double grace = 1.0,
          std::optional<BlockInput> blocks = std::nullopt)
      : command(std::move(words), template_options(blocks)),
        executor(reactor, launch, collect, config(slots, grace, blocks))
  {
  }
  static TemplateOptions template_options(std::optional<BlockInput> blocks)
  {
    TemplateOptions t;
    t.append_args = blocks != BlockInput::pipe;
    return t;
  }
  static LocalExecutorConfig config(unsigned slots, double grace, std::optional<BlockInput> blocks)
  {
    LocalExecutorConfig c;
    c.slots = slots;
    c.kill_grace = grace;
    c.null_stdin = true;
    c.block_input = blocks.value_or(BlockInput::pipe);
    c.temp_dir = test::scratch("block-files").string();
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
      batch.items.push_back(make_item(seq++, text, text.size(), timeout));
    }
    executor.start(slot, std::move(batch));
  }
  /// Starts one item per block (or per queue), consecutive seqs from 1, on slot 1.
  void run_blocks(std::vector<std::shared_ptr<const Block>> blocks,
                  std::shared_ptr<BlockQueue> queue = nullptr, unsigned items = 0)
  {
    Batch batch;
    for (std::size_t i = 0; i < std::max<std::size_t>(blocks.size(), items); ++i) {
      Item item; // a block has no arguments
      item.seq = i + 1;
      item.block = i < blocks.size() ? blocks[i] : nullptr;
      item.block_queue = queue;
      batch.items.push_back(std::move(item));
    }
    executor.start(1, std::move(batch));
  }
};

std::shared_ptr<const Block> bytes_block(std::string body, std::string header = "")
{
  auto b = std::make_shared<Block>();
  b->bytes = std::move(body);
  if (!header.empty()) {
    b->header = std::make_shared<const std::string>(std::move(header));
  }
  return b;
}

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
    batch.items.push_back(make_item(1, std::string("a\0b", 3), 3));
    batch.items.push_back(make_item(2, std::string(10, 'x'), 200000));
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

TEST_CASE("local executor: a block goes to the item's stdin, header first")
{
  SigpipeGuard sigpipe; // a reader that leaves makes EPIPE, not a dead test
  SUBCASE("from memory")
  {
    Harness h({"cat"}, 1, 1.0, BlockInput::pipe);
    h.run_blocks({bytes_block("1\n2\n", "h\n")});
    h.pump();
    CHECK(h.ended[1].status == Status::ok);
    CHECK(h.collect.out[1] == "h\n1\n2\n");
  }
  SUBCASE("larger than any pipe, byte for byte")
  {
    std::string big = test::pattern(3 << 20, 7);
    Harness h({"sh", "-c", "cat | cksum"}, 1, 1.0, BlockInput::pipe);
    h.run_blocks({bytes_block(big)});
    Harness c({"sh", "-c", "cksum < \"$1\"", "sh"}, 1);
    auto dir = test::scratch("cksum");
    std::ofstream(dir / "f", std::ios::binary) << big;
    c.run(1, {{(dir / "f").string(), 0}});
    h.pump();
    c.pump();
    CHECK(h.collect.out[1] == c.collect.out[1]);
  }
  SUBCASE("a range of a file, spliced")
  {
    auto dir = test::scratch("span");
    std::string content = test::pattern(2 << 20, 3);
    std::ofstream(dir / "f", std::ios::binary) << content;
    auto file = std::make_shared<const Fd>(::open((dir / "f").c_str(), O_RDONLY | O_CLOEXEC));
    auto b = std::make_shared<Block>();
    b->header = std::make_shared<const std::string>("head\n");
    b->span = FileSpan{file, "f", 100, (1 << 20) + 5};
    Harness h({"cat"}, 1, 1.0, BlockInput::pipe);
    h.run_blocks({b});
    h.pump();
    CHECK(h.collect.out[1] == "head\n" + content.substr(100, (1 << 20) + 5));
  }
}

TEST_CASE("local executor: an item that leaves its stdin unread ends all the same")
{
  SigpipeGuard sigpipe;
  std::string big(4 << 20, 'x');
  SUBCASE("exits without reading: its own status counts")
  {
    Harness h({"true"}, 1, 1.0, BlockInput::pipe);
    h.run_blocks({bytes_block(big), bytes_block(big)});
    h.pump();
    CHECK(h.ended[1].status == Status::ok);
    CHECK(h.ended[2].status == Status::ok);
  }
  SUBCASE("reads a little and exits")
  {
    Harness h({"head", "-c", "3"}, 1, 1.0, BlockInput::pipe);
    h.run_blocks({bytes_block(big)});
    h.pump();
    CHECK(h.ended[1].status == Status::ok);
    CHECK(h.collect.out[1] == "xxx");
  }
  SUBCASE("neither reads nor exits: its timeout still works")
  {
    Harness h({"sleep", "30"}, 1, 0.2, BlockInput::pipe);
    Batch batch;
    Item item = make_item(1, "", 0, 0.3);
    item.block = bytes_block(big);
    batch.items.push_back(std::move(item));
    auto t0 = Clock::now();
    h.executor.start(1, std::move(batch));
    h.pump();
    CHECK(h.ended[1].status == Status::timeout);
    CHECK(std::chrono::duration<double>(Clock::now() - t0).count() < 5);
  }
}

TEST_CASE("local executor: --cat and --fifo give the block a path, removed after the item")
{
  SigpipeGuard sigpipe;
  SUBCASE("--cat: a file, stdin is /dev/null")
  {
    Harness h({"sh", "-c", "cat; cat \"$1\"; echo \"$1\"", "sh"}, 1, 1.0, BlockInput::file);
    h.run_blocks({bytes_block("1\n", "h\n")});
    h.pump();
    std::string out = h.collect.out[1];
    REQUIRE(out.starts_with("h\n1\n"));
    std::string path = out.substr(4, out.size() - 5);
    CHECK(path.find("parmap-blocks.") != std::string::npos);
    CHECK(::access(path.c_str(), F_OK) != 0);
  }
  SUBCASE("--cat: {} appended when the command names none")
  {
    Harness h({"wc", "-l"}, 1, 1.0, BlockInput::file);
    h.run_blocks({bytes_block("1\n2\n")});
    h.pump();
    CHECK(h.collect.out[1].starts_with("2 /"));
  }
  SUBCASE("--fifo: read through a named pipe")
  {
    Harness h({"sh", "-c", "cat \"$1\" | wc -c", "sh"}, 1, 1.0, BlockInput::fifo);
    h.run_blocks({bytes_block(std::string(3 << 20, 'y'), "h\n")});
    h.pump();
    CHECK(h.collect.out[1].find(std::to_string((3 << 20) + 2)) != std::string::npos);
  }
  SUBCASE("--fifo never opened: no hang")
  {
    Harness h({"echo"}, 1, 1.0, BlockInput::fifo);
    h.run_blocks({bytes_block("data\n")});
    h.pump();
    CHECK(h.ended[1].status == Status::ok);
    std::string path = h.collect.out[1].substr(0, h.collect.out[1].size() - 1);
    CHECK(::access(path.c_str(), F_OK) != 0);
  }
}

TEST_CASE("local executor: --round-robin items read blocks from a shared queue")
{
  SigpipeGuard sigpipe;
  auto queue = std::make_shared<BlockQueue>();
  Harness h({"sh", "-c", "cat; echo ="}, 2, 1.0, BlockInput::pipe);
  Batch second;
  Item other = make_item(2, "", 0);
  other.block_queue = queue;
  second.items.push_back(std::move(other));
  h.run_blocks({}, queue, 1);
  h.executor.start(2, std::move(second));
  std::string all;
  for (int i = 0; i < 20; ++i) {
    std::string body = std::to_string(i) + "\n";
    all += body;
    queue->push(bytes_block(body, "h\n"), true);
    std::vector<ExecutorEvent> events;
    h.executor.wait(Clock::now(), events);
  }
  queue->close();
  h.pump();
  // Each job got the header once, then whole blocks; together every block exactly once.
  std::string got;
  for (std::uint64_t seq : {1, 2}) {
    std::string out = h.collect.out[seq];
    if (out == "=\n") {
      continue; // this job got no block: the other was always ready first
    }
    REQUIRE(out.starts_with("h\n"));
    REQUIRE(out.ends_with("=\n"));
    got += out.substr(2, out.size() - 4);
  }
  std::vector<std::string> want_lines, got_lines;
  for (std::string* s : {&all, &got}) {
    std::istringstream in(*s);
    auto& v = s == &all ? want_lines : got_lines;
    for (std::string line; std::getline(in, line);) {
      v.push_back(line);
    }
    std::sort(v.begin(), v.end());
  }
  CHECK(got_lines == want_lines);
}

TEST_CASE("local executor: stop_all() stops every item's group, continue_all() continues it")
{
  auto dir = test::scratch("le-stop");
  auto pids = dir / "pids";
  Harness h({"sh", "-c", "sleep 0.3 & echo $! >> '" + pids.string() + "'; echo $$ >> '" +
                             pids.string() + "'; wait"});
  h.run(1, {{"a", 0}});
  h.run(2, {{"b", 0}}, 2);
  for (int i = 0; i < 500 && read_pids(pids).size() < 4; ++i) {
    usleep(10000);
  }
  REQUIRE(read_pids(pids).size() == 4);
  h.executor.stop_all();
  auto state = [](pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    return line.substr(line.rfind(')') + 2, 1);
  };
  for (pid_t pid : read_pids(pids)) {
    for (int i = 0; i < 200 && state(pid) != "T"; ++i) {
      usleep(10000);
    }
    CHECK(state(pid) == "T");
  }
  usleep(500000); // longer than the items' work: stopped, they do not end
  std::vector<ExecutorEvent> events;
  h.executor.wait(Clock::now(), events);
  CHECK(h.executor.running() == 2);
  h.executor.continue_all();
  h.pump();
  CHECK(h.ended.size() == 2);
  CHECK(h.ended[1].status == Status::ok);
  CHECK(h.ended[2].status == Status::ok);
}
