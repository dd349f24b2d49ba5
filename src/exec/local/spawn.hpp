// Spawner: starts one command in its own process group (a vfork-like clone), with PATH lookups
// cached.
#pragma once

#include "base/fd.hpp"

#include <csignal>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <sys/types.h>

namespace parmap {

/// A started child, or why it could not start.
struct Spawned {
  pid_t pid = -1;
  std::string message; ///< One line for the item's stderr when it could not start.
  int exit_code = 0;   ///< 127 (not found) or 126 (found but not runnable) when it failed.
};

/// Starts children cheaply: clone(CLONE_VM | CLONE_VFORK), as posix_spawn does (cost
/// independent of parmap's size), with each child leading its own process group, closefrom(3)
/// so no descriptor of parmap's leaks in, signal handlers back to the default (what is ignored
/// stays ignored), and, when started from the main thread, PR_SET_PDEATHSIG = SIGTERM: a child
/// gets SIGTERM if parmap dies (even of SIGKILL). posix_spawn cannot do the last step; this is
/// no slower (bench/README.md, "spawn").
class Spawner {
public:
  /// `null_stdin`: children read /dev/null instead of parmap's stdin. `reset_sigpipe`: children
  /// get SIGPIPE's default action (parmap ignores it for itself; its own parent may not have).
  Spawner(bool null_stdin, bool reset_sigpipe);

  /// The descriptors a child gets: stdout and stderr, and stdin when `in` is not -1 (else
  /// parmap's own stdin, or /dev/null with `null_stdin`).
  struct Stdio {
    int out = -1;
    int err = -1;
    int in = -1;
  };
  /// Spawns argv with the environment `env`, where each NAME=VALUE of `overrides` replaces
  /// the entry of the same name (or is added), in directory `work_dir` (parmap's own when
  /// empty; the caller checks that it exists).
  Spawned spawn(const std::vector<std::string>& argv,
                const std::vector<std::string>& env,
                const std::vector<std::string>& overrides,
                Stdio stdio,
                const std::string& work_dir = {});

private:
  struct Resolved {
    std::string path;
    int error = 0;
  };
  const Resolved& resolve(const std::string& name);
  /// Starts path; returns 0, or the errno of the failure (pid is then not a child any more).
  int spawn_path(const char* path, char* const* argv, Stdio stdio, const std::string& work_dir,
                 pid_t& pid);
  void set_env(const std::vector<std::string>& env, const std::vector<std::string>& overrides);

  bool m_null_stdin;
  bool m_reset_sigpipe;
  Fd m_devnull;
  sigset_t m_mask{};
  std::unique_ptr<char[]> m_stack; ///< The child's stack until it execs.
  std::unordered_map<std::string, Resolved> m_paths;
  std::vector<char*> m_argv_ptrs;
  std::vector<char*> m_env_ptrs;
};

/// execvp's search of PATH for `name` (a name holding '/' is its own path). Returns the path,
/// or empty with `error` set to ENOENT (not found) or EACCES (found, not executable).
std::string find_program(const std::string& name, int& error);

/// What a command's first word names.
enum class CommandKind {
  program,  ///< A path, a program in PATH, or nothing known (it then fails with 127).
  builtin,  ///< A shell builtin no PATH directory holds (cd, exit, export, source...).
  function, ///< A bash function exported into `env` (export -f): bash runs it before a program.
};
CommandKind classify_command(const std::string& name, const std::vector<std::string>& env);

/// The most bytes one command line may take in exec() here (its strings with their NULs and a
/// pointer each): ARG_MAX less what the environment `env` takes, less xargs' 2048 bytes of
/// slack and room for the variables parmap adds.
std::size_t exec_line_limit(const std::vector<std::string>& env);

/// A pidfd for `pid` (invalid where the kernel has none: before Linux 5.3).
Fd open_pidfd(pid_t pid);

/// Environment of parmap at the start of a run, as NAME=VALUE strings.
std::vector<std::string> snapshot_environment();

/// True when `entry` (NAME=VALUE) sets the variable `assignment` (NAME=...) sets.
bool same_variable(const std::string& entry, const std::string& assignment);
/// Replaces (or adds) each of `assignments` in `env`.
void override_env(std::vector<std::string>& env, const std::vector<std::string>& assignments);

} // namespace parmap
