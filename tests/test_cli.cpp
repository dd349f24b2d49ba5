// The command line: a repeated option takes its last value, GNU parallel's spellings, and every
// usage error in parmap's own words (no CLI11 text, a near miss named, --help only where it
// helps).
#include "cli/cli.hpp"
#include "cli/jobs_file.hpp"
#include "cli/unknown_option.hpp"
#include "cli/values.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

using namespace parmap;
using namespace parmap::cli;

namespace {

std::variant<Config, Outcome> interpret_args(std::vector<std::string> args)
{
  std::vector<const char*> argv{"parmap"};
  for (const auto& a : args) {
    argv.push_back(a.c_str());
  }
  argv.push_back(nullptr);
  return interpret(static_cast<int>(argv.size() - 1), argv.data());
}

Config config_of(std::vector<std::string> args)
{
  auto result = interpret_args(std::move(args));
  if (auto* outcome = std::get_if<Outcome>(&result)) {
    FAIL("no Config: " << outcome->err);
  }
  return std::get<Config>(std::move(result));
}

/// What parmap prints for a usage error (exit status 255 checked).
std::string error_of(std::vector<std::string> args)
{
  args.insert(args.end(), {"true", ":::", "x"});
  auto result = interpret_args(std::move(args));
  auto* outcome = std::get_if<Outcome>(&result);
  REQUIRE(outcome != nullptr);
  CHECK(outcome->status == 255);
  return outcome->err;
}

const char* const k_help_hint = "Try 'parmap --help' for more information.\n";

} // namespace

TEST_CASE("cli: a repeated option takes its last value, as in GNU parallel and xargs")
{
  CHECK(config_of({"-j4", "-j8", "echo", ":::", "a"}).options.jobs == 8);
  CHECK(config_of({"-P", "3", "--jobs", "5", "--max-procs=6", "echo", ":::", "a"}).options.jobs ==
        6);
  CHECK(config_of({"--timeout", "1", "--timeout", "2.5", "echo", ":::", "a"}).options.timeout ==
        2.5);
  CHECK(config_of({"--retries", "1", "--retries", "3", "echo", ":::", "a"}).options.retries == 3);
  CHECK(config_of({"--tag", "--tag", "-k", "-k", "echo", ":::", "a"}).options.forward.format ==
        Format::tag);
  CHECK(config_of({"--halt", "never", "--halt-on-error", "2", "echo", ":::", "a"})
            .options.halt.when == Halt::When::now);
}

TEST_CASE("cli: list options accumulate")
{
  auto dir = test::scratch("cli-lists");
  std::ofstream(dir / "f") << "1\n";
  std::ofstream(dir / "g") << "2\n";
  auto f = (dir / "f").string();
  auto g = (dir / "g").string();
  Config c = config_of({"-a", f, "-a", g, "--env", "A", "--env", "B", "echo"});
  CHECK(c.options.jobs == 0);
  // Each -a file is an input source: their items are combined, as GNU parallel's.
  auto results = map(c.command, c.items, Options{});
  REQUIRE(results.size() == 1);
  CHECK(results[0].args == std::vector<std::string>{"1", "2"});
}

TEST_CASE("cli: GNU parallel's spellings")
{
  CHECK(config_of({"--jl", "log", "echo", ":::", "a"}).options.joblog == "log");
  CHECK(config_of({"--dryrun", "echo", ":::", "a"}).options.dry_run);
  CHECK(config_of({"--lb", "--as-ready", "echo", ":::", "a"}).options.forward.line_buffer);
  CHECK(config_of({"--linebuffer", "--as-ready", "echo", ":::", "a"}).options.forward.line_buffer);
  CHECK(config_of({"-u", "echo", ":::", "a"}).options.forward.ungroup);
  CHECK(config_of({"--res", "out", "echo", ":::", "a"}).options.results == "out");
  CHECK(config_of({"--workdir", "/", "echo", ":::", "a"}).options.work_dir == "/");
  Config resumed = config_of({"--checkpoint", "x.db", "--resume-failed", "echo", ":::", "a"});
  CHECK(resumed.options.resume);
  CHECK(resumed.options.retry_failed);
  // Accepted, and parmap behaves so already.
  CHECK(config_of({"--will-cite", "--no-notice", "-q", "--quote", "--group", "echo", ":::", "a"})
            .command == Command{"echo"});
  // Other separators for ::: and ::::.
  Config sep = config_of({"--arg-sep", ",,", "echo", ",,", "a", "b"});
  CHECK(sep.command == Command{"echo"});
  CHECK(config_of({"--argsep", ",,", "echo", ":::", ",,", "a"}).command ==
        Command{"echo", ":::"});
}

TEST_CASE("cli: --halt takes GNU parallel's forms")
{
  Halt h = parse_halt("-1");
  CHECK((h.when == Halt::When::soon && h.on == Halt::On::success && h.threshold == 1));
  h = parse_halt("-2");
  CHECK((h.when == Halt::When::now && h.on == Halt::On::success));
  h = parse_halt("20%");
  CHECK((h.when == Halt::When::soon && h.on == Halt::On::fail && h.percent && h.threshold == 20));
  h = parse_halt("now,done=3");
  CHECK((h.when == Halt::When::now && h.on == Halt::On::done && !h.percent && h.threshold == 3));
  CHECK_THROWS_AS(parse_halt("now,fail=0"), UsageError);
  CHECK_THROWS_AS(parse_halt("later,fail=1"), UsageError);
}

TEST_CASE("cli: usage errors are in parmap's own words")
{
  CHECK(error_of({"--retries", "-1"}) == "parmap: --retries must not be negative (got -1)\n");
  CHECK(error_of({"--retries", "x"}) == "parmap: --retries: 'x' is not a whole number\n");
  CHECK(error_of({"-j", "99999999999999999999999"}) ==
        "parmap: --jobs: 99999999999999999999999 is too large\n");
  CHECK(error_of({"-b", "0"}) == "parmap: --batch-size must be at least 1 (got 0)\n");
  CHECK(error_of({"--kill-grace", "-1"}) == "parmap: --kill-grace must not be negative (got -1)\n");
  CHECK(error_of({"--timeout", "1m30s"}) ==
        "parmap: --timeout: '1m30s': durations are plain seconds here (90)\n");
  CHECK(error_of({"--nice", "99"}) == "parmap: --nice: '99' is not a niceness from -20 to 19\n");
  CHECK(error_of({"--halt", "sometimes"}) ==
        "parmap: --halt: 'sometimes' is not of the form [now|soon,]fail|success|done=N[%]\n");
  CHECK(error_of({"--tag", "--json"}) == "parmap: --tag and --json contradict each other\n");
  CHECK(error_of({"-u", "--tag"}) ==
        "parmap: --ungroup and --tag contradict each other (-u does not capture output)\n");
  CHECK(error_of({"--tmpdir", "/nonexistent/dir"}) ==
        "parmap: --tmpdir /nonexistent/dir: not a directory\n");
  CHECK(error_of({"--joblog", ""}) == "parmap: --joblog was given an empty value\n");
  CHECK(error_of({"--timeout", ""}) == "parmap: --timeout: '' is not a number of seconds\n");
}

TEST_CASE("cli: a near miss is named, --help is pointed to where it helps")
{
  CHECK(error_of({"--timout", "3"}) == "parmap: unknown option --timout (did you mean --timeout?)\n");
  CHECK(error_of({"--tiemout=3"}) == "parmap: unknown option --tiemout (did you mean --timeout?)\n");
  CHECK(error_of({"--keepgoing"}) ==
        "parmap: unknown option --keepgoing (did you mean --keep-going?)\n");
  CHECK(error_of({"--bogus"}) == std::string("parmap: unknown option --bogus\n") + k_help_hint);
  CHECK(error_of({"-x"}) == std::string("parmap: unknown option -x\n") + k_help_hint);
  CHECK(error_of({"--semaphore"}).starts_with(
      "parmap: --semaphore is a GNU parallel option parmap does not have ("));
  // A value missing: at the end, or followed by another option.
  auto missing = interpret_args({"--timeout"});
  CHECK(std::get<Outcome>(missing).err ==
        std::string("parmap: --timeout needs a value\n") + k_help_hint);
  missing = interpret_args({"-j"});
  CHECK(std::get<Outcome>(missing).err ==
        std::string("parmap: --jobs needs a value\n") + k_help_hint);
  auto none = interpret_args({":::", "a"});
  CHECK(std::get<Outcome>(none).err.starts_with("parmap: no command given"));
  CHECK(std::get<Outcome>(none).err.ends_with(k_help_hint));
}

TEST_CASE("cli: no CLI11 text reaches the user")
{
  // Every value option, given nothing, a word, a negative number and a huge one.
  for (const char* option : {"-j", "--timeout", "--kill-grace", "--delay", "--retries", "--halt",
                             "-b", "--max-pending", "--tail-batches-per-core",
                             "--tail-min-batch-size", "--checkpoint-every", "--nice", "-d"}) {
    for (const char* value : {"", "x", "-1", "1e999", "99999999999999999999999"}) {
      CAPTURE(option);
      CAPTURE(value);
      auto result = interpret_args({option, value, "true", ":::", "x"});
      auto* outcome = std::get_if<Outcome>(&result);
      if (outcome == nullptr) {
        continue; // a valid value (-j -1, -d x)
      }
      CHECK(outcome->status == 255);
      for (const char* cli11 : {"required", "Could not convert", "At Most", "At least", "Expected",
                                "TEXT", "INT", "FLOAT"}) {
        CHECK(outcome->err.find(cli11) == std::string::npos);
      }
      CHECK(outcome->err.starts_with("parmap: "));
    }
  }
}

TEST_CASE("cli: information options print and end the program")
{
  auto cores = std::get<Outcome>(interpret_args({"--number-of-cores"}));
  CHECK(cores.status == 0);
  CHECK(std::stoul(cores.out) >= 1);
  CHECK(std::stoul(cores.out) <= cpu_count());
  CHECK(std::get<Outcome>(interpret_args({"--number-of-cpus"})).out == cores.out);
  auto help = std::get<Outcome>(interpret_args({"--help"}));
  CHECK(help.status == 0);
  CHECK(help.out.find("--max-procs") != std::string::npos);
  CHECK(config_of({"--shellquote", "--shell-quote", ":::", "a"}).shellquote == 2);
}

TEST_CASE("cli: values")
{
  CHECK(parse_jobs("50%", 4) == 2);
  CHECK(parse_jobs("+1", 4) == 5);
  CHECK(parse_jobs("-1", 4) == 3);
  CHECK(parse_jobs("-9", 4) == 1);
  CHECK(parse_jobs("0", 4) == 1024);
  CHECK(parse_jobs("99999999999", 4) == 99999999999ULL);
  CHECK_THROWS_AS(parse_jobs("4x", 4), UsageError);
  CHECK(parse_seconds("0.5", "--delay") == 0.5);
  CHECK(parse_count("-0", "--retries") == 0);
  CHECK(parse_nice("-5") == -5);
  CHECK(parse_nice("+19") == 19);
  CHECK(edit_distance("--timout", "--timeout") == 1);
  CHECK(edit_distance("--tiemout", "--timeout") == 1);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("", "") == 0);
}

TEST_CASE("cli: -j FILE reads the count and reads it again when the file changes")
{
  auto dir = test::scratch("cli-jobs-file");
  auto path = (dir / "procs").string();
  std::ofstream(path) << "3\n";
  Config c = config_of({"-j", path, "echo", ":::", "a"});
  CHECK(c.options.jobs == 3);
  REQUIRE(c.options.jobs_update);
  CHECK_FALSE(c.options.jobs_update().has_value()); // unchanged
  JobsFile file(path, 4);
  std::ofstream(path) << "50%";
  // A new modification time; the file system's clock may be coarse, so set it.
  std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) +
                                             std::chrono::seconds(2));
  CHECK(file.poll() == std::optional<std::size_t>(2));
  CHECK_FALSE(file.poll().has_value());
  std::ofstream(path) << "lots";
  std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) +
                                             std::chrono::seconds(4));
  CHECK_THROWS_AS(file.poll(), Error);
  CHECK(file.jobs() == 2);
  CHECK(error_of({"-j", (dir / "missing").string()}) ==
        "parmap: --jobs: '" + (dir / "missing").string() +
            "' is neither a number of jobs (N, N%, +N, -N) nor a file holding one\n");
}
