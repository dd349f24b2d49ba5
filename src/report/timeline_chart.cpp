// write_timeline(): one SVG chart per session, drawn in two passes over its attempts: the first
// finds the rows and the time span, the second draws them in start order.
#include "report/page.hpp"
#include "report/scale.hpp"
#include "report/timeline.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace parmap::report {
namespace {

constexpr double k_axis_height = 22;
/// A session that says it had more slots than this is damaged: draw the slots that ran.
constexpr unsigned k_max_empty_slots = 4096;
constexpr const char* k_in_start_order = "WHERE session = ?1 ORDER BY started, seq, attempt";

/// Counts the lanes the attempts without a recorded slot need: the order is the drawing pass's.
void count_greedy_lanes(const History& history, const ReportSession& s, GreedyLanes& lanes)
{
  sql::Statement q = history.select(k_attempt_columns, k_in_start_order);
  q.bind(1, s.id);
  while (history.next(q)) {
    ReportAttempt a = attempt_at(q);
    if (a.slot == 0) {
      lanes.assign(a.started, a.started + a.duration);
    }
  }
}

/// What the first pass finds: the session's rows and the span of its attempts.
struct PhaseShape {
  std::vector<LaneKey> known;
  GreedyLanes unrecorded;
  std::uint64_t attempts = 0;
  double first = 0; ///< The earliest start (Unix time).
  double last = 0;  ///< The latest end.
};

PhaseShape shape_of(const History& history, const ReportSession& s)
{
  PhaseShape shape;
  std::set<LaneKey> known;
  // Every slot of the session gets its row, so that a slot that idled shows as empty.
  for (unsigned slot = 1; slot <= s.slots && s.slots <= k_max_empty_slots; ++slot) {
    known.insert(LaneKey{"", slot});
  }
  bool unrecorded = false;
  sql::Statement q = history.select(k_attempt_columns, "WHERE session = ?1");
  q.bind(1, s.id);
  while (history.next(q)) {
    ReportAttempt a = attempt_at(q);
    if (a.slot > 0) {
      known.insert(LaneKey{a.host, a.slot});
    }
    unrecorded = unrecorded || a.slot == 0;
    shape.first = shape.attempts == 0 ? a.started : std::min(shape.first, a.started);
    shape.last =
        shape.attempts == 0 ? a.started + a.duration : std::max(shape.last, a.started + a.duration);
    ++shape.attempts;
  }
  // A slot that ran on a remote host (or Slurm step) is that host's row, not an idle one here.
  std::set<unsigned> remote;
  for (const LaneKey& k : known) {
    if (!k.host.empty()) {
      remote.insert(k.slot);
    }
  }
  std::erase_if(known, [&](const LaneKey& k) { return k.host.empty() && remote.contains(k.slot); });
  shape.known.assign(known.begin(), known.end());
  if (unrecorded) {
    count_greedy_lanes(history, s, shape.unrecorded);
  }
  return shape;
}

double row_height(std::size_t lanes)
{
  return std::clamp(std::floor(720.0 / static_cast<double>(std::max<std::size_t>(lanes, 1))), 3.0,
                    18.0);
}

std::string end_of(const ReportAttempt& a)
{
  return a.interrupted ? "stopped by parmap" : describe_end(a.status, a.exit_code, a.signal);
}

void write_bar(Page& page, const Mark& m, const std::string& lane, double y, double height)
{
  const ReportAttempt& a = *m.attempt;
  page.add("<rect class=\"bar {}{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\">"
           "<title>",
           kind_name(m.kind), a.is_result || a.interrupted ? "" : " retried", k_gutter + m.x, y,
           m.width > 3 ? m.width - 1 : m.width, height); // a gap between neighbours
  page.text(a.item, 300);
  page.add("\n{} \u00b7 {}\n#{} \u00b7 attempt {}{} \u00b7 {}{}{} \u00b7 started {}"
           "</title></rect>\n",
           format_seconds(a.duration), end_of(a), a.seq, a.attempt,
           a.is_result || a.interrupted ? "" : " (tried again)", html(lane),
           a.step.empty() ? "" : " \u00b7 step ", html(a.step), format_clock(a.started));
}

void write_aggregate(Page& page, const Mark& m, double y, double height)
{
  double span = m.last - m.first;
  double busy = span > 0 ? std::min(1.0, m.busy / span) : 1.0;
  page.add("<rect class=\"agg {}\" data-n=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
           "height=\"{:.1f}\" fill-opacity=\"{:.2f}\"><title>{} attempts, {}\n+{} to +{} \u00b7 "
           "busy {:.0f}%</title></rect>\n",
           kind_name(m.kind), m.count, k_gutter + m.x, y, m.width, height, std::max(0.3, busy),
           format_count(m.count), kind_name(m.kind), format_seconds(m.first),
           format_seconds(m.last), busy * 100);
}

void write_lanes(Page& page, const Lanes& lanes, double row)
{
  auto every = static_cast<std::size_t>(std::ceil(10.0 / row)); // labels at least 10 px apart
  for (std::size_t i = 0; i < lanes.size(); ++i) {
    double y = k_axis_height + static_cast<double>(i) * row;
    page.add("<g class=\"lane\">");
    if (i % 2 == 1) {
      page.add("<rect class=\"stripe\" x=\"0\" y=\"{:.1f}\" width=\"{:.0f}\" height=\"{:.1f}\"/>",
               y, k_chart_width, row);
    }
    if (i % every == 0) {
      page.add("<text x=\"{:.0f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", k_gutter - 8,
               y + std::min(row, 18.0) - 5, html(lanes.label(i), 40));
    }
    page.add("</g>\n");
  }
}

void write_time_axis(Page& page, double span, double height)
{
  double step = tick_step(span, 10);
  for (int i = 0; i <= 1000 && i * step <= span * (1 + 1e-9); ++i) {
    double x = k_gutter + i * step * k_plot_width / span;
    page.add("<line class=\"grid\" x1=\"{0:.1f}\" y1=\"{1:.0f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>"
             "<text x=\"{0:.1f}\" y=\"12\" text-anchor=\"middle\">{3}{4}</text>\n",
             x, k_axis_height - 4, height, i == 0 ? "" : "+", format_seconds(i * step));
  }
}

/// The second pass: every attempt of the session. What did not end well is drawn last, on top
/// of the successes, whose aggregates may span it; until then it waits in memory (at most a
/// layer of the chart, however many attempts there are).
void draw_attempts(Page& page,
                   const History& history,
                   const ReportSession& s,
                   Lanes& lanes,
                   double t0,
                   double scale,
                   double row)
{
  std::string above;
  Page top([&above](std::string_view piece) { above += piece; });
  TimelinePainter painter(t0, scale, lanes.size(), [&](const Mark& m) {
    Page& layer = m.kind == Kind::ok ? page : top;
    double y = k_axis_height + static_cast<double>(m.lane) * row + 1;
    double h = std::max(1.0, row - 2);
    m.attempt ? write_bar(layer, m, lanes.label(m.lane), y, h) : write_aggregate(layer, m, y, h);
  });
  // Start order within each lane for the painter, and overall for the greedy lanes. One read
  // transaction holds the rows, so they are the ones the first pass saw.
  sql::Statement q = history.select(k_attempt_columns, k_in_start_order);
  q.bind(1, s.id);
  while (history.next(q)) {
    ReportAttempt a = attempt_at(q);
    painter.add(lanes.lane_of(a), a);
  }
  painter.finish();
  top.flush();
  page.add("{}", above);
}

void write_phase_header(
    Page& page, const ReportSession& s, const PhaseShape& shape, double span, bool first)
{
  if (s.id == 0) {
    page.add("<h3>Run recorded by parmap 0.1.0</h3>\n<p class=\"meta\">{} attempts \u00b7 {} "
             "from the first start to the last end \u00b7 slots were not recorded: each attempt "
             "is drawn in the lowest lane free when it started</p>\n",
             format_count(shape.attempts), format_seconds(span));
    return;
  }
  page.add("<h3>Session {} \u00b7 {} {}</h3>\n<p class=\"meta\">{} attempts \u00b7 {} slots "
           "\u00b7 {} from start to last record \u00b7 pid {} \u00b7 parmap {}",
           s.id, first ? "started" : "resumed", format_clock(s.started),
           format_count(shape.attempts), s.slots, format_seconds(span), s.pid, html(s.version));
  if (s.replayed > 0) {
    page.add(" \u00b7 <span class=\"key replayed\">{} results replayed</span>",
             format_count(s.replayed));
  }
  page.add("{}</p>\n", s.last_commit > 0 ? "" : " \u00b7 nothing committed yet");
}

void write_phase(Page& page, const History& history, const ReportSession& s, bool first)
{
  PhaseShape shape = shape_of(history, s);
  // From the session's start (or its first attempt) to its last record (or last end).
  double t0 = shape.attempts > 0 ? shape.first : s.started;
  t0 = s.started > 0 ? std::min(t0, s.started) : t0;
  double t1 = std::max(shape.attempts > 0 ? shape.last : t0, s.last_commit);
  double span = std::max(t1 - t0, 1e-3);
  write_phase_header(page, s, shape, span, first);
  if (shape.attempts == 0) {
    page.add("<p class=\"meta\">No attempt ran in this session.</p>\n");
    return;
  }
  Lanes lanes(std::move(shape.known), shape.unrecorded.count());
  double row = row_height(lanes.size());
  double height = k_axis_height + row * static_cast<double>(lanes.size()) + 2;
  page.add("<svg class=\"timeline\" data-session=\"{0}\" width=\"{1:.0f}\" height=\"{2:.0f}\" "
           "viewBox=\"0 0 {1:.0f} {2:.0f}\" role=\"img\" aria-label=\"timeline of session {0}\">\n",
           s.id, k_chart_width, height);
  write_lanes(page, lanes, row);
  write_time_axis(page, span, height);
  draw_attempts(page, history, s, lanes, t0, k_plot_width / span, row);
  page.add("</svg>\n");
}

} // namespace

void write_timeline(Page& page, const History& history)
{
  page.add("<section id=\"timeline\"><h2>Timeline</h2>\n<p class=\"legend\">"
           "<span class=\"key ok\">ok</span><span class=\"key failed\">failed</span>"
           "<span class=\"key timeout\">timed out</span><span class=\"key killed\">killed by a "
           "signal</span><span class=\"key interrupted\">stopped by parmap (runs again on "
           "resume)</span><span class=\"key replayed\">replayed (not run again: counted in "
           "the session's line)</span><br>One row per slot, one bar per attempt; faded: tried again; where bars "
           "would be thinner than a pixel, neighbours merge into one, shaded by how busy the "
           "slot was. Hover for details.</p>\n");
  const auto& sessions = history.sessions();
  if (sessions.empty()) {
    page.add("<p>Nothing recorded yet.</p>\n");
  }
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    write_phase(page, history, sessions[i], i == 0);
  }
  page.add("</section>\n");
}

} // namespace parmap::report
