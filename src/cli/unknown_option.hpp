// unknown_option: what to say about a word that looks like an option parmap does not have.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace parmap::cli {

/// The message for `word` (e.g. "--timout=3"), given the options parmap knows (spelled with
/// their dashes): "unknown option --timout (did you mean --timeout?)" when one is a near miss,
/// a note when it is a GNU parallel option parmap deliberately lacks. `hint_help` is set when
/// --help is the best pointer (no near miss, not a known GNU option).
std::string unknown_option_message(std::string_view word,
                                   const std::vector<std::string>& known,
                                   bool& hint_help);

/// The number of single-character insertions, deletions, substitutions and swaps of two
/// neighbours that turn `a` into `b` (optimal string alignment distance).
std::size_t edit_distance(std::string_view a, std::string_view b);

} // namespace parmap::cli
