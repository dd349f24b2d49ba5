// ProgressDisplay: --bar and --eta on stderr, one line redrawn in place.
#pragma once

#include "parmap/result.hpp"

#include <string>

namespace parmap::cli {

class ProgressDisplay {
public:
  ProgressDisplay(bool bar, bool eta) : m_bar(bar), m_eta(eta) {}
  /// Redraws the line (the engine calls this at most ~10 times a second).
  void draw(const Progress& p);
  /// Erases the line so that a message can be printed; the next draw() brings it back.
  void clear();
  /// Draws the last state and ends the line.
  void finish();
  /// The text of the line for `p`, `width` columns wide (for tests).
  std::string render(const Progress& p, std::size_t width) const;

private:
  bool m_bar;
  bool m_eta;
  bool m_drawn = false;
  Progress m_last;
};

} // namespace parmap::cli
