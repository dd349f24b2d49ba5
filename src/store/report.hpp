// read_report() on a checkpoint already open, for the HTML report, which reads the summary and
// the run history in one snapshot.
#pragma once

#include "parmap/report.hpp"

#include <cstddef>
#include <string>

struct sqlite3;

namespace parmap {

/// As read_report(path, ...), on `db` opened by open_for_reading(path).
CheckpointReport
read_report(sqlite3* db, const std::string& path, std::size_t top, std::size_t tail_bytes);

} // namespace parmap
