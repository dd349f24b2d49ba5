// print_report: --report, as text or (with --json) as one JSON object.
#pragma once

#include <string>

namespace parmap::cli {

/// Prints the summary of the checkpoint at `path` on stdout; returns the exit status (255 when
/// the file cannot be read).
int print_report(const std::string& path, bool json);

/// --report --html FILE and/or --report --joblog FILE: writes the HTML report of the checkpoint
/// at `path` and GNU parallel's joblog of its results (one line per result, session after
/// session, in input order) to those files (empty: not asked for; "-": stdout). Returns the
/// exit status (255 when a file cannot be read or written).
int write_report_files(const std::string& path, const std::string& html, const std::string& joblog);

} // namespace parmap::cli
