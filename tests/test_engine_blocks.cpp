// The engine with blocks of input (--pipe), driven by FakeExecutor: a block stays with its item
// until its result is final, retries get the same block, the checkpoint keys blocks by ordinal
// and hash, and the options that cannot work with blocks are refused.
#include "support.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

using namespace parmap;
using parmap::test::FakeExecutor;
using parmap::test::FakeRun;

namespace {

/// Blocks of `content` (from a file, as stdin redirected from one), 4 bytes each.
Items blocks_of(const std::string& content, std::vector<Fd>& keep)
{
  auto dir = test::scratch("blocks");
  std::ofstream(dir / "in", std::ios::binary) << content;
  keep.emplace_back(::open((dir / "in").c_str(), O_RDONLY | O_CLOEXEC));
  BlockFormat format;
  format.size = 4;
  return Items::blocks(keep.back().get(), format);
}

/// Finishes the oldest running item, its output its block's body.
void echo_block(FakeExecutor& f)
{
  auto seqs = f.running_seqs();
  if (!seqs.empty()) {
    auto block = f.blocks[seqs.front()].back().lock();
    f.finish(seqs.front(), Status::ok, 0, block ? block->bytes : "?");
  }
}

} // namespace

TEST_CASE("engine blocks: each item gets its block, and lets go of it once final")
{
  std::vector<Fd> fds;
  Options o;
  o.jobs = 2;
  bool checked = false;
  // The newest first: block 2's result is final while block 1 still runs and holds delivery.
  FakeRun run({"cat"}, blocks_of("1\n2\n3\n4\n5\n", fds), o, [&](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (seqs == std::vector<std::uint64_t>{1, 2}) {
      f.finish(2, Status::ok, 0, f.blocks[2].back().lock()->bytes);
      return;
    }
    if (!checked && !seqs.empty() && seqs.front() == 1) {
      checked = true;
      CHECK(f.blocks[2].back().expired()); // not delivered yet, but released
      CHECK_FALSE(f.blocks[1].back().expired());
    }
    echo_block(f);
  });
  auto results = run.drain();
  CHECK(checked);
  REQUIRE(results.size() == 3);
  CHECK(results[0].out.str() == "1\n2\n");
  CHECK(results[1].out.str() == "3\n4\n");
  CHECK(results[2].out.str() == "5\n");
  CHECK(results[0].item.empty()); // a block is no argument
  for (auto& [seq, starts] : run.fake->blocks) {
    CAPTURE(seq);
    CHECK(starts.back().expired());
  }
}

TEST_CASE("engine blocks: a retry gets the same block again")
{
  std::vector<Fd> fds;
  Options o;
  o.jobs = 1;
  o.retries = 1;
  bool failed_once = false;
  FakeRun run({"cat"}, blocks_of("1\n2\n3\n4\n", fds), o, [&](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (!seqs.empty() && seqs.front() == 2 && !failed_once) {
      failed_once = true;
      CHECK_FALSE(f.blocks[2].back().expired()); // kept while a retry may come
      f.finish(2, Status::failed, 1);
      return;
    }
    echo_block(f);
  });
  auto results = run.drain();
  REQUIRE(results.size() == 2);
  CHECK(results[1].attempts == 2);
  CHECK(results[1].out.str() == "3\n4\n");
  auto& starts = run.fake->blocks[2];
  REQUIRE(starts.size() == 2);
  CHECK_FALSE(starts[0].owner_before(starts[1]));
  CHECK_FALSE(starts[1].owner_before(starts[0]));
}

TEST_CASE("engine blocks: the checkpoint keys a block by its ordinal and hash")
{
  auto dir = test::scratch("block-checkpoint");
  Options o;
  o.jobs = 1;
  o.checkpoint = (dir / "run.db").string();
  std::vector<Fd> fds;
  {
    FakeRun first({"cat"}, blocks_of("1\n2\n3\n4\n5\n", fds), o, echo_block);
    CHECK(first.drain().size() == 3);
  }
  o.resume = true;
  SUBCASE("the same input: every block is replayed")
  {
    FakeRun again({"cat"}, blocks_of("1\n2\n3\n4\n5\n", fds), o, echo_block);
    auto results = again.drain();
    REQUIRE(results.size() == 3);
    for (const auto& r : results) {
      CHECK(r.replayed);
      CHECK(r.item.empty());
    }
    CHECK(results[1].out.str() == "3\n4\n");
    CHECK(again.fake->started.empty());
  }
  SUBCASE("a changed block runs again, the others do not")
  {
    FakeRun changed({"cat"}, blocks_of("1\n2\n3\n9\n5\n", fds), o, echo_block);
    auto results = changed.drain();
    REQUIRE(results.size() == 3);
    CHECK(results[0].replayed);
    CHECK_FALSE(results[1].replayed);
    CHECK(results[1].out.str() == "3\n9\n");
    CHECK(results[2].replayed);
  }
}

TEST_CASE("engine blocks: what cannot work with blocks is refused")
{
  std::vector<Fd> fds;
  Options rr;
  rr.round_robin = true;
  CHECK_THROWS_WITH_AS(FakeRun({"cat"}, Items(std::vector<std::string>{"a"}), rr),
                       "Options::round_robin needs blocks of input (Items::blocks)", Error);
  rr.retries = 1;
  CHECK_THROWS_AS(FakeRun({"cat"}, blocks_of("1\n", fds), rr), Error);
  rr.retries = 0;
  rr.checkpoint = (test::scratch("rr") / "x.db").string();
  CHECK_THROWS_AS(FakeRun({"cat"}, blocks_of("1\n", fds), rr), Error);
  Items mixed = blocks_of("1\n", fds);
  mixed.append(Items(std::vector<std::string>{"a"}));
  CHECK_THROWS_AS(FakeRun({"cat"}, std::move(mixed), Options{}), Error);
}
