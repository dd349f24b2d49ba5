#include "base/process_groups.hpp"

#include "base/fd.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <thread>
#include <unistd.h>

namespace parmap {
namespace {

/// What /proc/PID/stat says about a process.
struct ProcessStat {
  pid_t pid = 0;
  pid_t pgrp = 0;
  char state = '?';
  std::uint64_t start = 0;
  bool alive() const { return state != 'Z' && state != 'X'; }
};

std::string read_file(const std::string& path)
{
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string data;
  if (!fd) {
    return data;
  }
  char buf[4096];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;) {
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

bool read_stat(pid_t pid, ProcessStat& out)
{
  std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) {
    return false;
  }
  const char* p = text.c_str() + close + 1;
  out.pid = pid;
  for (int field = 3; field <= 22; ++field) {
    while (*p == ' ') {
      ++p;
    }
    if (*p == '\0') {
      return false;
    }
    if (field == 3) {
      out.state = *p;
    } else if (field == 5) {
      out.pgrp = static_cast<pid_t>(std::strtol(p, nullptr, 10));
    } else if (field == 22) {
      out.start = std::strtoull(p, nullptr, 10);
    }
    while (*p != ' ' && *p != '\0') {
      ++p;
    }
  }
  return true;
}

/// Every process this one can see.
std::vector<ProcessStat> all_processes()
{
  std::vector<ProcessStat> all;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) {
    return all;
  }
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    ProcessStat st;
    if (pid > 0 && *end == '\0' && read_stat(static_cast<pid_t>(pid), st)) {
      all.push_back(st);
    }
  }
  ::closedir(dir);
  return all;
}

/// True when the process's initial environment holds `entry` (NAME=VALUE) exactly.
bool has_environment_entry(pid_t pid, const std::string& entry)
{
  std::string env = '\0' + read_file("/proc/" + std::to_string(pid) + "/environ");
  return env.find('\0' + entry + '\0') != std::string::npos;
}

std::vector<pid_t> members_of(const RecordedGroup& group, const std::vector<ProcessStat>& all)
{
  if (group.pgid <= 0 || group.boot_id != boot_id()) {
    return {};
  }
  auto leader = std::find_if(all.begin(), all.end(),
                             [&](const ProcessStat& p) { return p.pid == group.pgid; });
  // A live group keeps its number from being given to a new process, so a process with that
  // pid but another start time means the recorded group is gone.
  bool leader_known = leader != all.end();
  if (leader_known && leader->start != group.leader_start) {
    return {};
  }
  std::string mark = std::string(k_seq_variable) + "=" + std::to_string(group.seq);
  std::vector<pid_t> members;
  bool proven = leader_known;
  for (const ProcessStat& p : all) {
    if (p.pgrp != group.pgid || !p.alive() || p.start < group.leader_start) {
      continue;
    }
    members.push_back(p.pid);
    // Without the leader, the number may have gone round to a new group: a member must show
    // that it descends from the item.
    proven = proven || has_environment_entry(p.pid, mark);
  }
  return proven ? members : std::vector<pid_t>();
}

} // namespace

std::uint64_t process_start_ticks(pid_t pid)
{
  ProcessStat st;
  return read_stat(pid, st) ? st.start : 0;
}

const std::string& boot_id()
{
  static const std::string id = [] {
    std::string text = read_file("/proc/sys/kernel/random/boot_id");
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
      text.pop_back();
    }
    return text;
  }();
  return id;
}

std::vector<RecordedGroup> living_groups(const std::vector<RecordedGroup>& groups)
{
  std::vector<RecordedGroup> living;
  if (groups.empty()) {
    return living;
  }
  std::vector<ProcessStat> all = all_processes();
  for (const RecordedGroup& g : groups) {
    if (!members_of(g, all).empty()) {
      living.push_back(g);
    }
  }
  return living;
}

void terminate_groups(const std::vector<RecordedGroup>& groups, double grace)
{
  std::vector<RecordedGroup> left = living_groups(groups);
  for (const RecordedGroup& g : left) {
    ::kill(-g.pgid, SIGTERM);
    ::kill(-g.pgid, SIGCONT); // a stopped process acts on SIGTERM only once continued
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace);
  while (!left.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    left = living_groups(left);
  }
  for (const RecordedGroup& g : left) {
    ::kill(-g.pgid, SIGKILL); // a killed process never runs another instruction of its own
  }
}

} // namespace parmap
