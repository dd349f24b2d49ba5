// write_durations(): the histogram of attempt durations, stacked by how they ended: the range
// and the median from SQLite, then one pass over the attempts to count them into bins.
#include "report/page.hpp"
#include "report/scale.hpp"
#include "report/timeline.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <set>
#include <vector>

namespace parmap::report {
namespace {

constexpr double k_top = 30;
constexpr double k_plot_height = 170;
constexpr double k_height = k_top + k_plot_height + 36;

using Counts = std::array<std::uint64_t, k_kinds>;

struct Range {
  std::uint64_t count = 0;
  double min_positive = std::numeric_limits<double>::infinity();
  double max = 0;
};

Range range_of(const History& history)
{
  sql::Statement q =
      history.select("count(*), max(duration), min(CASE WHEN duration > 0 THEN duration END)", "");
  history.next(q);
  Range r;
  r.count = static_cast<std::uint64_t>(q.column_int(0));
  r.max = plausible_duration(q.column_double(1));
  double min_positive = plausible_duration(q.column_double(2));
  r.min_positive = min_positive > 0 ? min_positive : r.min_positive;
  return r;
}

double median_of(const History& history, std::uint64_t count)
{
  sql::Statement q = history.select("duration", "ORDER BY duration LIMIT 1 OFFSET ?1");
  q.bind(1, static_cast<std::int64_t>((count - 1) / 2));
  return history.next(q) ? plausible_duration(q.column_double(0)) : 0;
}

/// Each session's limit, as a duration and a label.
std::vector<std::pair<double, std::string>> limits_of(const History& history, double median)
{
  std::set<std::pair<double, std::string>> limits;
  for (const auto& s : history.sessions()) {
    if (s.timeout > 0) {
      limits.emplace(s.timeout, "--timeout " + format_seconds(s.timeout));
    } else if (s.timeout_percent > 0) {
      double t = s.timeout_percent / 100 * median;
      limits.emplace(
          t, fmt::format("--timeout {:g}% \u2248 {}", s.timeout_percent, format_seconds(t)));
    }
  }
  return {limits.begin(), limits.end()};
}

std::vector<Counts> count_bins(const History& history, const DurationBins& bins)
{
  std::vector<Counts> counts(bins.size(), Counts{});
  sql::Statement q = history.select("duration, status", "");
  while (history.next(q)) {
    Kind kind = kind_of(q.column_text(1));
    ++counts[bins.bin_of(plausible_duration(q.column_double(0)))][static_cast<std::size_t>(kind)];
  }
  return counts;
}

double x_of(const DurationBins& bins, double seconds)
{
  return k_gutter + bins.position(seconds) * k_plot_width;
}

std::string bin_range(const DurationBins& bins, std::size_t b)
{
  std::string hi = b + 1 < bins.size() ? format_seconds(bins.lower(b + 1)) : "";
  if (b == 0 && bins.log()) {
    return "under " + hi;
  }
  return hi.empty() ? format_seconds(bins.lower(b)) + " and over"
                    : format_seconds(bins.lower(b)) + " to " + hi;
}

void write_bin(Page& page, const DurationBins& bins, std::size_t b, const Counts& c, double scale)
{
  std::uint64_t total = 0;
  std::string parts;
  double w = k_plot_width / static_cast<double>(bins.size());
  double x = k_gutter + static_cast<double>(b) * w;
  double y = k_top + k_plot_height;
  for (std::size_t k = 0; k < k_kinds; ++k) {
    if (c[k] == 0) {
      continue;
    }
    double h = static_cast<double>(c[k]) * scale;
    y -= h;
    page.add(
        "<rect class=\"bin {}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"/>",
        kind_name(static_cast<Kind>(k)), x, y, std::max(1.0, w - 1), h);
    parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", format_count(c[k]),
                         kind_name(static_cast<Kind>(k)));
    total += c[k];
  }
  if (total > 0) {
    page.add("<rect class=\"hit\" x=\"{:.1f}\" y=\"{:.0f}\" width=\"{:.1f}\" height=\"{:.0f}\">"
             "<title>{}: {} attempts ({})</title></rect>\n",
             x, k_top, w, k_plot_height, bin_range(bins, b), format_count(total), parts);
  }
}

void write_marker(Page& page, double x, const char* css, double label_y, const std::string& label)
{
  page.add("<line class=\"{0}\" x1=\"{1:.1f}\" y1=\"{2:.0f}\" x2=\"{1:.1f}\" y2=\"{3:.0f}\"/>"
           "<text x=\"{4:.1f}\" y=\"{5:.0f}\">{6}</text>\n",
           css, x, k_top - 4, k_top + k_plot_height, x + 4, label_y, label);
}

void write_axes(Page& page, const DurationBins& bins, std::uint64_t tallest)
{
  double bottom = k_top + k_plot_height;
  page.add("<line class=\"axis\" x1=\"{0:.0f}\" y1=\"{1:.0f}\" x2=\"{2:.0f}\" y2=\"{1:.0f}\"/>"
           "<text x=\"{3:.0f}\" y=\"{4:.0f}\" text-anchor=\"end\">{5}</text>"
           "<text x=\"{3:.0f}\" y=\"{1:.0f}\" text-anchor=\"end\">0</text>\n",
           k_gutter, bottom, k_gutter + k_plot_width, k_gutter - 6, k_top + 4,
           format_count(tallest));
  for (double t : bins.ticks()) {
    double x = x_of(bins, t);
    page.add("<line class=\"axis\" x1=\"{0:.1f}\" y1=\"{1:.0f}\" x2=\"{0:.1f}\" y2=\"{2:.0f}\"/>"
             "<text x=\"{0:.1f}\" y=\"{3:.0f}\" text-anchor=\"middle\">{4}</text>\n",
             x, bottom, bottom + 4, bottom + 16, format_seconds(t));
  }
}

std::uint64_t tallest_of(const std::vector<Counts>& counts)
{
  std::uint64_t tallest = 1;
  for (const auto& c : counts) {
    std::uint64_t total = 0;
    for (auto n : c) {
      total += n;
    }
    tallest = std::max(tallest, total);
  }
  return tallest;
}

void write_chart(Page& page,
                 const DurationBins& bins,
                 const std::vector<Counts>& counts,
                 double median,
                 const std::vector<std::pair<double, std::string>>& limits)
{
  page.add("<svg class=\"durations\" width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} "
           "{1:.0f}\" role=\"img\" aria-label=\"histogram of durations\">\n",
           k_chart_width, k_height);
  std::uint64_t tallest = tallest_of(counts);
  double scale = k_plot_height / static_cast<double>(tallest);
  for (std::size_t b = 0; b < bins.size(); ++b) {
    write_bin(page, bins, b, counts[b], scale);
  }
  write_axes(page, bins, tallest);
  write_marker(page, x_of(bins, median), "median", 12, "median " + format_seconds(median));
  for (std::size_t i = 0; i < limits.size(); ++i) {
    write_marker(page, x_of(bins, limits[i].first), "limit", 24 + 12.0 * static_cast<double>(i),
                 limits[i].second);
  }
  page.add("</svg>\n");
}

} // namespace

void write_durations(Page& page, const History& history)
{
  page.add("<section id=\"durations\"><h2>Durations</h2>\n");
  Range range = range_of(history);
  if (range.count == 0) {
    page.add("<p>No attempt recorded yet.</p>\n</section>\n");
    return;
  }
  double median = median_of(history, range.count);
  auto limits = limits_of(history, median);
  // The axis reaches the longest attempt and every limit, so that each line is drawn.
  DurationBins bins(range.min_positive,
                    limits.empty() ? range.max : std::max(range.max, limits.back().first));
  page.add("<p class=\"meta\">{} attempts \u00b7 {} scale \u00b7 median {}</p>\n",
           format_count(range.count), bins.log() ? "log" : "linear", format_seconds(median));
  write_chart(page, bins, count_bins(history, bins), median, limits);
  page.add("</section>\n");
}

} // namespace parmap::report
