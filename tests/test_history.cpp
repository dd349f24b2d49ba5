// Run history (schema v2): sessions and attempts written by Checkpoint and the engine, version 1
// files migrated on resume and read as they are, and commands rebuilt from the stored template.
#include "exec/command.hpp"
#include "store/checkpoint.hpp"
#include "store/history.hpp"
#include "support.hpp"

#include <sqlite3.h>

#include <doctest/doctest.h>

#include <filesystem>

using namespace parmap;
using parmap::test::FakeExecutor;
using parmap::test::FakeRun;

namespace {

/// A version 1 checkpoint written by parmap 0.1.0: a, b (failed), c (timeout), d (signal), a.
const std::filesystem::path k_v1_file =
    std::filesystem::path(PARMAP_FUZZ_DIR) / "corpus/fuzz_checkpoint/valid.db";

std::int64_t scalar(const std::filesystem::path& db, const char* sql)
{
  sql::Db conn = sql::open(db.string(), SQLITE_OPEN_READONLY);
  sql::Statement q(conn.get(), sql);
  return q.step() ? q.column_int(0) : -1;
}

std::vector<ReportAttempt> attempts_of(const std::filesystem::path& db)
{
  std::vector<ReportAttempt> all;
  for_each_attempt(db.string(), [&](const ReportAttempt& a) { all.push_back(a); });
  return all;
}

Result result(std::uint64_t seq, std::string item, Status status, unsigned slot)
{
  Result r;
  r.seq = seq;
  r.args = {item};
  r.item = std::move(item);
  r.status = status;
  r.exit_code = status == Status::ok ? 0 : 3;
  r.slot = slot;
  r.started = std::chrono::system_clock::now();
  r.duration = 0.25;
  return r;
}

RunRecord run_record(unsigned slots = 4)
{
  RunRecord run{"echo {}", "opts", "test"};
  run.slots = slots;
  run.timeout = 30;
  return run;
}

CheckpointMode resume(bool retry_failed = false)
{
  CheckpointMode m;
  m.resume = true;
  m.retry_failed = retry_failed;
  return m;
}

} // namespace

TEST_CASE("history: split_quoted_words undoes shell_quote")
{
  for (std::vector<std::string> words : std::vector<std::vector<std::string>>{
           {"echo", "{}"}, {"sh", "-c", "echo \"$1\" 'x'", "sh"}, {""}, {"it's", "a b", "\\"}}) {
    std::string line;
    for (const auto& w : words) {
      line += (line.empty() ? "" : " ") + shell_quote(w);
    }
    CAPTURE(line);
    auto back = split_quoted_words(line);
    REQUIRE(back);
    CHECK(*back == words);
  }
  CHECK_FALSE(split_quoted_words("a  b"));
  CHECK_FALSE(split_quoted_words(" a"));
  CHECK_FALSE(split_quoted_words("a "));
  CHECK_FALSE(split_quoted_words("'open"));
}

TEST_CASE("history: command_line is what the run displayed")
{
  ReportAttempt a;
  a.item = "it's here";
  a.seq = 7;
  a.slot = 2;
  for (auto [words, shell] :
       {std::pair{std::vector<std::string>{"echo", "{#}", "{%}", "{}"}, Shell::never},
        std::pair{std::vector<std::string>{"echo {} > \"{.}.out\""}, Shell::automatic}}) {
    CommandTemplate command(words, shell);
    ReportSession s;
    s.command = command.text();
    s.shell = command.uses_shell();
    CHECK(command_line(s, a) == command.display(RenderContext{a.args, a.seq, a.slot}));
  }
  ReportSession odd;
  odd.command = "not 'quoted";
  CHECK(command_line(odd, a) == "not 'quoted");
}

TEST_CASE("history: a new checkpoint records its session and every attempt")
{
  auto dir = test::scratch("history-new");
  auto db = dir / "run.db";
  {
    Checkpoint cp(db.string(), run_record(), CheckpointMode{});
    cp.record(result(1, "a", Status::ok, 2), 1);
    AttemptRecord retried{
        "b", 1, 2, 1, 1, {}, {}, Status::failed, false, 3, 0, std::chrono::system_clock::now(),
        0.5, 12};
    cp.record_attempt(retried);
    Result b = result(2, "b", Status::ok, 3);
    b.attempts = 2;
    cp.record(b, 1);
    cp.commit();
  }
  CHECK(scalar(db, "PRAGMA user_version") == 2);
  auto sessions = read_sessions(db.string());
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0].id == 1);
  CHECK(sessions[0].slots == 4);
  CHECK(sessions[0].timeout == 30);
  CHECK(sessions[0].pid == ::getpid());
  CHECK(sessions[0].command == "echo {}");
  CHECK(sessions[0].last_commit >= sessions[0].started);
  auto all = attempts_of(db);
  REQUIRE(all.size() == 3);
  CHECK((all[0].item == "a" && all[0].slot == 2 && all[0].is_result));
  CHECK((all[1].item == "b" && all[1].attempt == 1 && !all[1].is_result && all[1].exit_code == 3));
  CHECK(all[1].stdout_bytes == 12);
  CHECK((all[2].item == "b" && all[2].attempt == 2 && all[2].is_result && all[2].slot == 3));
}

TEST_CASE("history: each resume is a session; replays are counted, replaced failures kept")
{
  auto dir = test::scratch("history-resume");
  auto db = dir / "run.db";
  SpillFactory spill(dir.string());
  {
    Checkpoint cp(db.string(), run_record(), CheckpointMode{});
    cp.record(result(1, "a", Status::ok, 1), 1);
    cp.record(result(2, "b", Status::failed, 2), 1);
    cp.commit();
  }
  {
    // A resume that only replays still commits its count.
    Checkpoint cp(db.string(), run_record(2), resume());
    CHECK(cp.lookup("a", 1, spill));
    CHECK(cp.lookup("b", 1, spill));
  }
  {
    Checkpoint cp(db.string(), run_record(2), resume(true));
    CHECK(cp.lookup("a", 1, spill));
    CHECK_FALSE(cp.lookup("b", 1, spill));
    cp.record(result(2, "b", Status::ok, 1), 1);
  }
  auto sessions = read_sessions(db.string());
  REQUIRE(sessions.size() == 3);
  CHECK(sessions[1].replayed == 2);
  CHECK(sessions[2].replayed == 1);
  auto all = attempts_of(db);
  REQUIRE(all.size() == 3);
  CHECK((all[1].session == 1 && all[1].item == "b" && all[1].status == Status::failed));
  CHECK((all[2].session == 3 && all[2].item == "b" && all[2].status == Status::ok));
}

TEST_CASE("history: a version 1 file reads as session 0, and a resume migrates it")
{
  auto dir = test::scratch("history-v1");
  auto db = dir / "old.db";
  std::filesystem::copy_file(k_v1_file, db);
  SUBCASE("read as it is, without writing")
  {
    auto before = std::filesystem::last_write_time(db);
    auto sessions = read_sessions(db.string());
    REQUIRE(sessions.size() == 1);
    CHECK(sessions[0].id == 0);
    CHECK(sessions[0].command == "echo {}");
    auto all = attempts_of(db);
    REQUIRE(all.size() == 5);
    for (const auto& a : all) {
      CHECK((a.session == 0 && a.slot == 0 && a.is_result));
    }
    CHECK(all[1].item == "b");
    CHECK(all[1].stdout_bytes == 0); // its "boom\n" went to stderr
    CHECK(all[2].stdout_bytes == 7);
    CHECK(scalar(db, "PRAGMA user_version") == 1);
    CHECK(std::filesystem::last_write_time(db) == before);
  }
  SUBCASE("migrated by a resume, in one step")
  {
    RunRecord run{"echo {}", "shell=auto batch-size=1 timeout=none", "0.0.0-fuzz"};
    {
      Checkpoint cp(db.string(), run, resume());
      cp.record(result(6, "e", Status::ok, 1), 1);
    }
    CHECK(scalar(db, "PRAGMA user_version") == 2);
    auto sessions = read_sessions(db.string());
    REQUIRE(sessions.size() == 2);
    CHECK((sessions[0].id == 0 && sessions[1].id == 1));
    auto all = attempts_of(db);
    REQUIRE(all.size() == 6);
    CHECK(std::count_if(all.begin(), all.end(), [](auto& a) { return a.session == 0; }) == 5);
    CHECK((all[5].item == "e" && all[5].session == 1 && all[5].slot == 1));
  }
}

TEST_CASE("history: the engine records retried and interrupted attempts")
{
  auto dir = test::scratch("history-engine");
  Options o;
  o.jobs = 2;
  o.retries = 1;
  o.checkpoint = (dir / "run.db").string();
  int calls = 0;
  FakeRun run({"echo"}, Items({"a", "b", "c"}), o, [&](FakeExecutor& f) {
    auto seqs = f.running_seqs();
    if (seqs.empty()) {
      return;
    }
    if (++calls <= 2) {
      f.finish(1, Status::failed, 4); // the first try fails, the retry too
      return;
    }
    f.finish(seqs.back(), Status::ok, 0);
  });
  std::vector<Result> before;
  auto failed = run.drain_until_failure(before);
  REQUIRE(failed);
  run.engine.reset();
  auto all = attempts_of(dir / "run.db");
  auto count = [&](auto pred) { return std::count_if(all.begin(), all.end(), pred); };
  CHECK(count([](auto& a) { return a.item == "a" && !a.is_result && a.attempt == 1; }) == 1);
  CHECK(count([](auto& a) { return a.item == "a" && a.is_result && a.attempt == 2; }) == 1);
  // Fail-fast stopped the item that was running: it is there, marked as stopped by parmap.
  CHECK(count([](auto& a) { return a.interrupted && !a.is_result; }) >= 1);
  for (const auto& a : all) {
    CHECK(a.slot >= 1);
    CHECK(a.started > 0);
  }
}
