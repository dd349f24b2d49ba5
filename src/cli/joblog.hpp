// Joblog: one line per finished item in GNU parallel's --joblog format, so that scripts that
// read parallel's joblogs keep working.
#pragma once

#include "parmap/report.hpp"
#include "parmap/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace parmap::cli {

class Joblog {
public:
  /// Opens (truncates) FILE and writes the header. Throws parmap::Error naming the file.
  explicit Joblog(const std::string& path);
  /// Appends the item's line: Seq Host Starttime JobRuntime Send Receive Exitval Signal Command.
  void add(const Result& r);
  /// The line add() writes, for tests.
  static std::string line(const Result& r);
  /// The line of a recorded attempt (--report --joblog), `command` being what it ran.
  static std::string line(const ReportAttempt& a, std::string command);
  /// The first line of a joblog: the column names.
  static constexpr std::string_view k_header =
      "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

  ~Joblog();
  Joblog(const Joblog&) = delete;
  Joblog& operator=(const Joblog&) = delete;

private:
  int m_fd = -1;
  std::string m_path;
};

} // namespace parmap::cli
