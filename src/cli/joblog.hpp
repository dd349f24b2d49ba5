// Joblog: one line per finished item in GNU parallel's --joblog format, so that scripts that
// read parallel's joblogs keep working.
#pragma once

#include "parmap/result.hpp"

#include <string>

namespace parmap::cli {

class Joblog {
public:
  /// Opens (truncates) FILE and writes the header. Throws parmap::Error naming the file.
  explicit Joblog(const std::string& path);
  /// Appends the item's line: Seq Host Starttime JobRuntime Send Receive Exitval Signal Command.
  void add(const Result& r);
  /// The line add() writes, for tests.
  static std::string line(const Result& r);

  ~Joblog();
  Joblog(const Joblog&) = delete;
  Joblog& operator=(const Joblog&) = delete;

private:
  int m_fd = -1;
  std::string m_path;
};

} // namespace parmap::cli
