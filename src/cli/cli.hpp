// cli: the command line (CLI11) to a Config; nothing else knows CLI11.
#pragma once

#include "parmap/parmap.hpp"

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace parmap::cli {

/// Everything the command line asked for.
struct Config {
  Command command;
  Items items;
  Options options;
  bool report = false;         ///< --report: summarise the checkpoint, run nothing.
  bool bar = false;            ///< --bar
  bool eta = false;            ///< --eta
  bool progress_always = false; ///< --progress-always: draw even when stderr is no terminal.
  std::string joblog;          ///< --joblog FILE (with --report: written from the checkpoint)
  std::optional<std::string> html; ///< --html FILE: with --report, the HTML report ("-": stdout).
};

/// Parses argv. Returns the Config, or the exit status when parsing alone ends the program:
/// 0 after --help or --version, 255 after a usage error (already reported on stderr).
std::variant<Config, int> parse(int argc, const char* const* argv);

/// Reports a usage or configuration error in one line and returns 255.
int usage_error(const std::string& message);

} // namespace parmap::cli
