#include "run/grouping.hpp"

#include <algorithm>

namespace parmap {
namespace {

/// The kernel's limit for one string of argv or envp (MAX_ARG_STRLEN), less its NUL.
constexpr std::size_t k_longest_string = 128 * 1024 - 1;

bool ends_in_blank(const Record& r)
{
  return !r.args.empty() && !r.args.back().empty() &&
         (r.args.back().back() == ' ' || r.args.back().back() == '\t');
}

} // namespace

bool groups_items(const Grouping& g)
{
  return g.max_items != 1 || g.no_arguments || g.continue_lines;
}

std::optional<std::uint64_t> command_count(std::optional<std::uint64_t> items, const Grouping& g)
{
  if (!items || g.max_items == 0 || g.continue_lines) {
    return std::nullopt;
  }
  return (*items + g.max_items - 1) / g.max_items; // -N0: max_items is 1
}

Grouper::Grouper(const Grouping& grouping,
                 const CommandTemplate& command,
                 std::size_t line_limit,
                 unsigned slots)
    : m_grouping(grouping), m_command(command), m_line_limit(line_limit), m_slots(slots)
{
}

LineSize Grouper::size_with(const Record& record) const
{
  LineSize s = m_size;
  std::size_t longest = m_longest_arg;
  for (const auto& a : record.args) {
    s += m_command.argument_size(a);
    longest = std::max(longest, a.size());
  }
  s.bytes += m_command.positional_values() * (longest + 1);
  return s;
}

bool Grouper::fits(const Record& record) const
{
  if (m_group.empty()) {
    return true; // one item always runs, even alone over the limit (and then fails E2BIG)
  }
  if (m_grouping.max_items > 0 && m_group.size() >= m_grouping.max_items) {
    return false;
  }
  LineSize s = size_with(record);
  const LineSize& base = *m_base;
  std::size_t total = base.bytes + s.bytes;
  bool under_max = m_grouping.max_chars == 0 || total <= m_grouping.max_chars;
  bool under_system = total + (base.strings + s.strings + 1) * sizeof(char*) <= m_line_limit;
  return under_max && under_system && base.longest + s.longest <= k_longest_string;
}

void Grouper::add(Record record)
{
  if (m_grouping.no_arguments) {
    record.args.clear(); // -N0: one command per item, without it
    m_ready.push_back({std::move(record)});
    return;
  }
  if (m_grouping.continue_lines && m_open_line && !m_group.empty()) {
    // -L: a line ending in a blank goes on with the next one, in the same argument.
    Record& last = m_group.back();
    m_open_line = ends_in_blank(record);
    if (!record.args.empty()) {
      last.args.back() += record.args.front();
      last.args.insert(last.args.end(), record.args.begin() + 1, record.args.end());
    }
    return;
  }
  if (!m_base) {
    m_base = m_command.base_size(); // here, not before: --header may rename the template's values
  }
  if (!fits(record)) {
    close_group();
  }
  for (const auto& a : record.args) {
    m_size += m_command.argument_size(a);
    m_longest_arg = std::max(m_longest_arg, a.size());
  }
  m_open_line = m_grouping.continue_lines && ends_in_blank(record);
  m_group.push_back(std::move(record));
  bool full = m_grouping.max_items > 0 && m_group.size() >= m_grouping.max_items;
  if (full && !m_open_line) {
    close_group();
  }
}

void Grouper::close_group()
{
  if (m_group.empty()) {
    return;
  }
  m_ready.push_back(std::move(m_group));
  m_group.clear();
  m_size = LineSize{};
  m_longest_arg = 0;
  m_open_line = false;
}

void Grouper::finish()
{
  if (m_group.empty()) {
    return;
  }
  if (!m_grouping.spread || m_slots <= 1) {
    close_group();
    return;
  }
  // GNU parallel's end: the last, partly filled line goes out in equal shares, so that every
  // slot gets some of it instead of one slot getting all.
  std::size_t share = (m_group.size() + m_slots - 1) / m_slots;
  for (std::size_t at = 0; at < m_group.size(); at += share) {
    auto from = m_group.begin() + static_cast<std::ptrdiff_t>(at);
    auto to = m_group.begin() + static_cast<std::ptrdiff_t>(std::min(at + share, m_group.size()));
    m_ready.emplace_back(std::make_move_iterator(from), std::make_move_iterator(to));
  }
  m_group.clear();
  m_size = LineSize{};
  m_longest_arg = 0;
}

Record Grouper::take()
{
  std::vector<Record> group = std::move(m_ready.front());
  m_ready.pop_front();
  Record out;
  for (auto& r : group) {
    out.oversize = std::max(out.oversize, r.oversize);
    std::move(r.args.begin(), r.args.end(), std::back_inserter(out.args));
  }
  return out;
}

} // namespace parmap
