// values: the command line's option values (counts, seconds, -j, --halt, -d) turned into
// parmap's types, with one message per mistake naming the option and what was given.
#pragma once

#include "parmap/options.hpp"

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace parmap::cli {

/// A command line parmap cannot run. Reported as "parmap: <message>", exit status 255; with
/// `hint_help`, followed by a pointer to --help (for mistakes --help answers: an unknown
/// option, a missing value or command).
class UsageError : public std::runtime_error {
public:
  explicit UsageError(const std::string& message, bool hint_help = false)
      : std::runtime_error(message), m_hint_help(hint_help)
  {
  }
  bool hint_help() const { return m_hint_help; }

private:
  bool m_hint_help;
};

/// A whole number of at least `min`. Throws UsageError: not a number, negative, too large,
/// below `min`.
std::size_t parse_count(std::string_view text, std::string_view option, std::size_t min = 0);

/// A non-negative decimal number of seconds. Throws UsageError (and points a GNU-style
/// duration such as 1m30s to its value in seconds).
double parse_seconds(std::string_view text, std::string_view option);

/// -j: N, N% of `cpus`, +N / -N relative to them, or 0 for as many as possible (1024). The
/// count asked for, not yet limited by anything. Throws UsageError.
std::size_t parse_jobs(std::string_view text, unsigned cpus, std::string_view option = "--jobs");

/// -d: one character, or an escape: \n \t \r \0 \\ \xHH. Throws UsageError.
char parse_delimiter(std::string_view text);

/// --halt: never | [now|soon,](fail|success|done)=N[%], and GNU parallel's short forms 0, 1,
/// 2, -1, -2 and N% (= soon,fail=N%). Throws UsageError.
Halt parse_halt(std::string_view text);

/// --nice: a whole number from -20 to 19. Throws UsageError.
int parse_nice(std::string_view text);

} // namespace parmap::cli
