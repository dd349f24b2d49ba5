#include "remote_options.hpp"

#include "values.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>

extern char** environ;

namespace parmap::cli {
namespace {

/// $PARALLEL_HOME, or ~/.parallel: where GNU parallel keeps sshloginfile and ignored_vars.
std::string parallel_home()
{
  const char* home = std::getenv("PARALLEL_HOME");
  if (home != nullptr && *home != '\0') {
    return home;
  }
  home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.parallel";
}

std::string read_text(const std::string& path, const char* option)
{
  std::ifstream in(path, std::ios::binary);
  if (path != "-" && !in) {
    throw UsageError(fmt::format("{} {}: {}", option, path, std::strerror(errno)));
  }
  std::istream& from = path == "-" ? std::cin : in;
  return std::string(std::istreambuf_iterator<char>(from), {});
}

/// An sshloginfile's logins: one a line, blank lines and '#' comments skipped.
void add_sshloginfile(const std::string& name, std::vector<std::string>& logins)
{
  std::string path = name == ".." ? parallel_home() + "/sshloginfile" : name;
  std::istringstream text(read_text(path, "--sshloginfile"));
  for (std::string line; std::getline(text, line);) {
    auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '#') {
      logins.push_back(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
    }
  }
}

/// The variables a clean environment lacks: all but those named in ignored_vars (as
/// env_parallel --record-env writes it).
void add_recorded_env(std::vector<std::string>& names)
{
  std::string path = parallel_home() + "/ignored_vars";
  std::ifstream in(path);
  if (!in) {
    throw UsageError(fmt::format(
        "--env _ copies the variables a clean environment lacks, listed in {}, which cannot be "
        "read ({}); write it from a clean shell with: compgen -e > {}",
        path, std::strerror(errno), path));
  }
  std::set<std::string> ignored;
  for (std::string line; std::getline(in, line);) {
    ignored.insert(line);
  }
  for (char** e = environ; *e != nullptr; ++e) {
    std::string var(*e, std::strcspn(*e, "="));
    if (!ignored.contains(var)) {
      names.push_back(var);
    }
  }
}

/// --env: names, comma lists allowed; "_" is every variable not named in ignored_vars.
std::vector<std::string> env_names(const std::vector<std::string>& values)
{
  std::vector<std::string> names;
  for (const auto& value : values) {
    std::istringstream parts(value);
    for (std::string name; std::getline(parts, name, ',');) {
      if (name == "_") {
        add_recorded_env(names);
      } else {
        names.push_back(name);
      }
    }
  }
  return names;
}

/// A file option that may be given many times, each value kept.
CLI::Option* files(CLI::App& app, const char* names, std::vector<std::string>& into,
                   const char* help)
{
  return app.add_option(names, into, help)
      ->type_name("FILE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false)
      ->group("Remote hosts");
}

} // namespace

void add_remote_options(CLI::App& app, Options& o, Raw& r)
{
  const char* remote = "Remote hosts";
  Remote& rm = o.remote;
  app.add_option("-S,--sshlogin", r.sshlogins,
                 "Run jobs on [N/][user@]HOST[:PORT] too (: is this machine); comma lists")
      ->type_name("LOGIN")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false)
      ->group(remote);
  files(app, "--sshloginfile,--slf", r.sshloginfiles,
        "Read sshlogins from FILE, one a line (.. = ~/.parallel/sshloginfile, - = stdin)");
  app.add_option("--ssh", rm.ssh, "The ssh command (also $PARALLEL_SSH)")
      ->type_name("CMD")
      ->default_str("ssh")
      ->group(remote);
  app.add_option("--remote-parmap", rm.remote_parmap,
                 "parmap on the remote hosts (--slurm: this parmap's path)")
      ->type_name("PATH")
      ->default_str("parmap")
      ->group(remote);
  files(app, "--transferfile,--tf", rm.transfer, "Send FILE (a template) to the host first");
  app.add_flag("--transfer", r.transfer, "Send the item's file first (--transferfile {})")
      ->group(remote);
  files(app, "--return", rm.returns, "Bring FILE (a template) back after the job");
  app.add_flag("--cleanup", rm.cleanup, "Remove transferred and returned files on the host")
      ->group(remote);
  files(app, "--trc", r.trc, "--transfer --return FILE --cleanup");
  files(app, "--basefile,--bf", rm.basefiles, "Send FILE once to each host before its jobs");
  app.add_flag("--onall", r.onall, "Run every item on every host, one at a time on each")
      ->group(remote);
  app.add_flag("--nonall", r.nonall, "Run the command once on every host, without items")
      ->group(remote);

  const char* slurm = "Slurm";
  app.add_flag("--slurm", rm.slurm,
               "Run items as job steps of this Slurm allocation: one long-lived step per slot")
      ->group(slurm);
  app.add_option("--slurm-alloc", rm.slurm_alloc,
                 "Get an allocation with salloc ARGS for the run (as --slurm), release it at the end")
      ->type_name("ARGS")
      ->group(slurm);
}

void finish_remote(const Raw& r, Options& o)
{
  Remote& rm = o.remote;
  for (const auto& login : r.sshlogins) {
    if (login == "..") {
      add_sshloginfile("..", rm.sshlogins);
    } else {
      rm.sshlogins.push_back(login);
    }
  }
  for (const auto& file : r.sshloginfiles) {
    add_sshloginfile(file, rm.sshlogins);
  }
  if (rm.ssh == "ssh") {
    if (const char* ssh = std::getenv("PARALLEL_SSH"); ssh != nullptr && *ssh != '\0') {
      rm.ssh = ssh;
    }
  }
  if (r.transfer || !r.trc.empty()) {
    rm.transfer.emplace_back("{}");
  }
  rm.returns.insert(rm.returns.end(), r.trc.begin(), r.trc.end());
  rm.cleanup = rm.cleanup || !r.trc.empty();
  rm.env = env_names(r.env);
  rm.on_all = r.onall || r.nonall;
  if (rm.on_all && rm.uses_slurm()) {
    throw UsageError(fmt::format("--{} runs on the hosts of -S; Slurm's are not named: drop --slurm",
                                 r.nonall ? "nonall" : "onall"));
  }
  if (rm.on_all && rm.sshlogins.empty()) {
    rm.sshlogins.emplace_back(":"); // no host given: this machine, as GNU parallel does
  }
}

} // namespace parmap::cli
