// The options that shape each command's arguments: columns (--colsep, --trim, --header), the
// replacement string (-I) and several items per command (-n, -N, -X, -m, -L, -s, --xargs).
#pragma once

#include "parmap/options.hpp"

#include <string>

namespace CLI {
class App;
} // namespace CLI

namespace parmap::cli {

/// Those options as given, before they are checked.
struct ArgumentFlags {
  std::string colsep;
  std::string trim;
  std::string header;
  std::string replace;
  std::string max_args;         ///< -n
  std::string max_replace_args; ///< -N
  std::string max_lines;        ///< -L
  std::string max_chars;        ///< -s
  bool context_replace = false; ///< -X
  bool multiple = false;        ///< -m
  bool xargs = false;           ///< --xargs
};

/// Declares them (in the "Input" and "Several items per command" groups of --help).
void add_argument_options(CLI::App& app, ArgumentFlags& flags);

/// Checks them and sets Options::columns, replace and grouping. Throws parmap::Error naming the
/// option for a bad value or a contradiction.
void apply_argument_options(const ArgumentFlags& flags, Options& options);

/// A short description for the checkpoint's run record ("" when none is used).
std::string describe_argument_options(const ArgumentFlags& flags);

} // namespace parmap::cli
