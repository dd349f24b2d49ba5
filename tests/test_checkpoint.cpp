// Checkpoint: round trip, keys, replay, refusals that leave the file untouched, damaged files
// (truncated at every offset, bytes overwritten) giving parmap::Error and never a crash.
#include "store/checkpoint.hpp"
#include "parmap/report.hpp"
#include "store/checkpoint_file.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <thread>
#include <sqlite3.h>
#include <unistd.h>

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

/// A checkpoint of `n` results with 500-byte outputs: many pages, of which one can be damaged.
std::filesystem::path make_big_checkpoint(const std::filesystem::path& dir, SpillFactory& spill,
                                          int n)
{
  auto path = dir / "big.db";
  Checkpoint cp(path.string(), run_record(), mode());
  for (int i = 1; i <= n; ++i) {
    cp.record(result(static_cast<std::uint64_t>(i), std::to_string(i), Status::ok,
                     test::pattern(500, static_cast<unsigned>(i)), spill),
              1);
  }
  cp.commit();
  return path;
}

/// Overwrites the page in the middle of the file with garbage, as a disk or a bad copy would.
void damage_a_page(const std::filesystem::path& path)
{
  std::string bytes = slurp(path);
  REQUIRE(bytes.size() >= 3 * 4096);
  std::size_t page = bytes.size() / 4096 / 2;
  for (std::size_t i = page * 4096; i < (page + 1) * 4096; ++i) {
    bytes[i] = static_cast<char>(0xA5 ^ (i & 0xff));
  }
  put(path, bytes);
}

/// Runs fn; returns the message of the parmap::Error it throws, or "".
template <typename Fn> std::string error_or_empty(Fn&& fn)
{
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

/// Runs fn, which must throw parmap::Error; returns its message.
template <typename Fn> std::string error_of(Fn&& fn)
{
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("no parmap::Error");
  return {};
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
  SUBCASE("finished items without resume")
  {
    try {
      Checkpoint(path.string(), run_record(), mode());
      FAIL("not refused");
    } catch (const CheckpointConflict& e) {
      CHECK(e.kind() == CheckpointConflict::Kind::not_resumed);
      CHECK(e.finished() == 3);
      CHECK(e.path() == path.string());
      CHECK(std::string(e.what()).find("Options::resume") != std::string::npos);
    }
  }
  SUBCASE("another command")
  {
    try {
      Checkpoint(path.string(), run_record("cat"), mode(true));
      FAIL("not refused");
    } catch (const CheckpointConflict& e) {
      CHECK(e.kind() == CheckpointConflict::Kind::other_command);
      CHECK(e.recorded_command() == "echo {}");
      CHECK(e.command() == "cat");
      CHECK(std::string(e.what()).find("Options::force") != std::string::npos);
    }
  }
  SUBCASE("a damaged page")
  {
    damage_a_page(path);
    before = slurp(path);
    CHECK_THROWS_WITH_AS(Checkpoint(path.string(), run_record(), mode(true)),
                         doctest::Contains("damaged"), Error);
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

TEST_CASE("checkpoint: outputs larger than a chunk are stored in chunks and replay whole")
{
  auto dir = test::scratch("cp-chunks");
  SpillFactory spill(dir.string());
  auto path = dir / "run.db";
  CheckpointMode m = mode();
  m.chunk_bytes = 1000; // SQLite's real limit is 1 GB: the same code at a testable size
  std::string big = test::pattern(3500, 7);  // spilled: written from the spill file
  std::string small = test::pattern(999, 8); // in memory, under the chunk size: inline
  auto chunk_rows = [&] {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.string().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*), total(length(bytes)) FROM output_chunks", -1, &st,
                       nullptr);
    sqlite3_step(st);
    auto rows = std::make_pair(sqlite3_column_int(st, 0), sqlite3_column_double(st, 1));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rows;
  };
  {
    Checkpoint cp(path.string(), run_record(), m);
    Result r = result(1, "x", Status::failed, "", spill);
    Capture out;
    for (std::size_t i = 0; i < big.size(); i += 700) {
      out.append(std::string_view(big).substr(i, 700), spill, 1024);
    }
    r.out = out.finish();
    Capture err;
    err.append(big + big, spill, 1 << 20); // in memory, over the chunk size: chunked
    r.err = err.finish();
    cp.record(r, 1);
    cp.record(result(2, "y", Status::ok, small, spill), 1);
    cp.commit();
  }
  CHECK(chunk_rows() == std::make_pair(4 + 7, 3500.0 + 7000.0));
  SUBCASE("replayed byte for byte")
  {
    Checkpoint cp(path.string(), run_record(), mode(true)); // any chunk size reads them
    auto x = cp.lookup("x", 1, spill);
    REQUIRE(x);
    CHECK(x->out.size() == big.size());
    CHECK(x->out.str() == big);
    CHECK(x->err.str() == big + big);
    auto y = cp.lookup("y", 1, spill);
    REQUIRE(y);
    CHECK(y->out.str() == small);
    CHECK(y->err.str() == "err");
  }
  SUBCASE("a result recorded again replaces its chunks")
  {
    {
      Checkpoint cp(path.string(), run_record(), [&] {
        CheckpointMode again = mode(true, false, true);
        again.chunk_bytes = 1000;
        return again;
      }());
      CHECK_FALSE(cp.lookup("x", 1, spill)); // a failure, run again
      cp.record(result(1, "x", Status::ok, big.substr(0, 2001), spill), 1);
      cp.commit();
    }
    CHECK(chunk_rows() == std::make_pair(3, 2001.0));
    Checkpoint cp(path.string(), run_record(), mode(true));
    auto x = cp.lookup("x", 1, spill);
    REQUIRE(x);
    CHECK(x->out.str() == big.substr(0, 2001));
    CHECK(x->err.str() == "err");
  }
}

TEST_CASE("checkpoint: a schema 1 file (parmap 0.1.0) is upgraded and resumes")
{
  auto dir = test::scratch("cp-v1");
  SpillFactory spill(dir.string());
  auto path = dir / "old.db";
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.string().c_str(), &db) == SQLITE_OK);
  // What 0.1.0 wrote, verbatim.
  const char* v1 = R"sql(
    PRAGMA journal_mode=WAL;
    CREATE TABLE run (id INTEGER PRIMARY KEY CHECK (id = 1), command TEXT NOT NULL,
      options TEXT NOT NULL, version TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE results (item BLOB NOT NULL, occurrence INTEGER NOT NULL, seq INTEGER NOT NULL,
      status TEXT NOT NULL, exit INTEGER NOT NULL, signal INTEGER NOT NULL,
      started REAL NOT NULL, duration REAL NOT NULL, attempts INTEGER NOT NULL, stdout BLOB,
      stderr BLOB, PRIMARY KEY (item, occurrence));
    PRAGMA application_id=1347240272; PRAGMA user_version=1;
    INSERT INTO run VALUES (1, 'echo {}', 'opts', '0.1.0', 0);
    INSERT INTO results VALUES (CAST('a' AS BLOB), 1, 1, 'ok', 0, 0, 0, 0.25, 1,
      CAST('out a' AS BLOB), NULL);
  )sql";
  REQUIRE(sqlite3_exec(db, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  {
    Checkpoint cp(path.string(), run_record(), mode(true));
    CHECK(cp.replayable() == 1);
    auto a = cp.lookup("a", 1, spill);
    REQUIRE(a);
    CHECK(a->out.str() == "out a");
    CHECK(a->err.str().empty());
    cp.record(result(2, "b", Status::ok, "out b", spill), 1);
  }
  REQUIRE(sqlite3_open(path.string().c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version), "
                         "(SELECT count(*) FROM output_chunks), (SELECT count(*) FROM results)",
                     -1, &st, nullptr);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int(st, 0) == k_checkpoint_schema);
  CHECK(sqlite3_column_int(st, 1) == 0);
  CHECK(sqlite3_column_int(st, 2) == 2);
  sqlite3_finalize(st);
  sqlite3_close(db);
  CHECK(read_report(path.string()).total == 2);
}

TEST_CASE("checkpoint: damage is found when opening, and said so")
{
  auto dir = test::scratch("cp-damaged-page");
  SpillFactory spill(dir.string());
  auto path = make_big_checkpoint(dir, spill, 400);
  // Sound: the check passes, on opening for writing and for reading.
  CHECK_NOTHROW(Checkpoint(path.string(), run_record(), mode(true)));
  CHECK(read_report(path.string()).total == 400);
  damage_a_page(path);
  std::string before = slurp(path);
  std::string opening = error_of([&] { Checkpoint(path.string(), run_record(), mode(true)); });
  CHECK(opening.find(path.string() + ": the checkpoint is damaged") == 0);
  CHECK(opening.find("force") == std::string::npos);
  std::string reading = error_of([&] { (void)read_report(path.string()); });
  CHECK(reading.find(path.string() + ": the checkpoint is damaged") == 0);
  CHECK(slurp(path) == before);
}

TEST_CASE("checkpoint: paths that cannot hold a checkpoint are refused, creating nothing")
{
  auto dir = test::scratch("cp-paths");
  SUBCASE("a device")
  {
    CHECK(error_of([] { Checkpoint("/dev/null", run_record(), mode()); }) ==
          "/dev/null: a character device, not a file a checkpoint can be kept in");
    CHECK_FALSE(std::filesystem::exists("/dev/null-journal"));
    CHECK_FALSE(std::filesystem::exists("/dev/null-wal"));
    CHECK(error_of([] { (void)read_report("/dev/null"); }).find("a character device") !=
          std::string::npos);
  }
  SUBCASE("a directory")
  {
    CHECK(error_of([&] { Checkpoint(dir.string(), run_record(), mode()); })
              .find("a directory, not a file") != std::string::npos);
  }
  SUBCASE("a dangling symbolic link")
  {
    auto link = dir / "run.db";
    std::filesystem::create_symlink(dir / "gone" / "run.db", link);
    CHECK(error_of([&] { Checkpoint(link.string(), run_record(), mode()); }) ==
          link.string() + ": a symbolic link to " + (dir / "gone" / "run.db").string() +
              ", which does not exist");
    CHECK(error_of([&] { (void)read_report(link.string()); }).find("which does not exist") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "gone"));
  }
  SUBCASE("a symbolic link to a checkpoint works")
  {
    SpillFactory spill(dir.string());
    auto real = make_checkpoint(dir, spill);
    auto link = dir / "link.db";
    std::filesystem::create_symlink(real, link);
    Checkpoint cp(link.string(), run_record(), mode(true));
    CHECK(cp.lookup("a", 1, spill));
  }
}

TEST_CASE("checkpoint: no message shows SQL")
{
  // Files damaged every way the fuzz-like test above tries: whatever the message, it is in
  // parmap's words, naming the file.
  auto dir = test::scratch("cp-no-sql");
  SpillFactory spill(dir.string());
  std::string good = slurp(make_checkpoint(dir, spill));
  auto path = dir / "bad.db";
  for (std::size_t at = 0; at < good.size(); at += 61) {
    CAPTURE(at);
    std::string bad = good;
    for (std::size_t i = at; i < std::min(bad.size(), at + 16); ++i) {
      bad[i] = static_cast<char>(bad[i] ^ 0x5A);
    }
    put(path, bad);
    std::filesystem::remove(dir / "bad.db-wal");
    std::filesystem::remove(dir / "bad.db-shm");
    for (const std::string& message :
         {error_or_empty([&] { Checkpoint(path.string(), run_record(), mode(true)); }),
          error_or_empty([&] { (void)read_report(path.string()); })}) {
      CAPTURE(message);
      for (const char* sql : {"SELECT", "select", "pragma_", "FROM ", "sqlite_master"}) {
        CHECK(message.find(sql) == std::string::npos);
      }
      CHECK((message.empty() || message.find(path.string()) == 0));
    }
  }
}

TEST_CASE("checkpoint: commits are commit_interval apart while results come")
{
  auto dir = test::scratch("cp-grid");
  SpillFactory spill(dir.string());
  CheckpointMode m = mode();
  m.commit_every = 1000;
  m.commit_interval = 0.2;
  Checkpoint cp((dir / "run.db").string(), run_record(), m);
  auto opened = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  cp.record(result(1, "a", Status::ok, "", spill), 1);
  // Due on the grid from the last commit (here: the open), not a full interval after the
  // transaction began: a transaction opened late in an interval waits less.
  auto due = cp.deadline();
  REQUIRE(due);
  CHECK(*due - opened <= std::chrono::milliseconds(210));
  cp.tick(*due);
  CHECK_FALSE(cp.deadline());
  auto committed = Clock::now();
  cp.record(result(2, "b", Status::ok, "", spill), 1);
  REQUIRE(cp.deadline());
  CHECK(*cp.deadline() >= committed + std::chrono::milliseconds(190));
  cp.commit();
  // After a pause longer than the interval, a result is committed at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  auto now = Clock::now();
  cp.record(result(3, "c", Status::ok, "", spill), 1);
  REQUIRE(cp.deadline());
  CHECK(*cp.deadline() <= Clock::now());
  CHECK(*cp.deadline() >= now);
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

namespace {

/// The first column of the first row of `sql`, read through a connection of its own (as
/// another process would see the file).
std::int64_t query(const std::filesystem::path& path, const char* sql)
{
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.string().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
  std::int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

RunningItem running(std::uint64_t seq)
{
  // This process stands in for the item's group leader: it is alive, with a start time.
  return RunningItem{seq, "item " + std::to_string(seq), 1, 0,
                     RecordedGroup{::getpid(), 0, {}, seq}};
}

} // namespace

TEST_CASE("checkpoint: running items are recorded at a commit and forgotten when they end")
{
  auto dir = test::scratch("cp-running");
  auto path = dir / "run.db";
  {
    Checkpoint cp(path.string(), run_record(), mode());
    CHECK_FALSE(cp.deadline().has_value());
    auto before = Clock::now();
    cp.item_running(running(1));
    cp.item_running(running(2));
    cp.item_ended(2); // a short item: never written
    REQUIRE(cp.deadline().has_value());
    CHECK(*cp.deadline() >= before + std::chrono::milliseconds(100));
    CHECK(query(path, "SELECT count(*) FROM running_items") == 0);
    cp.tick(*cp.deadline());
    CHECK(query(path, "SELECT count(*) FROM running_items") == 1);
    CHECK(query(path, "SELECT seq FROM running_items") == 1);
    CHECK(query(path, "SELECT pgid FROM running_items") == ::getpid());
    CHECK(query(path, "SELECT leader_start FROM running_items") ==
          static_cast<std::int64_t>(process_start_ticks(::getpid())));
    cp.item_ended(1);
    cp.commit();
    CHECK(query(path, "SELECT count(*) FROM running_items") == 0);
    cp.item_running(running(3));
    cp.commit(); // the run "dies" with item 3 running
  }
  Checkpoint again(path.string(), run_record(), mode(true));
  REQUIRE(again.left_running().size() == 1);
  const RunningItem& left = again.left_running()[0];
  CHECK(left.seq == 3);
  CHECK(left.item == "item 3");
  CHECK(left.group.pgid == ::getpid());
  CHECK(left.group.boot_id == boot_id());
  CHECK(left.group.seq == 3);
  CHECK(left.started > 0);
  again.forget_left_running();
  CHECK(again.left_running().empty());
  CHECK(query(path, "SELECT count(*) FROM running_items") == 0);
}

TEST_CASE("checkpoint: a version 1 file is upgraded when a run takes it, not when refused")
{
  auto dir = test::scratch("cp-v1");
  SpillFactory spill(dir.string());
  auto path = make_checkpoint(dir, spill);
  {
    sqlite3* db = nullptr;
    sqlite3_open(path.string().c_str(), &db);
    // As parmap 0.1.0 wrote it: none of schema 2's additions.
    sqlite3_exec(db,
                 "DROP TRIGGER output_chunks_go_with_their_result; DROP TABLE output_chunks; "
                 "DROP TABLE running_items; DROP TABLE sessions; DROP TABLE attempts; "
                 "ALTER TABLE results DROP COLUMN host; "
                 "ALTER TABLE results DROP COLUMN step; "
                 "PRAGMA user_version=1",
                 nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  auto v1 = slurp(path);
  CHECK_THROWS_AS(Checkpoint(path.string(), run_record(), mode()), Error); // no --resume
  CHECK(slurp(path) == v1);
  {
    Checkpoint cp(path.string(), run_record(), mode(true));
    CHECK(cp.left_running().empty());
    CHECK(cp.lookup("b", 1, spill).has_value());
  }
  CHECK(query(path, "PRAGMA user_version") == 2);
  CHECK(query(path, "SELECT count(*) FROM running_items") == 0);
  CHECK(query(path, "SELECT count(*) FROM results") == 3);
}
