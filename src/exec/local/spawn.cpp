#include "exec/local/spawn.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char** environ;

namespace parmap {
namespace {

/// Holds posix_spawn's attribute objects for one call.
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  SpawnSetup()
  {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup()
  {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

bool is_executable_file(const std::string& path, int& error)
{
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    error = errno;
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = EACCES;
    return false;
  }
  if (::access(path.c_str(), X_OK) != 0) {
    error = errno;
    return false;
  }
  return true;
}

/// Shell builtins a PATH directory does not usually hold (echo, printf, test, kill... are
/// programs too, and run directly).
constexpr std::array<std::string_view, 49> k_builtins{
    ".",       ":",        "alias",    "bg",      "break",   "builtin", "caller",  "cd",
    "command", "compgen",  "complete", "continue", "declare", "dirs",    "disown",  "enable",
    "eval",    "exec",     "exit",     "export",  "fc",      "fg",      "getopts", "hash",
    "help",    "history",  "jobs",     "let",     "local",   "logout",  "mapfile", "popd",
    "pushd",   "read",     "readarray", "readonly", "return", "set",    "shift",   "shopt",
    "source",  "times",    "trap",     "typeset", "ulimit",  "umask",   "unalias", "unset",
    "wait"};

} // namespace

std::string find_program(const std::string& name, int& error)
{
  error = 0;
  if (name.find('/') != std::string::npos) {
    return name;
  }
  // execvp's search: an executable regular file wins; a match that cannot be executed is
  // remembered as EACCES.
  const char* path_env = std::getenv("PATH");
  std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  error = ENOENT;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) {
      end = path.size();
    }
    std::string dir = path.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    int err = 0;
    if (is_executable_file(candidate, err)) {
      error = 0;
      return candidate;
    }
    if (err == EACCES) {
      error = EACCES;
    }
    start = end + 1;
  }
  return {};
}

CommandKind classify_command(const std::string& name, const std::vector<std::string>& env)
{
  if (name.find('/') != std::string::npos) {
    return CommandKind::program;
  }
  std::string exported = "BASH_FUNC_" + name + "%%=";
  if (std::any_of(env.begin(), env.end(),
                  [&](const std::string& e) { return e.starts_with(exported); })) {
    return CommandKind::function; // bash prefers a function to a program of the same name
  }
  int error = 0;
  if (!find_program(name, error).empty() || error == EACCES) {
    return CommandKind::program;
  }
  bool builtin = std::find(k_builtins.begin(), k_builtins.end(), name) != k_builtins.end();
  return builtin ? CommandKind::builtin : CommandKind::program;
}

std::size_t exec_line_limit(const std::vector<std::string>& env)
{
  long arg_max = ::sysconf(_SC_ARG_MAX);
  auto limit = static_cast<std::size_t>(arg_max > 0 ? arg_max : 128 * 1024);
  std::size_t used = sizeof(char*) + 2048 + 256;
  for (const auto& e : env) {
    used += e.size() + 1 + sizeof(char*);
  }
  return limit > used + 4096 ? limit - used : 4096;
}

std::vector<std::string> snapshot_environment()
{
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    env.emplace_back(*e);
  }
  return env;
}

Fd open_pidfd(pid_t pid)
{
  return Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

bool same_variable(const std::string& entry, const std::string& assignment)
{
  auto eq = assignment.find('=');
  return eq != std::string::npos && entry.size() > eq &&
         entry.compare(0, eq + 1, assignment, 0, eq + 1) == 0;
}

void override_env(std::vector<std::string>& env, const std::vector<std::string>& assignments)
{
  for (const auto& a : assignments) {
    std::erase_if(env, [&](const std::string& e) { return same_variable(e, a); });
    env.push_back(a);
  }
}

Spawner::Spawner(bool null_stdin, bool reset_sigpipe) : m_null_stdin(null_stdin)
{
  if (m_null_stdin) {
    m_devnull.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!m_devnull) {
      throw_errno("/dev/null", errno);
    }
  }
  // Children get the signal mask parmap had when the run began. Signals with handlers are
  // reset by exec on their own; an ignored SIGPIPE would be inherited, so reset it explicitly.
  pthread_sigmask(SIG_SETMASK, nullptr, &m_mask);
  sigemptyset(&m_default);
  if (reset_sigpipe) {
    sigaddset(&m_default, SIGPIPE);
  }
}

const Spawner::Resolved& Spawner::resolve(const std::string& name)
{
  auto it = m_paths.find(name);
  if (it != m_paths.end()) {
    return it->second;
  }
  Resolved r;
  // Once per command name instead of once per item.
  r.path = find_program(name, r.error);
  return m_paths.emplace(name, std::move(r)).first->second;
}

int Spawner::spawn_path(const char* path, char* const* argv, Stdio stdio,
                        const std::string& work_dir, pid_t& pid)
{
  SpawnSetup setup;
  if (stdio.in >= 0) {
    posix_spawn_file_actions_adddup2(&setup.actions, stdio.in, STDIN_FILENO);
  } else if (m_null_stdin) {
    posix_spawn_file_actions_adddup2(&setup.actions, m_devnull.get(), STDIN_FILENO);
  }
  posix_spawn_file_actions_adddup2(&setup.actions, stdio.out, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, stdio.err, STDERR_FILENO);
  // Belt and braces over O_CLOEXEC: descriptors opened by other threads of an embedding
  // program without it must not reach the child either.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
  if (!work_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&setup.actions, work_dir.c_str());
  }
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setsigmask(&setup.attr, &m_mask);
  posix_spawnattr_setsigdefault(&setup.attr, &m_default);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF);
  // posix_spawn returns only after the exec: the group exists, or the error is known.
  return ::posix_spawn(&pid, path, &setup.actions, &setup.attr, argv, m_env_ptrs.data());
}

void Spawner::set_env(const std::vector<std::string>& env,
                      const std::vector<std::string>& overrides)
{
  m_env_ptrs.clear();
  for (const auto& e : env) {
    bool replaced = std::any_of(overrides.begin(), overrides.end(),
                                [&](const std::string& o) { return same_variable(e, o); });
    if (!replaced) {
      m_env_ptrs.push_back(const_cast<char*>(e.c_str()));
    }
  }
  for (const auto& o : overrides) {
    m_env_ptrs.push_back(const_cast<char*>(o.c_str()));
  }
  m_env_ptrs.push_back(nullptr);
}

Spawned Spawner::spawn(const std::vector<std::string>& argv,
                       const std::vector<std::string>& env,
                       const std::vector<std::string>& overrides,
                       Stdio stdio,
                       const std::string& work_dir)
{
  Spawned result;
  int error = 0; // errno of the failure to start
  const std::string& name = argv.front();
  const Resolved& target = resolve(name);
  if (target.error != 0) {
    error = target.error;
  } else {
    m_argv_ptrs.clear();
    for (const auto& a : argv) {
      m_argv_ptrs.push_back(const_cast<char*>(a.c_str()));
    }
    m_argv_ptrs.push_back(nullptr);
    set_env(env, overrides);
    error = spawn_path(target.path.c_str(), m_argv_ptrs.data(), stdio, work_dir, result.pid);
    if (error == ENOEXEC) {
      // A script without #!: run it with sh, as execvp does.
      std::string path = target.path;
      m_argv_ptrs.insert(m_argv_ptrs.begin(), const_cast<char*>("sh"));
      m_argv_ptrs[1] = path.data();
      error = spawn_path("/bin/sh", m_argv_ptrs.data(), stdio, work_dir, result.pid);
    }
  }
  if (error != 0) {
    result.pid = -1;
    result.exit_code = error == ENOENT ? 127 : 126;
    if (error == ENOENT && name.find('/') == std::string::npos) {
      result.message = name + ": command not found";
    } else {
      result.message = name + ": " + std::strerror(error);
    }
  }
  return result;
}

} // namespace parmap
