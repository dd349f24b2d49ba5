// The input sources of a command line: -a files, ::: words, :::: files, their + forms and
// --link, combined into one parmap::Items the way GNU parallel combines them.
#pragma once

#include "parmap/items.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parmap::cli {

/// How input sources are spelled and read.
struct SourceSyntax {
  std::string arg_sep = ":::";        ///< Starts a group of items; with "+", linked.
  std::string arg_file_sep = "::::";  ///< Starts a group of files; with "+", linked.
  char delimiter = '\n';              ///< Ends an item in a file.
  bool split_words = false;           ///< -d was given: ::: words are split at it too.
  bool link = false;                  ///< --link: every source side by side, wrapping around.
};

/// The items a command line names.
struct Sources {
  Items items;
  bool given = false;       ///< Any -a, ::: or ::::; otherwise the items come from stdin.
  bool reads_stdin = false; ///< A source is stdin ("-"), so jobs must not read it.
};

/// True when `word` starts a group of sources (::: :::+ :::: ::::+ as spelled by `syntax`).
bool is_source_separator(std::string_view word, const SourceSyntax& syntax);

/// Every -a file is a source, then each ::: group and each file of a :::: group, in order; a
/// + group is linked to the source before it. The sources are combined as GNU parallel does:
/// every combination of the (linked groups of) sources, or all side by side with --link.
/// `groups` starts with a separator (or is empty). Throws parmap::Error for a file that cannot
/// be opened, or a + group with nothing before it.
Sources read_sources(const std::vector<std::string>& arg_files,
                     std::span<const std::string> groups,
                     const SourceSyntax& syntax);

} // namespace parmap::cli
