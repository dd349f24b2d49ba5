// Joblog: GNU parallel's --joblog, one line per finished item, so that scripts that read
// parallel's joblogs keep working.
#pragma once

#include "base/fd.hpp"
#include "parmap/result.hpp"

#include <string>
#include <string_view>

namespace parmap {

class Joblog {
public:
  /// `spec` is FILE (truncated, then the header), "+FILE" (appended to, no header, as GNU
  /// parallel does) or "-" (the caller writes the header and lines to stdout itself).
  /// Throws parmap::Error naming the file.
  explicit Joblog(const std::string& spec);

  bool to_stdout() const { return !m_fd; }
  /// Writes a line to the file (one write, so that a killed run leaves whole lines). Throws
  /// parmap::Error naming the file.
  void add(const Result& r, std::string_view command);

  static std::string header();
  /// Seq Host Starttime JobRuntime Send Receive Exitval Signal Command, TAB-separated; the
  /// command on one line (newlines and TABs become spaces).
  static std::string line(const Result& r, std::string_view command);

private:
  Fd m_fd;
  std::string m_path;
};

} // namespace parmap
