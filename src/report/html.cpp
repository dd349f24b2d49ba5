#include "report/html.hpp"

#include "output/json.hpp"

#include <fmt/format.h>

#include <cmath>
#include <ctime>

namespace parmap::report {
namespace {

constexpr std::string_view k_replacement = "\xEF\xBF\xBD"; // U+FFFD

/// Appends one ASCII byte, escaped as append_html() says.
void append_ascii(std::string& out, char c, Lines lines)
{
  switch (c) {
  case '&':
    out += "&amp;";
    return;
  case '<':
    out += "&lt;";
    return;
  case '>':
    out += "&gt;";
    return;
  case '"':
    out += "&quot;";
    return;
  case '\'':
    out += "&#39;";
    return;
  case '\n':
    out += lines == Lines::keep ? "\n" : "\\n";
    return;
  case '\t':
    out += lines == Lines::keep ? "\t" : "\\t";
    return;
  default:
    break;
  }
  auto b = static_cast<unsigned char>(c);
  if (b < 0x20 || b == 0x7F) {
    out += fmt::format("\\x{:02x}", b);
    return;
  }
  out.push_back(c);
}

} // namespace

void append_html(std::string& out, std::string_view text, std::size_t max, Lines lines)
{
  std::size_t i = 0;
  while (i < text.size() && i < max) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      append_ascii(out, text[i], lines);
      ++i;
      continue;
    }
    std::size_t len = utf8_sequence_at(text, i);
    if (len == 0) {
      out += k_replacement;
      ++i;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  if (i < text.size()) {
    out += "\xE2\x80\xA6"; // …
  }
}

std::string html(std::string_view text, std::size_t max, Lines lines)
{
  std::string out;
  append_html(out, text, max, lines);
  return out;
}

std::string format_seconds(double s)
{
  if (!(s > 0) || !std::isfinite(s)) {
    return "0";
  }
  if (s < 1e-3) {
    return fmt::format("{:.0f}\xC2\xB5s", s * 1e6);
  }
  if (s < 1) {
    return fmt::format("{:.{}f}ms", s * 1e3, s < 0.01 ? 1 : 0);
  }
  if (s < 60) {
    return fmt::format("{:.{}f}s", s, s < 10 ? 2 : 1);
  }
  auto whole = static_cast<std::uint64_t>(std::llround(s));
  if (whole < 3600) {
    return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  }
  if (whole < 86400) {
    return fmt::format("{}h{:02}m", whole / 3600, whole % 3600 / 60);
  }
  return fmt::format("{}d{:02}h", whole / 86400, whole % 86400 / 3600);
}

std::string format_clock(double unix_time)
{
  char when[64] = "?";
  // A damaged file may hold any number: outside time_t's range the cast would be undefined.
  if (std::isfinite(unix_time) && std::abs(unix_time) < 1e15) {
    auto t = static_cast<std::time_t>(unix_time);
    if (std::tm tm{}; localtime_r(&t, &tm) != nullptr) {
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    }
  }
  return when;
}

std::string format_count(std::uint64_t n)
{
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) {
      out.push_back(',');
    }
    out.push_back(digits[i]);
  }
  return out;
}

} // namespace parmap::report
