// run: carries out a parsed command line and turns the outcome into parmap's exit status.
#pragma once

#include "cli.hpp"

namespace parmap::cli {

/// Runs the Config and returns the exit status. After SIGINT, SIGTERM or SIGHUP (and a
/// closed stdout: SIGPIPE) it re-raises the signal once everything is cleaned up, so the
/// shell sees the process die of it.
int run(Config& config);

/// Makes sure descriptors 0, 1 and 2 are open (on /dev/null if they were closed), so that no
/// pipe or file parmap opens lands on them.
void ensure_standard_fds();

} // namespace parmap::cli
