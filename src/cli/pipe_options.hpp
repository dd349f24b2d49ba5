// pipe_options: GNU parallel's --pipe and --pipepart options, to blocks of input for the
// commands' stdin (parmap::Items::blocks, Items::file_blocks).
#pragma once

#include "arguments.hpp"
#include "cli.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace parmap::cli {

/// The pipe-mode options as given on the command line.
struct PipeArgs {
  bool pipe = false;        ///< --pipe
  bool pipepart = false;    ///< --pipepart
  bool round_robin = false; ///< --round-robin
  bool cat = false;         ///< --cat
  bool fifo = false;        ///< --fifo
  bool regexp = false;      ///< --regexp
  std::string block;        ///< --block, as written; empty when not given
  std::string recend;       ///< --recend, as written
  std::string recstart;     ///< --recstart, as written
  bool recend_given = false;
  bool recstart_given = false;
};

/// Adds the options to `app`, in their own --help group.
void add_pipe_options(CLI::App& app, PipeArgs& p);

/// Whether the run cuts its input into blocks: --pipe, --pipepart, or an option that implies
/// --pipe as in GNU parallel (--round-robin, --cat, --fifo).
bool pipe_mode(const PipeArgs& p);

/// Pipe mode: sets c.items to the blocks of stdin, or of `files` (-a FILE, :::: FILE), and the
/// options that go with them. Three argument options mean something else here, as in GNU
/// parallel: -N (or -n) is records per block, -L lines per record, --header the lines given before every
/// block; -I is the replacement string. Throws parmap::Error for an argument option pipe mode has
/// no use for, or a combination that cannot work.
void apply_pipe_options(const PipeArgs& p, const ArgumentFlags& arguments,
                        const std::vector<std::string>& files, Config& c);

/// Outside pipe mode: throws parmap::Error naming a pipe-mode option that was given anyway.
void reject_pipe_options(const PipeArgs& p);

/// A --block size: a number (possibly fractional or negative) with GNU parallel's unit
/// suffixes: k m g t p are powers of 1000, K M G T P and ki mi gi ti pi (any case) of 1024.
/// Throws parmap::Error.
std::int64_t parse_size(const std::string& text);

} // namespace parmap::cli
