// The HTML report's page: a writer that hands the markup on in bounded pieces, and the charts
// write_html_report() puts on it.
#pragma once

#include "report/html.hpp"
#include "store/history.hpp"

#include <fmt/format.h>

#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

namespace parmap::report {

/// Width of the charts' plotting area, in pixels: what "thinner than a pixel" is measured in.
inline constexpr double k_plot_width = 1000;
/// Room left of the plots for row labels.
inline constexpr double k_gutter = 130;
/// The charts' width: labels, plot, and a margin.
inline constexpr double k_chart_width = k_gutter + k_plot_width + 16;

/// The page being written. Markup gathers in a buffer that goes to the sink whenever it holds
/// about 64 KiB, so that a page of any size is written in bounded memory.
class Page {
public:
  explicit Page(std::function<void(std::string_view)> write) : m_write(std::move(write)) {}

  /// Appends markup. The arguments go in as they are: numbers, or text made by html().
  template <class... Args> void add(fmt::format_string<Args...> format, Args&&... args)
  {
    fmt::format_to(std::back_inserter(m_buffer), format, std::forward<Args>(args)...);
    if (m_buffer.size() >= k_piece) {
      flush();
    }
  }
  /// Appends text, escaped (append_html()).
  void text(std::string_view text, std::size_t max = SIZE_MAX, Lines lines = Lines::escape)
  {
    append_html(m_buffer, text, max, lines);
  }
  /// Hands what is buffered to the sink.
  void flush();

private:
  static constexpr std::size_t k_piece = 64 * 1024;
  std::function<void(std::string_view)> m_write;
  std::string m_buffer;
};

/// The timeline: one chart per session (a phase of the run), one row per host and slot, each
/// attempt a bar (or part of an aggregate where bars would be thinner than a pixel).
void write_timeline(Page& page, const History& history);

/// The histogram of attempt durations, with the median and each session's --timeout.
void write_durations(Page& page, const History& history);

} // namespace parmap::report
