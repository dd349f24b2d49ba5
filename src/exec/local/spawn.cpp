#include "exec/local/spawn.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace parmap {
namespace {

/// Everything the child needs, prepared by the parent. The child runs on the parent's memory
/// (CLONE_VM) while the parent's thread waits (CLONE_VFORK): it must not allocate, lock, or
/// run any of the parent's signal handlers, so it makes raw system calls only.
struct ChildSetup {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int stdin_fd = -1; ///< Dup'ed to 0 when >= 0.
  int out_fd = -1;
  int err_fd = -1;
  const char* work_dir = nullptr; ///< chdir'ed to when not null.
  const sigset_t* mask = nullptr; ///< The child's signal mask.
  bool reset_sigpipe = false;
  int death_signal = 0; ///< PR_SET_PDEATHSIG, 0 for none.
  pid_t parent = 0;
  int error = 0; ///< Set by the child when it cannot exec.
};

/// The kernel's struct sigaction, which rt_sigaction(2) takes (glibc's differs).
struct KernelSigaction {
  void (*handler)(int) = SIG_DFL;
  unsigned long flags = 0;
  void (*restorer)() = nullptr;
  std::uint64_t mask = 0;
};

constexpr std::size_t k_child_stack = 64 * 1024;

/// Sanitizers must stay out: their bookkeeping is the parent's, and the child never returns.
[[noreturn]] __attribute__((no_sanitize("address", "thread", "undefined"))) void
child_exit(ChildSetup& s)
{
  s.error = errno;
  ::syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

__attribute__((no_sanitize("address", "thread", "undefined"))) int child_main(void* arg)
{
  ChildSetup& s = *static_cast<ChildSetup*>(arg);
  // Every signal is blocked (the parent blocked them before clone). A handler must not run
  // here, on the parent's memory, once the mask is restored: back to the default, as exec would
  // do anyway; what is ignored stays ignored. SIGPIPE, which parmap ignores for itself, too.
  const KernelSigaction default_action;
  for (int sig = 1; sig < NSIG; ++sig) {
    KernelSigaction old;
    if (::syscall(SYS_rt_sigaction, sig, nullptr, &old, sizeof old.mask) != 0) {
      continue;
    }
    bool handled = old.handler != SIG_DFL && old.handler != SIG_IGN;
    if (handled || (sig == SIGPIPE && s.reset_sigpipe)) {
      ::syscall(SYS_rt_sigaction, sig, &default_action, nullptr, sizeof old.mask);
    }
  }
  if (::syscall(SYS_setpgid, 0, 0) != 0 ||
      (s.stdin_fd >= 0 && ::syscall(SYS_dup2, s.stdin_fd, STDIN_FILENO) < 0) ||
      ::syscall(SYS_dup2, s.out_fd, STDOUT_FILENO) < 0 ||
      ::syscall(SYS_dup2, s.err_fd, STDERR_FILENO) < 0 ||
      (s.work_dir != nullptr && ::syscall(SYS_chdir, s.work_dir) != 0)) {
    child_exit(s);
  }
  // Belt and braces over O_CLOEXEC: descriptors opened by other threads of an embedding program
  // without it must not reach the child either (kernels before 5.9: O_CLOEXEC alone).
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
  if (s.death_signal != 0) {
    ::syscall(SYS_prctl, PR_SET_PDEATHSIG, s.death_signal, 0, 0, 0);
    if (::syscall(SYS_getppid) != s.parent) {
      child_exit(s); // parmap died before the line above: nobody would stop this child
    }
  }
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, s.mask, nullptr, sizeof(std::uint64_t));
  ::syscall(SYS_execve, s.path, s.argv, s.envp);
  child_exit(s);
}

#if defined(__SANITIZE_THREAD__)
#define PARMAP_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PARMAP_UNDER_TSAN 1
#endif
#endif

using CloneFunction = int (*)(int (*)(void*), void*, int, void*, ...);

/// glibc's clone. ThreadSanitizer intercepts clone() as a fork and runs its fork bookkeeping in
/// the child, which here shares the parent's memory (CLONE_VM): the parent would then believe
/// itself a forked child and die at its next new thread. The child makes raw system calls only,
/// so TSan has nothing to learn from it and is stepped around.
CloneFunction libc_clone()
{
#ifdef PARMAP_UNDER_TSAN
  static const auto function = [] {
    void* libc = ::dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void* symbol = libc != nullptr ? ::dlsym(libc, "clone") : nullptr;
    return symbol != nullptr ? reinterpret_cast<CloneFunction>(symbol) : &::clone;
  }();
  return function;
#else
  return &::clone;
#endif
}

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

Spawner::Spawner(bool null_stdin, bool reset_sigpipe)
    : m_null_stdin(null_stdin), m_reset_sigpipe(reset_sigpipe), m_stack(new char[k_child_stack])
{
  if (m_null_stdin) {
    m_devnull.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!m_devnull) {
      throw_errno("/dev/null", errno);
    }
  }
  // Children get the signal mask parmap had when the run began.
  pthread_sigmask(SIG_SETMASK, nullptr, &m_mask);
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
  ChildSetup setup;
  setup.path = path;
  setup.argv = argv;
  setup.envp = m_env_ptrs.data();
  setup.stdin_fd = stdio.in >= 0 ? stdio.in : m_null_stdin ? m_devnull.get() : -1;
  setup.out_fd = stdio.out;
  setup.err_fd = stdio.err;
  setup.work_dir = work_dir.empty() ? nullptr : work_dir.c_str();
  setup.mask = &m_mask;
  setup.reset_sigpipe = m_reset_sigpipe;
  // PR_SET_PDEATHSIG fires when the spawning thread ends, not the process: only the main
  // thread, which ends with the process, may ask for it.
  setup.death_signal = ::gettid() == ::getpid() ? SIGTERM : 0;
  setup.parent = ::getpid();
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // Returns once the child has exec'd or exited: the group exists, or the error is known.
  pid = libc_clone()(child_main, m_stack.get() + k_child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                &setup);
  int error = pid < 0 ? errno : setup.error;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid > 0 && error != 0) {
    int status = 0;
    retry_eintr([&] { return ::waitpid(pid, &status, 0); }); // it exited: collect it
  }
  return error;
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
