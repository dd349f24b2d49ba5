#include "pipe_options.hpp"

#include "values.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <unistd.h>

namespace parmap::cli {
namespace {

/// GNU parallel's escapes in a literal --recend / --recstart: \n \t \r \0 \\ \' \".
std::string unescape(std::string_view text)
{
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char next = i + 1 < text.size() ? text[i + 1] : '\0';
    std::string_view known = "ntr0\\'\"";
    if (text[i] != '\\' || known.find(next) == std::string_view::npos || i + 1 == text.size()) {
      out.push_back(text[i]); // not an escape GNU parallel knows: the backslash stays
      continue;
    }
    ++i;
    out.push_back(next == 'n' ? '\n' : next == 't' ? '\t' : next == 'r' ? '\r' : next == '0' ? '\0' : next);
  }
  return out;
}

BlockFormat block_format(const PipeArgs& p, const ArgumentFlags& a)
{
  BlockFormat f;
  f.regexp = p.regexp;
  if (p.recend_given || p.recstart_given) {
    // Only one of them given: the other is empty (GNU parallel's rule).
    f.recend = p.recend_given ? p.recend : std::string();
    f.recstart = p.recstart;
  }
  if (!p.regexp) {
    f.recend = unescape(f.recend);
    f.recstart = unescape(f.recstart);
  }
  // GNU parallel reads -n as -N here.
  const bool n_given = !a.max_args.empty();
  if (n_given && !a.max_replace_args.empty()) {
    throw Error("-n and -N both give the records per block with --pipe; give one");
  }
  f.records = n_given ? parse_count(a.max_args, "-n", 1)
              : a.max_replace_args.empty() ? 0
                                           : parse_count(a.max_replace_args, "-N", 1);
  f.lines = a.max_lines.empty() ? 0 : parse_count(a.max_lines, "-L", 1);
  f.header = a.header;
  return f;
}

/// The argument options that have no meaning for blocks of input.
void reject_argument_options(const ArgumentFlags& a)
{
  const char* given = !a.colsep.empty()    ? "--colsep"
                      : !a.trim.empty()    ? "--trim"
                      : !a.max_chars.empty() ? "-s"
                      : a.context_replace  ? "-X"
                      : a.multiple         ? "-m"
                      : a.xargs            ? "--xargs"
                                           : nullptr;
  if (given != nullptr) {
    throw Error(fmt::format("{} cannot be used with --pipe or --pipepart (it shapes arguments; "
                            "a job's block is its stdin)",
                            given));
  }
}

} // namespace

void add_pipe_options(CLI::App& app, PipeArgs& p)
{
  const char* group = "Pipe mode (stdin cut into blocks)";
  app.add_flag("--pipe,--spreadstdin", p.pipe,
               "Cut stdin into blocks of whole records; each job reads one on its stdin")
      ->group(group);
  app.add_flag("--pipepart,--pipe-part", p.pipepart,
               "Cut the file given with -a into blocks; jobs read their ranges directly")
      ->group(group);
  app.add_option("--block,--block-size,--blocksize", p.block,
                 "Block size: k=1000, K=1024, M=2^20...; --pipepart: -N = N blocks per slot")
      ->type_name("SIZE")
      ->default_str("1M (--pipepart: -10)")
      ->group(group);
  app.add_option("--recend", p.recend, "A record ends with STR (escapes: \\n \\t \\r \\0)")
      ->type_name("STR")
      ->default_str("\\n")
      ->each([&p](const std::string&) { p.recend_given = true; })
      ->group(group);
  app.add_option("--recstart", p.recstart, "A record starts with STR")
      ->type_name("STR")
      ->each([&p](const std::string&) { p.recstart_given = true; })
      ->group(group);
  app.add_flag("--regexp", p.regexp, "--recend and --recstart are Perl regular expressions")
      ->group(group);
  app.add_flag("--round-robin,--round", p.round_robin,
               "With --pipe: one job per slot, each taking the next block when it is ready")
      ->group(group);
  app.add_flag("--cat", p.cat, "With --pipe: {} is the block as a file, removed after the job")
      ->group(group);
  app.add_flag("--fifo", p.fifo, "With --pipe: {} is a named pipe the job reads its block from")
      ->group(group);
}

bool pipe_mode(const PipeArgs& p)
{
  return p.pipe || p.pipepart || p.round_robin || p.cat || p.fifo;
}

void reject_pipe_options(const PipeArgs& p)
{
  const char* given = !p.block.empty() ? "--block"
                      : p.recend_given ? "--recend"
                      : p.recstart_given ? "--recstart"
                      : p.regexp ? "--regexp"
                                 : nullptr;
  if (given != nullptr) {
    throw Error(fmt::format("{} needs --pipe or --pipepart", given));
  }
}

void apply_pipe_options(const PipeArgs& p, const ArgumentFlags& arguments,
                        const std::vector<std::string>& files, Config& c)
{
  reject_argument_options(arguments);
  if (p.cat && p.fifo) {
    throw Error("--cat and --fifo contradict each other");
  }
  Options& o = c.options;
  o.block_input = p.cat ? BlockInput::file : p.fifo ? BlockInput::fifo : BlockInput::pipe;
  if (!arguments.replace.empty()) {
    o.replace = arguments.replace;
  }
  BlockFormat format = block_format(p, arguments);
  if (p.pipepart) {
    if (files.empty()) {
      throw Error("--pipepart needs the file to cut: -a FILE (or :::: FILE)");
    }
    // --round-robin: one block per slot (GNU parallel's --block -1), whatever --block says.
    format.size = p.round_robin ? -1 : p.block.empty() ? -10 : parse_size(p.block);
    for (const auto& path : files) {
      c.items.append(Items::file_blocks(path, format));
    }
    return;
  }
  if (!files.empty()) {
    throw Error("--pipe cuts stdin: give the file as stdin (< FILE), or use --pipepart -a FILE");
  }
  if (!p.block.empty()) {
    format.size = parse_size(p.block);
    if (format.size < 1) {
      throw Error(fmt::format("--block: '{}' must be at least 1 byte with --pipe (a negative "
                              "size means blocks per slot, for --pipepart)",
                              p.block));
    }
  }
  o.round_robin = p.round_robin;
  c.items = Items::blocks(STDIN_FILENO, format, "stdin");
}

std::int64_t parse_size(const std::string& text)
{
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  double scale = 1;
  const std::string_view prefixes = "kmgtp";
  if (!unit.empty() && unit.size() <= 2) {
    auto power = prefixes.find(static_cast<char>(std::tolower(static_cast<unsigned char>(unit[0]))));
    bool binary = unit.size() == 2 ? std::tolower(static_cast<unsigned char>(unit[1])) == 'i'
                                   : std::isupper(static_cast<unsigned char>(unit[0])) != 0;
    if (power != std::string_view::npos && (unit.size() == 1 || binary)) {
      scale = std::pow(binary ? 1024.0 : 1000.0, static_cast<double>(power + 1));
      unit.clear();
    }
  }
  double size = std::trunc(value * scale);
  if (used == 0 || !unit.empty() || !std::isfinite(size) || std::abs(size) > 9e18 || size == 0) {
    throw Error(fmt::format("--block: '{}' is not a size (a number, with k=1000, K=1024, M=2^20, "
                            "m=10^6, G, g... as in GNU parallel)",
                            text));
  }
  return static_cast<std::int64_t>(size);
}

} // namespace parmap::cli
