#include "values.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

namespace parmap::cli {
namespace {

[[noreturn]] void bad(const std::string& message)
{
  throw UsageError(message);
}

bool all_digits(std::string_view text)
{
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

/// A finite decimal number filling all of `text` (no sign, no exponent), or nullopt.
std::optional<double> plain_number(std::string_view text)
{
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string_view::npos) {
    return std::nullopt;
  }
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

/// GNU parallel's durations (1m30s, 2h, 1.5d) in seconds, for the message that refuses them.
std::optional<double> gnu_duration(std::string_view text)
{
  double total = 0;
  bool any = false;
  while (!text.empty()) {
    auto unit = text.find_first_of("smhd");
    if (unit == std::string_view::npos) {
      return std::nullopt;
    }
    auto number = plain_number(text.substr(0, unit));
    if (!number) {
      return std::nullopt;
    }
    static constexpr std::string_view k_units = "smhd";
    static constexpr double k_seconds[] = {1, 60, 3600, 86400};
    total += *number * k_seconds[k_units.find(text[unit])];
    text.remove_prefix(unit + 1);
    any = true;
  }
  return any ? std::optional<double>(total) : std::nullopt;
}

} // namespace

std::size_t parse_count(std::string_view text, std::string_view option, std::size_t min)
{
  bool negative = text.starts_with('-') && all_digits(text.substr(1));
  if (negative && text.find_first_not_of("-0") != std::string_view::npos) {
    bad(fmt::format("{} must not be negative (got {})", option, text));
  }
  std::string_view digits = negative ? text.substr(1) : text;
  if (!all_digits(digits)) {
    bad(fmt::format("{}: '{}' is not a whole number", option, text));
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range ||
      value > std::numeric_limits<std::size_t>::max()) {
    bad(fmt::format("{}: {} is too large", option, text));
  }
  (void)end;
  if (value < min) {
    bad(fmt::format("{} must be at least {} (got {})", option, min, text));
  }
  return static_cast<std::size_t>(value);
}

double parse_seconds(std::string_view text, std::string_view option)
{
  if (auto value = plain_number(text)) {
    return *value;
  }
  if (text.starts_with('-') && plain_number(text.substr(1))) {
    bad(fmt::format("{} must not be negative (got {})", option, text));
  }
  if (auto seconds = gnu_duration(text)) {
    bad(fmt::format("{}: '{}': durations are plain seconds here ({})", option, text, *seconds));
  }
  bad(fmt::format("{}: '{}' is not a number of seconds", option, text));
}

std::size_t parse_jobs(std::string_view text, unsigned cpus, std::string_view option)
{
  if (text.ends_with('%')) {
    auto pct = plain_number(text.substr(0, text.size() - 1));
    if (!pct) {
      bad(fmt::format("{}: '{}' is not a percentage of the CPUs", option, text));
    }
    return std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(cpus * *pct / 100.0)));
  }
  if (text.starts_with('+')) {
    return cpus + parse_count(text.substr(1), option);
  }
  if (text.starts_with('-') && all_digits(text.substr(1))) {
    auto less = parse_count(text.substr(1), option);
    return less >= cpus ? 1 : cpus - less;
  }
  std::size_t n = parse_count(text, option);
  return n == 0 ? 1024 : n; // -j 0: as many as possible (the open-file limit still applies)
}

char parse_delimiter(std::string_view text)
{
  if (text.size() == 1) {
    return text[0];
  }
  if (text.size() == 2 && text[0] == '\\') {
    switch (text[1]) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case 'r':
      return '\r';
    case '0':
      return '\0';
    case '\\':
      return '\\';
    default:
      break;
    }
  }
  if (text.size() == 4 && text.starts_with("\\x")) {
    // from_chars, not stoi: stoi throws on "\x--" and accepts "\x-1" and "\x 1".
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data() + 2, text.data() + 4, value, 16);
    if (ec == std::errc() && end == text.data() + 4) {
      return static_cast<char>(value);
    }
  }
  bad(fmt::format("--delimiter: '{}' is not one character (escapes: \\n \\t \\r \\0 \\\\ \\xHH)",
                  text));
}

namespace {

Halt::When parse_when(std::string_view when)
{
  if (when == "now") {
    return Halt::When::now;
  }
  if (when == "soon") {
    return Halt::When::soon;
  }
  bad(fmt::format("--halt: '{}' should be 'now' or 'soon'", when));
}

Halt::On parse_on(std::string_view on, std::string_view text)
{
  if (on == "fail") {
    return Halt::On::fail;
  }
  if (on == "success") {
    return Halt::On::success;
  }
  if (on == "done") {
    return Halt::On::done;
  }
  bad(fmt::format("--halt: '{}' is not of the form [now|soon,]fail|success|done=N[%]", text));
}

} // namespace

Halt parse_halt(std::string_view text)
{
  // GNU parallel's short forms first.
  if (text == "never" || text == "0") {
    return Halt::keep_going();
  }
  if (text == "1" || text == "2" || text == "-1" || text == "-2") {
    Halt h;
    h.when = text.back() == '1' ? Halt::When::soon : Halt::When::now;
    h.on = text.front() == '-' ? Halt::On::success : Halt::On::fail;
    return h;
  }
  std::string expanded = text.ends_with('%') && text.find_first_of(",=") == std::string::npos
                             ? "soon,fail=" + std::string(text)
                             : std::string(text);
  std::string_view rest = expanded;
  Halt h;
  if (auto comma = rest.find(','); comma != std::string_view::npos) {
    h.when = parse_when(rest.substr(0, comma));
    rest.remove_prefix(comma + 1);
  }
  auto eq = rest.find('=');
  h.on = parse_on(rest.substr(0, eq), text);
  std::string_view count = eq == std::string_view::npos ? "1" : rest.substr(eq + 1);
  h.percent = count.ends_with('%');
  if (h.percent) {
    count.remove_suffix(1);
  }
  auto threshold = plain_number(count);
  if (!threshold || *threshold <= 0) {
    bad(fmt::format("--halt: '{}': the count after '=' must be a number above 0", text));
  }
  h.threshold = *threshold;
  return h;
}

int parse_nice(std::string_view text)
{
  bool negative = text.starts_with('-');
  std::string_view digits = negative ? text.substr(1) : text.starts_with('+') ? text.substr(1) : text;
  int value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (!all_digits(digits) || ec != std::errc() || value > 39) {
    bad(fmt::format("--nice: '{}' is not a niceness from -20 to 19", text));
  }
  (void)end;
  value = negative ? -value : value;
  if (value < -20 || value > 19) {
    bad(fmt::format("--nice: '{}' is not a niceness from -20 to 19", text));
  }
  return value;
}

} // namespace parmap::cli
