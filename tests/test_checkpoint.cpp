// Checkpoint: round trip, keys, replay, refusals that leave the file untouched, damaged files
// (truncated at every offset, bytes overwritten) giving parmap::Error and never a crash.
#include "store/checkpoint.hpp"
#include "parmap/report.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sqlite3.h>

using namespace parmap;

namespace {

RunRecord run_record(std::string command = "echo {}")
{
  return RunRecord{std::move(command), "opts", "test"};
}

CheckpointMode mode(bool resume = false, bool force = false, bool retry_failed = false)
{
  CheckpointMode m;
  m.resume = resume;
  m.force = force;
  m.retry_failed = retry_failed;
  m.commit_every = 3;
  return m;
}

Result result(std::uint64_t seq, std::string item, Status status, std::string out,
              SpillFactory& spill)
{
  Result r;
  r.seq = seq;
  r.args = {item};
  r.item = std::move(item);
  r.status = status;
  r.exit_code = status == Status::ok ? 0 : 2;
  r.duration = 0.5;
  r.attempts = 2;
  r.started = std::chrono::system_clock::now();
  Capture c;
  c.append(out, spill, 64 * 1024);
  r.out = c.finish();
  Capture e;
  e.append("err", spill, 64 * 1024);
  r.err = e.finish();
  return r;
}

std::string slurp(const std::filesystem::path& p)
{
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const std::filesystem::path& p, const std::string& data)
{
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

/// A checkpoint with three results, closed cleanly.
std::filesystem::path make_checkpoint(const std::filesystem::path& dir, SpillFactory& spill)
{
  auto path = dir / "run.db";
  Checkpoint cp(path.string(), run_record(), mode());
  cp.record(result(1, "a", Status::ok, "out a\n", spill), 1);
  cp.record(result(2, "b", Status::failed, "out b\n", spill), 1);
  cp.record(result(3, "a", Status::ok, "out a2\n", spill), 2);
  cp.commit();
  return path;
}

} // namespace

TEST_CASE("checkpoint: records round-trip on resume, keyed by text and occurrence")
{
  auto dir = test::scratch("cp-roundtrip");
  SpillFactory spill(dir.string());
  auto path = make_checkpoint(dir, spill);
  Checkpoint cp(path.string(), run_record(), mode(true));
  CHECK(cp.replayable() == 3);
  auto a1 = cp.lookup("a", 1, spill);
  REQUIRE(a1);
  CHECK(a1->replayed);
  CHECK(a1->out.str() == "out a\n");
  CHECK(a1->err.str() == "err");
  CHECK(a1->attempts == 2);
  CHECK(a1->duration == doctest::Approx(0.5));
  auto a2 = cp.lookup("a", 2, spill);
  REQUIRE(a2);
  CHECK(a2->out.str() == "out a2\n");
  CHECK_FALSE(cp.lookup("a", 3, spill));
  CHECK_FALSE(cp.lookup("c", 1, spill));
  auto b = cp.lookup("b", 1, spill);
  REQUIRE(b);
  CHECK(b->status == Status::failed);
  CHECK(b->exit_code == 2);
}

TEST_CASE("checkpoint: --retry-failed does not replay failures")
{
  auto dir = test::scratch("cp-retry");
  SpillFactory spill(dir.string());
  auto path = make_checkpoint(dir, spill);
  Checkpoint cp(path.string(), run_record(), mode(true, false, true));
  CHECK(cp.replayable() == 2);
  CHECK_FALSE(cp.lookup("b", 1, spill));
  CHECK(cp.lookup("a", 1, spill));
}

TEST_CASE("checkpoint: large outputs are stored and read in pieces")
{
  auto dir = test::scratch("cp-large");
  SpillFactory spill(dir.string());
  auto path = dir / "big.db";
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i * 131 % 251);
  }
  {
    Checkpoint cp(path.string(), run_record(), mode());
    Capture c;
    for (std::size_t i = 0; i < big.size(); i += 100000) {
      c.append(std::string_view(big).substr(i, 100000), spill, 64 * 1024); // spilled
    }
    Result r = result(1, "x", Status::ok, "", spill);
    r.out = c.finish();
    cp.record(r, 1);
  }
  Checkpoint cp(path.string(), run_record(), mode(true));
  auto back = cp.lookup("x", 1, spill);
  REQUIRE(back);
  CHECK(back->out.size() == big.size());
  CHECK(back->out.str() == big);
}

TEST_CASE("checkpoint: refusals leave the file byte for byte untouched")
{
  auto dir = test::scratch("cp-refuse");
  SpillFactory spill(dir.string());
  auto path = make_checkpoint(dir, spill);
  std::string before = slurp(path);
  SUBCASE("finished items without --resume")
  {
    CHECK_THROWS_WITH_AS(Checkpoint(path.string(), run_record(), mode()),
                         doctest::Contains("--resume"), Error);
  }
  SUBCASE("another command")
  {
    CHECK_THROWS_WITH_AS(Checkpoint(path.string(), run_record("cat"), mode(true)),
                         doctest::Contains("--force"), Error);
  }
  SUBCASE("a newer schema")
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.string().c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version=7", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    before = slurp(path);
    CHECK_THROWS_WITH_AS(Checkpoint(path.string(), run_record(), mode(true)),
                         doctest::Contains("newer"), Error);
  }
  SUBCASE("an SQLite file of someone else")
  {
    auto other = dir / "other.db";
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(other.string().c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    std::filesystem::rename(other, path);
    before = slurp(path);
    CHECK_THROWS_WITH_AS(Checkpoint(path.string(), run_record(), mode(true)),
                         doctest::Contains("not a parmap checkpoint"), Error);
  }
  CHECK(slurp(path) == before);
}

TEST_CASE("checkpoint: --force takes the results for the new command")
{
  auto dir = test::scratch("cp-force");
  SpillFactory spill(dir.string());
  auto path = make_checkpoint(dir, spill);
  {
    Checkpoint cp(path.string(), run_record("cat"), mode(true, true));
    CHECK(cp.lookup("a", 1, spill));
  }
  // Now recorded for "cat": a plain resume with it is accepted.
  CHECK_NOTHROW(Checkpoint(path.string(), run_record("cat"), mode(true)));
}

TEST_CASE("checkpoint: a second run on the same file is refused while the first holds it")
{
  auto dir = test::scratch("cp-lock");
  auto path = dir / "run.db";
  Checkpoint first(path.string(), run_record(), mode());
  CHECK_THROWS_WITH_AS(Checkpoint(path.string(), run_record(), mode(true)),
                       doctest::Contains("in use"), Error);
}

TEST_CASE("checkpoint: transactions commit every N records and on commit()")
{
  auto dir = test::scratch("cp-commit");
  SpillFactory spill(dir.string());
  auto path = dir / "run.db";
  Checkpoint cp(path.string(), run_record(), mode()); // commit_every = 3
  auto count = [&] {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.string().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM results", -1, &st, nullptr);
    sqlite3_step(st);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  };
  cp.record(result(1, "a", Status::ok, "", spill), 1);
  cp.record(result(2, "b", Status::ok, "", spill), 1);
  CHECK(count() == 0); // another process sees nothing yet
  CHECK(cp.deadline().has_value());
  cp.record(result(3, "c", Status::ok, "", spill), 1);
  CHECK(count() == 3);
  CHECK_FALSE(cp.deadline().has_value());
  cp.record(result(4, "d", Status::ok, "", spill), 1);
  cp.commit();
  CHECK(count() == 4);
}

TEST_CASE("checkpoint: a damaged file gives an Error, never a crash")
{
  auto dir = test::scratch("cp-damage");
  SpillFactory spill(dir.string());
  auto good_path = make_checkpoint(dir, spill);
  std::string good = slurp(good_path);
  REQUIRE(good.size() >= 4096);
  auto path = dir / "damaged.db";
  auto try_open = [&] {
    std::filesystem::remove(dir / "damaged.db-wal");
    std::filesystem::remove(dir / "damaged.db-shm");
    try {
      Checkpoint cp(path.string(), run_record(), mode(true));
      for (const char* item : {"a", "b", "c"}) {
        (void)cp.lookup(item, 1, spill);
      }
    } catch (const Error&) {
      // refused or unreadable: fine
    }
    try {
      (void)read_report(path.string());
    } catch (const Error&) {
    }
  };
  SUBCASE("truncated at many offsets")
  {
    for (std::size_t len = 0; len < good.size(); len += (len < 200 ? 1 : 97)) {
      CAPTURE(len);
      put(path, good.substr(0, len));
      try_open();
    }
  }
  SUBCASE("bytes overwritten")
  {
    for (std::size_t at = 0; at < good.size(); at += 61) {
      CAPTURE(at);
      std::string bad = good;
      for (std::size_t i = at; i < std::min(bad.size(), at + 16); ++i) {
        bad[i] = static_cast<char>(bad[i] ^ 0x5A);
      }
      put(path, bad);
      try_open();
    }
  }
}

TEST_CASE("checkpoint: occurrences count equal items")
{
  OccurrenceCounter c;
  CHECK(c.next("a") == 1);
  CHECK(c.next("b") == 1);
  CHECK(c.next("a") == 2);
  CHECK(c.next("") == 1);
  CHECK(c.next("a") == 3);
  CHECK(c.next("b") == 2);
}

TEST_CASE("checkpoint: the occurrence counter stays small for many distinct items")
{
  OccurrenceCounter c;
  const std::size_t n = 1000000;
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(c.next(std::to_string(i)) == 1);
  }
  CHECK(c.next("17") == 2);
  CHECK(c.next(std::to_string(n - 1)) == 2);
  CHECK(c.memory() <= 24 * n); // 8-byte slots, at most 3/4 full
}
