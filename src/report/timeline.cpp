#include "report/timeline.hpp"

#include "store/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace parmap::report {
namespace {

/// Two recorded times of one slot may overlap by clock noise: the next item's start comes from
/// the wall clock, the previous one's duration from the monotonic clock.
constexpr double k_clock_slack = 1e-3;

std::size_t index(Kind k)
{
  return static_cast<std::size_t>(k);
}

Kind kind_of(Status status, bool interrupted)
{
  if (interrupted) {
    return Kind::interrupted;
  }
  switch (status) {
  case Status::ok:
    return Kind::ok;
  case Status::timeout:
    return Kind::timeout;
  case Status::signaled:
    return Kind::killed;
  case Status::failed:
    break;
  }
  return Kind::failed;
}

} // namespace

const char* kind_name(Kind kind)
{
  static constexpr const char* k_names[k_kinds] = {"ok", "failed", "timeout", "killed",
                                                   "interrupted"};
  return k_names[index(kind)];
}

Kind kind_of(const ReportAttempt& a)
{
  return kind_of(a.status, a.interrupted);
}

Kind kind_of(std::string_view status)
{
  return kind_of(status_from(std::string(status)), status == "interrupted");
}

std::size_t GreedyLanes::assign(double start, double end)
{
  for (std::size_t i = 0; i < m_free_at.size(); ++i) {
    if (m_free_at[i] <= start + k_clock_slack) {
      m_free_at[i] = end;
      return i;
    }
  }
  if (m_free_at.size() < k_max_greedy_lanes) {
    m_free_at.push_back(end);
    return m_free_at.size() - 1;
  }
  auto first_free = std::min_element(m_free_at.begin(), m_free_at.end());
  *first_free = std::max(*first_free, end);
  return static_cast<std::size_t>(first_free - m_free_at.begin());
}

Lanes::Lanes(std::vector<LaneKey> known, std::size_t unrecorded)
    : m_known(std::move(known)), m_unrecorded(unrecorded)
{
  std::sort(m_known.begin(), m_known.end());
}

std::string Lanes::label(std::size_t lane) const
{
  if (lane >= m_known.size()) {
    return "lane " + std::to_string(lane - m_known.size() + 1);
  }
  const LaneKey& key = m_known[lane];
  return (key.host.empty() ? "" : key.host + " ") + "slot " + std::to_string(key.slot);
}

std::size_t Lanes::lane_of(const ReportAttempt& a)
{
  if (a.slot == 0) {
    std::size_t greedy = m_greedy.assign(a.started, a.started + a.duration);
    return m_known.size() + std::min(greedy, std::max<std::size_t>(m_unrecorded, 1) - 1);
  }
  auto it = std::lower_bound(m_known.begin(), m_known.end(), LaneKey{a.host, a.slot});
  return it != m_known.end() && *it == LaneKey{a.host, a.slot}
             ? static_cast<std::size_t>(it - m_known.begin())
             : 0; // not in the list it was built from: cannot happen within one snapshot
}

TimelinePainter::TimelinePainter(double t0,
                                 double pixels_per_second,
                                 std::size_t lanes,
                                 std::function<void(const Mark&)> emit)
    : m_t0(t0), m_scale(pixels_per_second), m_pending(lanes * k_kinds), m_emit(std::move(emit))
{
}

void TimelinePainter::add(std::size_t lane, const ReportAttempt& a)
{
  Mark m;
  m.lane = lane;
  m.kind = kind_of(a);
  m.first = a.started - m_t0;
  m.last = m.first + a.duration;
  m.x = m.first * m_scale;
  m.width = a.duration * m_scale;
  m.busy = a.duration;
  if (m.width >= 1) {
    m.attempt = &a;
    m_emit(m);
    return;
  }
  Pending& p = m_pending.at(lane * k_kinds + index(m.kind));
  auto column = static_cast<long>(std::floor(m.x));
  if (p.column >= 0 && column <= p.column + 1) {
    Mark& g = p.mark;
    ++g.count;
    g.busy += m.busy;
    g.last = std::max(g.last, m.last);
  } else {
    flush(p);
    p.mark = m;
    p.single = a;
  }
  p.column = std::max(p.column, column);
}

void TimelinePainter::finish()
{
  for (auto& p : m_pending) {
    flush(p);
  }
}

void TimelinePainter::flush(Pending& p)
{
  if (p.column < 0) {
    return;
  }
  Mark& m = p.mark;
  m.width = std::max(1.0, (m.last - m.first) * m_scale);
  m.attempt = m.count == 1 ? &p.single : nullptr;
  m_emit(m);
  p.column = -1;
}

} // namespace parmap::report
