// GNU parallel's records: the joblog line, the --results tree, per-item files and CSV/TSV/JSON
// rows (compared with what GNU parallel 20221122 writes; the e2e tests run it side by side).
#include "output/gnu_record.hpp"
#include "output/joblog.hpp"
#include "output/results.hpp"
#include "output/spill.hpp"
#include "support.hpp"

#include "parmap/error.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>

using namespace parmap;

namespace {

Output output_of(const std::string& bytes, SpillFactory& spill, std::size_t limit = 1 << 20)
{
  Capture c;
  if (!bytes.empty()) {
    c.append(bytes, spill, limit);
  }
  return c.finish();
}

std::string slurp(const std::filesystem::path& path)
{
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Result result(std::uint64_t seq, std::string item, SpillFactory& spill, const std::string& out,
              const std::string& err)
{
  Result r;
  r.seq = seq;
  r.item = std::move(item);
  r.out = output_of(out, spill);
  r.err = output_of(err, spill);
  r.started = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  r.duration = 0.25;
  return r;
}

} // namespace

TEST_CASE("results: GNU parallel's exit value and signal columns")
{
  Result r;
  r.exit_code = 3;
  r.status = Status::failed;
  CHECK(gnu_record(r).exitval == 3);
  r.status = Status::signaled;
  r.signal = 9;
  r.exit_code = 137;
  CHECK(gnu_record(r).exitval == 0); // killed by a signal it got elsewhere: 0 and the signal
  CHECK(gnu_record(r).signal == 9);
  r.status = Status::timeout;
  r.signal = 15;
  r.exit_code = 124;
  CHECK(gnu_record(r).exitval == -1); // killed by parmap: -1, as GNU parallel's joblog says
  CHECK(gnu_record(r).signal == 15);
}

TEST_CASE("results: the joblog line")
{
  SpillFactory spill(test::scratch("joblog-spill").string());
  Result r = result(4, "a", spill, "four\n", "and stderr\n");
  CHECK(Joblog::line(r, "echo a\tb\nc") ==
        "4\t:\t1700000000.123\t     0.250\t0\t5\t0\t0\techo a b c\n");
  auto dir = test::scratch("joblog");
  {
    Joblog log((dir / "log").string());
    log.add(r, "echo a");
  }
  {
    Joblog log("+" + (dir / "log").string());
    log.add(r, "echo a");
  }
  CHECK(slurp(dir / "log") == Joblog::header() + Joblog::line(r, "echo a") +
                                  Joblog::line(r, "echo a"));
  CHECK(Joblog("-").to_stdout());
  CHECK_THROWS_AS(Joblog((dir / "no/such/log").string()), Error);
}

TEST_CASE("results: the tree of directories, named and escaped as GNU parallel names them")
{
  auto dir = test::scratch("results-tree");
  ResultsSaver saver((dir / "res").string(), false, {});
  CHECK(saver.tree_dir({"a/b", "t\tab", "back\\slash"}) ==
        (dir / "res").string() + "/1/a\\_b/2/t\\tab/3/back\\\\slash");
  CHECK(saver.tree_dir({std::string(300, 'x')}).size() == (dir / "res").string().size() + 3 + 255);
  ResultsSaver named((dir / "res").string(), false, {"b", "a", "10x", "2y"});
  // Sorted by their leading number, then as text: a and b (0), 2y, 10x.
  CHECK(named.tree_dir({"1", "2", "3", "4"}) ==
        (dir / "res").string() + "/a/2/b/1/2y/4/10x/3");

  SpillFactory spill(dir.string());
  CHECK(saver.save(result(7, "it", spill, "out\n", "err\n"), {"it"}, "echo it", "").empty());
  CHECK(slurp(dir / "res/1/it/stdout") == "out\n");
  CHECK(slurp(dir / "res/1/it/stderr") == "err\n");
  CHECK(slurp(dir / "res/1/it/seq") == "7");
}

TEST_CASE("results: a templated name gives a file, or a directory, per item")
{
  auto dir = test::scratch("results-templated");
  SpillFactory spill(dir.string());
  ResultsSaver saver((dir / "x_{}").string(), true, {});
  saver.save(result(1, "a", spill, "A", "E"), {"a"}, "", (dir / "sub/x_a").string());
  CHECK(slurp(dir / "sub/x_a") == "A");
  CHECK(slurp(dir / "sub/x_a.err") == "E");
  CHECK(slurp(dir / "sub/x_a.seq") == "1");
  saver.save(result(2, "b", spill, "B", ""), {"b"}, "", (dir / "d_b/").string());
  CHECK(slurp(dir / "d_b/stdout") == "B");
  CHECK(slurp(dir / "d_b/seq") == "2");
}

TEST_CASE("results: CSV and TSV rows as GNU parallel quotes them")
{
  auto dir = test::scratch("results-csv");
  SpillFactory spill(dir.string());
  ResultsSaver csv("-.csv", false, {});
  CHECK(csv.to_stdout());
  std::string rows = csv.save(result(1, "a", spill, "x\n", ""), {"a"}, "echo a", "");
  rows += csv.save(result(2, "q\"q", spill, "", "e,f"), {"q\"q"}, "echo 'q\"q'", "");
  CHECK(rows == "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,"
                "Stderr\n"
                "1,:,1700000000.123,0.250,0,2,0,0,\"echo a\",a,\"x\n\",\n"
                "2,:,1700000000.123,0.250,0,0,0,0,\"echo 'q\"\"q'\",\"q\"\"q\",,\"e,f\"\n");
  ResultsSaver tsv((dir / "out.TSV").string(), false, {"name"});
  CHECK_FALSE(tsv.to_stdout());
  tsv.save(result(1, "a,b", spill, "", ""), {"a,b"}, "echo", "");
  CHECK(slurp(dir / "out.TSV") ==
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tname\tStdout\t"
        "Stderr\n1\t:\t1700000000.123\t0.250\t0\t0\t0\t0\techo\ta,b\t\t\n");
}

TEST_CASE("results: JSON lines as GNU parallel writes them, large outputs included")
{
  auto dir = test::scratch("results-json");
  SpillFactory spill(dir.string());
  ResultsSaver json((dir / "out.json").string(), false, {});
  Result r = result(3, "t\t\"q\\", spill, "", "");
  std::string big(200000, 'y');
  r.out = output_of(big + "\n", spill, 1000); // spilled: written a piece at a time
  json.save(r, {"t\t\"q\\", "b"}, "echo", "");
  CHECK(slurp(dir / "out.json") ==
        "{ \"Seq\": 3, \"Host\": \":\", \"Starttime\": 1700000000.123, \"JobRuntime\": 0.250, "
        "\"Send\": 0, \"Receive\": 200001, \"Exitval\": 0, \"Signal\": 0, \"Command\": \"echo\", "
        "\"V\": [ \"t\\u0009\\\"q\\\\\",\"b\" ], \"Stdout\": \"" +
            big + "\\u000a\", \"Stderr\": \"\" }\n");
  CHECK_THROWS_AS(ResultsSaver((dir / "no/such.csv").string(), false, {}), Error);
}
