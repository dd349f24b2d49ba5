// cli: the command line (CLI11) to a Config; nothing else knows CLI11.
#pragma once

#include "parmap/parmap.hpp"

#include <string>
#include <variant>
#include <vector>

namespace parmap::cli {

/// Everything the command line asked for.
struct Config {
  Command command;
  Items items;
  Options options;
  bool report = false;          ///< --report: summarise the checkpoint, run nothing.
  unsigned shellquote = 0;      ///< --shellquote given this many times: quote items, run nothing.
  bool bar = false;             ///< --bar
  bool eta = false;             ///< --eta
  bool progress_always = false; ///< --progress-always: draw even when stderr is no terminal.
};

/// How parsing alone ends the program: its exit status and what it prints.
struct Outcome {
  int status = 0;
  std::string out; ///< For stdout (--help, --version, --number-of-cores).
  std::string err; ///< For stderr: a usage error, one line (and a pointer to --help).
};

/// Parses argv, printing nothing. Returns the Config, or the Outcome when parsing ends the
/// program: status 0 after --help, --version, --number-of-cores; 255 after a usage error.
std::variant<Config, Outcome> interpret(int argc, const char* const* argv);

/// interpret(), then prints an Outcome and returns its status.
std::variant<Config, int> parse(int argc, const char* const* argv);

} // namespace parmap::cli
