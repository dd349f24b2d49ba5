// Process groups recorded by one run and recognised by a later one: by the leader's start time
// (a reused pid is another process), by the boot, and without a leader by the members' PARMAP_SEQ;
// terminate_groups() ends what is recognised.
#include "base/process_groups.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>

using namespace parmap;

namespace {

/// Starts `sh -c script` as the leader of a new process group, with PARMAP_SEQ=7.
pid_t start_group(const std::string& script)
{
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    const char* env[] = {"PARMAP_SEQ=7", "PATH=/usr/bin:/bin", nullptr};
    ::execle("/bin/sh", "sh", "-c", script.c_str(), nullptr, env);
    ::_exit(127);
  }
  ::setpgid(pid, pid); // also here, so that the group exists when fork() returns
  return pid;
}

pid_t read_pid(const std::filesystem::path& file)
{
  for (int i = 0; i < 500; ++i) {
    std::ifstream in(file);
    pid_t pid = 0;
    if (in >> pid) {
      return pid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

RecordedGroup recorded(pid_t leader, std::uint64_t start, std::uint64_t seq = 7)
{
  return RecordedGroup{leader, start, boot_id(), seq};
}

bool living(const RecordedGroup& g)
{
  return !living_groups({g}).empty();
}

} // namespace

TEST_CASE("process groups: a group is known by its leader's start time and the boot")
{
  pid_t leader = start_group("exec sleep 30");
  std::uint64_t start = process_start_ticks(leader);
  REQUIRE(start > 0);
  CHECK(!boot_id().empty());
  CHECK(living(recorded(leader, start)));
  CHECK_FALSE(living(recorded(leader, start + 1))); // the pid now names another process
  RecordedGroup other_boot = recorded(leader, start);
  other_boot.boot_id = "another boot";
  CHECK_FALSE(living(other_boot));

  terminate_groups({recorded(leader, start)}, 5);
  int status = 0;
  ::waitpid(leader, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK_FALSE(living(recorded(leader, start))); // gone: reaped, the pid free
  CHECK(process_start_ticks(leader) == 0);
}

TEST_CASE("process groups: without its leader, a member proves the group by its PARMAP_SEQ")
{
  auto dir = test::scratch("groups-leaderless");
  auto pid_file = dir / "member";
  pid_t leader = start_group("sleep 30 & echo $! > '" + pid_file.string() + "'");
  std::uint64_t start = process_start_ticks(leader);
  pid_t member = read_pid(pid_file);
  REQUIRE(member > 0);
  ::waitpid(leader, nullptr, 0); // the leader is gone; the member keeps the group
  CHECK(living(recorded(leader, start)));
  CHECK_FALSE(living(recorded(leader, start, 8))); // another item's group number, reused

  // SIGTERM is ignored: SIGKILL after the grace.
  pid_t stubborn_leader = start_group("trap '' TERM; exec sleep 30");
  std::uint64_t stubborn_start = process_start_ticks(stubborn_leader);
  std::this_thread::sleep_for(std::chrono::milliseconds(200)); // the trap is set
  auto t0 = std::chrono::steady_clock::now();
  terminate_groups({recorded(leader, start), recorded(stubborn_leader, stubborn_start)}, 0.5);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(500));
  int status = 0;
  ::waitpid(stubborn_leader, &status, 0);
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(living_groups({recorded(leader, start)}).empty());
}
