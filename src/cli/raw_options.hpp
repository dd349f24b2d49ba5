// Raw: the options as given on the command line, before parmap reads their values.
#pragma once

#include "arguments.hpp"
#include "pipe_options.hpp"

#include <optional>
#include <string>
#include <vector>

namespace parmap::cli {

/// The options as given: strings where parmap parses the value itself (so that every message
/// is its own), flags as they are. A repeated option keeps its last value.
struct Raw {
  std::optional<std::string> jobs;
  std::optional<std::string> timeout;
  std::optional<std::string> kill_grace;
  std::optional<std::string> delay;
  std::optional<std::string> retries;
  std::optional<std::string> halt;
  std::optional<std::string> batch_size;
  std::optional<std::string> max_pending;
  std::optional<std::string> tail_batches_per_core;
  std::optional<std::string> tail_min_batch_size;
  std::optional<std::string> checkpoint_every;
  std::optional<std::string> delimiter;
  std::optional<std::string> nice;
  std::string arg_sep = ":::";
  std::string arg_file_sep = "::::";
  std::vector<std::string> arg_files;
  std::vector<std::string> env;
  std::vector<std::string> sshlogins;
  std::vector<std::string> sshloginfiles;
  std::vector<std::string> trc;
  bool transfer = false;
  bool onall = false;  ///< --onall: every item on every host.
  bool nonall = false; ///< --nonall: the command once on every host, no items.
  bool null = false;
  bool keep_going = false;
  bool keep_order = false;
  bool as_ready = false;
  bool tag = false;
  bool json = false;
  bool files = false;
  bool shell = false;
  bool no_shell = false;
  bool no_adaptive_tail = false;
  bool link = false; ///< --link: sources side by side instead of combined.
  bool resume_failed = false;
  bool number_of_cores = false;
  bool no_op = false; ///< --group, -q, --will-cite, --no-notice: parmap's behaviour already.
  bool dump_options = false;
  ArgumentFlags arguments; ///< Columns, -I and several items per command.
  PipeArgs pipe;
};

} // namespace parmap::cli
