// Process groups of items recognised across parmap's lives: a group recorded by one run (its
// number, its leader's start time, the boot) is found, or known gone, by a later one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace parmap {

/// The environment variable each local item gets with its sequence number; the members of its
/// process group inherit it.
inline constexpr std::string_view k_seq_variable = "PARMAP_SEQ";

/// An item's process group as a run records it.
struct RecordedGroup {
  pid_t pgid = 0;                 ///< The group's number: its leader's pid.
  std::uint64_t leader_start = 0; ///< The leader's start time, clock ticks after boot.
  std::string boot_id;            ///< The boot it ran in (/proc/sys/kernel/random/boot_id).
  std::uint64_t seq = 0;          ///< The item's k_seq_variable value.
};

/// A process's start time in clock ticks after boot (/proc/PID/stat field 22), 0 if there is
/// no such process.
std::uint64_t process_start_ticks(pid_t pid);

/// This boot's id, read once.
const std::string& boot_id();

/// The recorded groups that still have live processes (not zombies) on this boot and are the
/// recorded ones. A group is recognised by its leader (alive, or a zombie nobody reaped, with
/// the recorded start time: a pid reused since is another process); once the leader is gone,
/// by a member that started after it and inherited the item's k_seq_variable. Groups recorded
/// in another boot (or on another host) are never alive here.
std::vector<RecordedGroup> living_groups(const std::vector<RecordedGroup>& groups);

/// Terminates recorded groups that still live: SIGTERM (and SIGCONT, for a stopped one), then
/// SIGKILL to what is left after `grace` seconds. Returns when they are gone or killed.
void terminate_groups(const std::vector<RecordedGroup>& groups, double grace);

} // namespace parmap
