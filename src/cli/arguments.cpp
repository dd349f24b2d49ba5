#include "arguments.hpp"

#include "values.hpp"

#include "parmap/error.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace parmap::cli {
namespace {

Trim trim_of(const std::string& text)
{
  if (text.empty()) {
    return Trim::automatic;
  }
  if (text == "n") {
    return Trim::none;
  }
  if (text == "l") {
    return Trim::left;
  }
  if (text == "r") {
    return Trim::right;
  }
  if (text == "lr" || text == "rl") {
    return Trim::both;
  }
  throw Error(fmt::format("--trim: '{}' should be n, l, r, lr or rl", text));
}

} // namespace

void add_argument_options(CLI::App& app, ArgumentFlags& f)
{
  const char* input = "Input";
  app.add_option("-C,--colsep", f.colsep, "Split each item into columns {1} {2}... at REGEX")
      ->type_name("REGEX")
      ->group(input);
  app.add_option("--trim", f.trim, "Strip blanks from arguments: n, l, r, lr (lr with --colsep)")
      ->type_name("n|l|r|lr")
      ->group(input);
  app.add_option("--header", f.header,
                 "The first item of each source names its columns for {name} (':' or REGEX); "
                 "--pipe: lines given before every block")
      ->type_name(":|REGEX")
      ->group(input);
  app.add_option("-I", f.replace, "Use STR instead of {} for the arguments")
      ->type_name("STR")
      ->group(input);

  const char* several = "Several items per command";
  app.add_option("-n,--max-args", f.max_args, "Up to N items per command ({} is all of them); --pipe: as -N")
      ->type_name("N")
      ->group(several);
  app.add_option("-N,--max-replace-args", f.max_replace_args,
                 "Up to N items per command, {1}..{N} each, words with {} repeated; "
                 "--pipe: N records per block")
      ->type_name("N")
      ->group(several);
  app.add_flag("-X", f.context_replace,
               "As many items as the command line holds, words with {} repeated")
      ->group(several);
  app.add_flag("-m", f.multiple, "As many items as the command line holds, in one {}")
      ->group(several);
  app.add_flag("--xargs", f.xargs, "Like -m, without spreading the last items over the slots")
      ->group(several);
  app.add_option("-L,--max-lines", f.max_lines,
                 "Up to N input lines per command (a trailing blank continues a line); "
                 "--pipe: a record is N lines")
      ->type_name("N")
      ->group(several);
  app.add_option("-s,--max-chars", f.max_chars, "Command lines of at most N bytes")
      ->type_name("N")
      ->group(several);
}

void apply_argument_options(const ArgumentFlags& f, Options& o)
{
  // --header splits the header and the records into columns: at TAB unless told, as GNU's.
  o.columns.separator = f.colsep.empty() && !f.header.empty() ? "\t" : f.colsep;
  o.columns.trim = trim_of(f.trim);
  o.columns.header = f.header;
  if (!f.replace.empty()) {
    o.replace = f.replace;
  }
  int fills = (f.context_replace ? 1 : 0) + (f.multiple ? 1 : 0) + (f.xargs ? 1 : 0);
  int counts = (!f.max_args.empty() ? 1 : 0) + (!f.max_replace_args.empty() ? 1 : 0) +
               (!f.max_lines.empty() ? 1 : 0);
  if (fills > 1) {
    throw Error("-X, -m and --xargs contradict each other; give one");
  }
  if (counts > 1) {
    throw Error("-n, -N and -L contradict each other; give one");
  }
  Grouping& g = o.grouping;
  if (fills == 1) {
    g.max_items = 0; // as many as the line holds
    g.spread = !f.xargs;
    g.context_replace = f.context_replace;
  }
  const std::string& count = !f.max_args.empty()           ? f.max_args
                             : !f.max_replace_args.empty() ? f.max_replace_args
                                                           : f.max_lines;
  if (!count.empty()) {
    const char* option = !f.max_args.empty() ? "-n" : !f.max_replace_args.empty() ? "-N" : "-L";
    std::size_t n = parse_count(count, option);
    g.no_arguments = n == 0;
    g.max_items = n == 0 ? 1 : n;
    // -N and -L repeat words (GNU's "implies -X"), unless -m or --xargs says otherwise.
    g.context_replace = f.context_replace || (f.max_args.empty() && fills == 0);
    g.continue_lines = !f.max_lines.empty();
  }
  if (!f.max_chars.empty()) {
    g.max_chars = parse_count(f.max_chars, "-s", 1);
  }
}

std::string describe_argument_options(const ArgumentFlags& f)
{
  std::string d;
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) {
      d += fmt::format(" {}={}", name, value);
    }
  };
  add("colsep", f.colsep);
  add("header", f.header);
  add("-n", f.max_args);
  add("-N", f.max_replace_args);
  add("-L", f.max_lines);
  add("-s", f.max_chars);
  add("-I", f.replace);
  d += f.context_replace ? " -X" : f.multiple ? " -m" : f.xargs ? " --xargs" : "";
  return d;
}

} // namespace parmap::cli
