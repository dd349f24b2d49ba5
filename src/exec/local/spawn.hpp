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

  /// Spawns argv with `env` as its whole environment and stdout/stderr on out_fd/err_fd.
  Spawned spawn(const std::vector<std::string>& argv,
                const std::vector<std::string>& env,
                int out_fd,
                int err_fd);

private:
  struct Resolved {
    std::string path;
    int error = 0;
  };
  const Resolved& resolve(const std::string& name);
  /// Starts path; returns 0, or the errno of the failure (pid is then not a child any more).
  int spawn_path(const char* path, char* const* argv, int out_fd, int err_fd, pid_t& pid);

  bool m_null_stdin;
  bool m_reset_sigpipe;
  Fd m_devnull;
  sigset_t m_mask{};
  std::unique_ptr<char[]> m_stack; ///< The child's stack until it execs.
  std::unordered_map<std::string, Resolved> m_paths;
  std::vector<char*> m_argv_ptrs;
  std::vector<char*> m_env_ptrs;
};

/// Environment of parmap at the start of a run, as NAME=VALUE strings.
std::vector<std::string> snapshot_environment();

} // namespace parmap
