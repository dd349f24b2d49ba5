// HTML text for the HTML report: any bytes made into safe, valid HTML text, and the report's
// number and time formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace parmap::report {

/// What append_html() does with a newline or a TAB.
enum class Lines : std::uint8_t {
  escape, ///< Shown as \n and \t: one line (a tooltip, a table cell).
  keep,   ///< Kept (inside <pre>).
};

/// Appends `text` as HTML text, also safe inside a quoted attribute: & < > " ' become
/// character references, other control bytes show as \xHH (newlines and TABs as `lines` says),
/// invalid UTF-8 as U+FFFD. Text beyond `max` bytes is cut (at a character) and "…" follows.
void append_html(std::string& out,
                 std::string_view text,
                 std::size_t max = SIZE_MAX,
                 Lines lines = Lines::escape);
/// append_html() into a new string.
std::string html(std::string_view text, std::size_t max = SIZE_MAX, Lines lines = Lines::escape);

/// A duration for people: "0", "850µs", "12ms", "1.25s", "42.5s", "2m05s", "1h02m", "3d04h".
std::string format_seconds(double seconds);
/// A Unix time as local time, "2024-05-01 10:00:03"; "?" when it cannot be shown.
std::string format_clock(double unix_time);
/// A count with thousands separators: "100,000".
std::string format_count(std::uint64_t n);

} // namespace parmap::report
