// Grouping: several input items per command (GNU parallel's -n, -N, -X, -m, -L, -s, --xargs).
// Items gather into a group until it holds its number or the command line would grow past its
// limit; at the end of the input the last group is spread evenly over the slots.
#pragma once

#include "exec/command.hpp"
#include "input/input.hpp"
#include "parmap/options.hpp"

#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

namespace parmap {

/// True when `grouping` asks for anything but one item per command.
bool groups_items(const Grouping& grouping);

/// How many commands `items` input items make, when that is known before they are grouped
/// (not with -X, -m or -L, whose groups depend on the items' sizes or blanks).
std::optional<std::uint64_t> command_count(std::optional<std::uint64_t> items,
                                           const Grouping& grouping);

class Grouper {
public:
  /// `line_limit`: the most bytes (LineSize::bytes plus a pointer per string) one command may
  /// take, the system's exec() limit. `slots` share the last group when spreading.
  Grouper(const Grouping& grouping,
          const CommandTemplate& command,
          std::size_t line_limit,
          unsigned slots);

  /// Adds the next input item. The group being filled may become ready (it is full, or the
  /// item does not fit it and starts the next one).
  void add(Record record);
  /// The input ended: what is left becomes ready, spread over the slots when asked (-m, -X).
  void finish();
  bool ready() const { return !m_ready.empty(); }
  /// Takes the next ready group: one command's arguments, every item's in input order.
  Record take();
  /// Nothing is held: no group ready, none being filled.
  bool empty() const { return m_ready.empty() && m_group.empty(); }

private:
  bool fits(const Record& record) const;
  void close_group();
  LineSize size_with(const Record& record) const;

  Grouping m_grouping;
  const CommandTemplate& m_command;
  std::size_t m_line_limit;
  unsigned m_slots;
  std::vector<Record> m_group;  ///< The group being filled.
  std::optional<LineSize> m_base; ///< The command's size without arguments.
  LineSize m_size;              ///< The group's arguments' size, without positional values.
  std::size_t m_longest_arg = 0; ///< For the bound on positional values.
  bool m_open_line = false;     ///< -L: the last line ended in a blank and goes on.
  std::deque<std::vector<Record>> m_ready;
};

} // namespace parmap
