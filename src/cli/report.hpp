// print_report: --report, as text or (with --json) as one JSON object.
#pragma once

#include <string>

namespace parmap::cli {

/// Prints the summary of the checkpoint at `path` on stdout; returns the exit status (255 when
/// the file cannot be read).
int print_report(const std::string& path, bool json);

} // namespace parmap::cli
