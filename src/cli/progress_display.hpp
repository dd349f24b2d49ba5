// ProgressDisplay: --bar and --eta on stderr. On a terminal, one line redrawn in place and kept
// off the lines of the output; elsewhere (--progress-always into a file), plain lines.
#pragma once

#include "parmap/result.hpp"

#include <chrono>
#include <string>

namespace parmap::cli {

class ProgressDisplay {
public:
  /// `terminal`: stderr is a terminal, where the line is redrawn in place. Otherwise each
  /// change is a line of its own, at most one a second, with no escape sequences.
  ProgressDisplay(bool bar, bool eta, bool terminal) : m_bar(bar), m_eta(eta), m_terminal(terminal)
  {
  }
  /// Shows `p` (the engine calls this about ten times a second); on a terminal, not while
  /// output owns its last line.
  void draw(const Progress& p);
  /// Output is about to be written to the terminal (`true`: the line is erased), or has been
  /// and ended a line (`false`: the next draw() shows the line again). See
  /// Forward::on_terminal_output.
  void on_terminal_output(bool writing);
  /// Erases the line so that a message can be printed; the next draw() brings it back.
  void clear();
  /// Draws the last state and ends the line.
  void finish();
  /// The text of the line for `p`, `width` columns wide (for tests).
  std::string render(const Progress& p, std::size_t width) const;

private:
  /// Plain lines: writes the line for the last state if it changed, and if a second has passed
  /// since the previous one or `always`.
  void print_line(bool always);

  bool m_bar;
  bool m_eta;
  bool m_terminal;
  bool m_drawn = false;
  bool m_hidden = false; ///< Output owns the terminal's last line.
  Progress m_last;
  std::string m_printed; ///< Plain lines: the last one written.
  std::chrono::steady_clock::time_point m_printed_at{};
};

} // namespace parmap::cli
