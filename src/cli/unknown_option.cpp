#include "unknown_option.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

namespace parmap::cli {
namespace {

/// GNU parallel options parmap leaves out on purpose, and what to use instead.
struct NotHere {
  std::string_view option;
  std::string_view instead;
};
constexpr std::array k_not_here{
    NotHere{"--sql", "keep results in a --checkpoint SQLite file"},
    NotHere{"--sqlmaster", "keep results in a --checkpoint SQLite file"},
    NotHere{"--sqlworker", "keep results in a --checkpoint SQLite file"},
    NotHere{"--sqlandworker", "keep results in a --checkpoint SQLite file"},
    NotHere{"--semaphore", "use flock(1) to serialise commands"},
    NotHere{"--tmux", "run parmap inside tmux, or use --results DIR"},
    NotHere{"--tmuxpane", "run parmap inside tmux, or use --results DIR"},
};

/// The closest known option within a distance that still reads as a typo, or "".
std::string near_miss(std::string_view name, const std::vector<std::string>& known)
{
  std::size_t best = SIZE_MAX;
  std::string found;
  for (const auto& option : known) {
    std::size_t d = edit_distance(name, option);
    if (d < best) {
      best = d;
      found = option;
    }
  }
  // One slip per four letters, at most two: --timout and --tiemout are --timeout; -x is
  // nothing in particular.
  std::size_t letters = name.size() - std::min<std::size_t>(name.size(), 2);
  std::size_t allowed = std::min<std::size_t>(2, letters / 4);
  return best <= allowed ? found : std::string();
}

} // namespace

std::size_t edit_distance(std::string_view a, std::string_view b)
{
  // Three rows of the dynamic programme: the one before the previous is needed for swaps.
  std::vector<std::size_t> before(b.size() + 1);
  std::vector<std::size_t> prev(b.size() + 1);
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    prev[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        row[j] = std::min(row[j], before[j - 2] + 1);
      }
    }
    before = std::exchange(prev, row);
  }
  return prev[b.size()];
}

std::string unknown_option_message(std::string_view word,
                                   const std::vector<std::string>& known,
                                   bool& hint_help)
{
  std::string_view name = word.substr(0, word.find('='));
  hint_help = false;
  for (const auto& n : k_not_here) {
    if (n.option == name) {
      return fmt::format("{} is a GNU parallel option parmap does not have ({})", name,
                         n.instead);
    }
  }
  if (std::string match = near_miss(name, known); !match.empty()) {
    return fmt::format("unknown option {} (did you mean {}?)", name, match);
  }
  hint_help = true;
  return fmt::format("unknown option {}", name);
}

} // namespace parmap::cli
