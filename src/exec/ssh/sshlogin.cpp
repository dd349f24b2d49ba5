#include "exec/ssh/sshlogin.hpp"

#include "exec/command.hpp"
#include "parmap/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

namespace parmap {
namespace {

bool all_digits(std::string_view s)
{
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

SshLogin parse_one(std::string_view text, const std::vector<std::string>& ssh)
{
  auto bad = [&](const std::string& why) -> Error {
    return Error(fmt::format("--sshlogin '{}': {}", text, why));
  };
  SshLogin login;
  std::string_view rest = text;
  if (rest.starts_with('@')) {
    throw bad("host groups (@group/) are not supported");
  }
  auto slash = rest.find('/');
  if (slash != std::string_view::npos && all_digits(rest.substr(0, slash))) {
    login.slots = static_cast<unsigned>(std::strtoul(std::string(rest.substr(0, slash)).c_str(),
                                                     nullptr, 10));
    if (login.slots == 0) {
      throw bad("the number of slots (N/) must be at least 1");
    }
    rest.remove_prefix(slash + 1);
  }
  std::vector<std::string> words = split_words(rest);
  if (words.empty()) {
    throw bad("no host");
  }
  login.host = words.back();
  words.pop_back();
  login.ssh = words.empty() ? ssh : words; // "ssh -p 2222 host": its own ssh command
  login.name = login.host;
  if (login.host == ":") {
    return login;
  }
  // host:port (and user@host:port)
  auto colon = login.host.rfind(':');
  if (colon != std::string::npos && all_digits(std::string_view(login.host).substr(colon + 1))) {
    login.ssh.push_back("-p");
    login.ssh.push_back(login.host.substr(colon + 1));
    login.host.resize(colon);
  }
  if (login.host.empty() || login.host.starts_with('-') || login.host.find(':') != std::string::npos) {
    throw bad("not a host ([user@]host[:port])");
  }
  return login;
}

void add_unique(std::vector<SshLogin>& all, SshLogin login)
{
  bool seen = std::any_of(all.begin(), all.end(), [&](const SshLogin& l) {
    return l.host == login.host && l.ssh == login.ssh;
  });
  if (!seen) {
    all.push_back(std::move(login));
  }
}

} // namespace

std::vector<SshLogin> parse_sshlogins(const std::vector<std::string>& values,
                                      const std::vector<std::string>& ssh)
{
  std::vector<SshLogin> all;
  for (const auto& value : values) {
    std::size_t start = 0;
    while (start <= value.size()) {
      std::size_t end = value.find(',', start);
      std::string part = value.substr(start, end == std::string::npos ? value.npos : end - start);
      start = end == std::string::npos ? value.size() + 1 : end + 1;
      add_unique(all, parse_one(part, ssh));
    }
  }
  return all;
}

std::vector<std::string> hosts_in_slot_order(const std::vector<SshLogin>& logins)
{
  std::vector<std::string> hosts;
  if (std::any_of(logins.begin(), logins.end(), [](const SshLogin& l) { return l.local(); })) {
    hosts.emplace_back(":");
  }
  for (const auto& login : logins) {
    if (!login.local()) {
      hosts.push_back(login.name);
    }
  }
  return hosts;
}

} // namespace parmap
