#include "progress_display.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <sys/ioctl.h>
#include <unistd.h>

namespace parmap::cli {
namespace {

std::size_t terminal_width()
{
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) {
    return ws.ws_col;
  }
  return 80;
}

std::string duration_text(double seconds)
{
  auto s = static_cast<long long>(seconds + 0.5);
  if (s < 60) {
    return fmt::format("{}s", s);
  }
  if (s < 3600) {
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  }
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

void put(const std::string& text)
{
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

} // namespace

std::string ProgressDisplay::render(const Progress& p, std::size_t width) const
{
  std::uint64_t ran = p.finished - p.replayed;
  double rate = p.elapsed > 0 ? static_cast<double>(ran) / p.elapsed : 0;
  std::string eta;
  if (p.known_total) {
    std::uint64_t left = p.total > p.finished ? p.total - p.finished : 0;
    eta = rate > 0 ? duration_text(static_cast<double>(left) / rate) : std::string("?");
    if (m_eta) {
      eta = fmt::format("ETA {} left {} avg {:.3f}s", eta, left,
                        ran > 0 ? p.elapsed / static_cast<double>(ran) : 0.0);
    } else {
      eta = "ETA " + eta;
    }
  }
  std::string failed = p.failed > 0 ? fmt::format(" {} failed", p.failed) : std::string();
  if (!p.known_total) {
    return fmt::format("parmap: {} done{}, {} running, {:.1f}/s", p.finished, failed, p.running,
                       rate);
  }
  std::string counts = fmt::format(" {}/{}{} {}", p.finished, p.total, failed, eta);
  if (!m_bar) {
    return "parmap:" + counts;
  }
  double fraction = p.total > 0 ? static_cast<double>(p.finished) / static_cast<double>(p.total) : 1.0;
  std::string pct = fmt::format("parmap: {:3.0f}% ", fraction * 100);
  std::size_t used = pct.size() + counts.size() + 2;
  std::size_t bar_width = width > used + 10 ? width - used - 1 : 10;
  auto filled = static_cast<std::size_t>(fraction * static_cast<double>(bar_width));
  filled = std::min(filled, bar_width);
  return pct + "[" + std::string(filled, '#') + std::string(bar_width - filled, ' ') + "]" +
         counts;
}

void ProgressDisplay::draw(const Progress& p)
{
  m_last = p;
  if (!m_terminal) {
    print_line(false);
    return;
  }
  if (m_hidden) {
    return;
  }
  std::size_t width = terminal_width();
  std::string line = render(p, width);
  if (line.size() >= width) {
    line.resize(width - 1);
  }
  put("\r\033[K" + line);
  m_drawn = true;
}

void ProgressDisplay::print_line(bool always)
{
  std::string line = render(m_last, 80);
  auto now = std::chrono::steady_clock::now();
  if (line == m_printed || (!always && now - m_printed_at < std::chrono::seconds(1))) {
    return;
  }
  put(line + "\n");
  m_printed = std::move(line);
  m_printed_at = now;
}

void ProgressDisplay::on_terminal_output(bool writing)
{
  if (writing) {
    clear();
  }
  m_hidden = writing;
}

void ProgressDisplay::clear()
{
  if (m_drawn) {
    put("\r\033[K");
    m_drawn = false;
  }
}

void ProgressDisplay::finish()
{
  if (!m_terminal) {
    print_line(true);
    return;
  }
  if (m_hidden) {
    put("\n"); // the output ended without a newline: keep it, draw below it
    m_hidden = false;
  }
  draw(m_last);
  put("\n");
  m_drawn = false;
}

} // namespace parmap::cli
