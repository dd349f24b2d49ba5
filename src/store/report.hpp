// What --report and the HTML report share: a checkpoint opened to be reported on, and
// read_report() on it, so that the HTML report reads the summary and the run history in one
// snapshot.
#pragma once

#include "parmap/report.hpp"
#include "store/checkpoint_file.hpp"

#include <cstddef>
#include <string>

namespace parmap {

/// open_for_reading(), refusing an empty file (no checkpoint yet). Throws parmap::Error naming
/// the file.
ReadableCheckpoint open_for_report(const std::string& path);

/// As read_report(path, ...), on `cp` opened by open_for_report(path).
CheckpointReport read_report(const ReadableCheckpoint& cp, const std::string& path,
                             std::size_t top, std::size_t tail_bytes);

} // namespace parmap
