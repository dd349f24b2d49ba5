// sshlogin: GNU parallel's --sshlogin / --sshloginfile syntax, parsed into hosts to connect to.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// One host of -S.
struct SshLogin {
  unsigned slots = 0;            ///< "N/" in front; 0 when not given.
  std::vector<std::string> ssh;  ///< The ssh command and its options, e.g. {"ssh", "-p", "2222"}.
  std::string host;              ///< [user@]host, or ":" for this machine.
  std::string name;              ///< As written, without "N/": the joblog's Host, PARMAP_HOST.
  bool local() const { return host == ":"; }
};

/// Parses sshlogins (each value a comma-separated list) in order: `[N/]sshlogin` where
/// sshlogin is ":", `[user@]host[:port]`, or an ssh command ending with the host
/// ("ssh -p 2222 host"). `ssh` is the default ssh command (--ssh). Repeated hosts count once.
/// Throws parmap::Error naming the bad part.
std::vector<SshLogin> parse_sshlogins(const std::vector<std::string>& values,
                                      const std::vector<std::string>& ssh);

/// The hosts in slot order, as make_ssh_executor numbers them when each has one slot
/// (Remote::on_all): this machine's ":" first, then the others as given.
std::vector<std::string> hosts_in_slot_order(const std::vector<SshLogin>& logins);

} // namespace parmap
