// jobs_file: -j FILE, the number of jobs read from a file and read again when it changes, as
// GNU parallel's procfile.
#pragma once

#include <ctime>
#include <optional>
#include <string>

namespace parmap::cli {

class JobsFile {
public:
  /// Reads FILE now (its contents take every -j form: N, N%, +N, -N, 0). Throws UsageError.
  JobsFile(std::string path, unsigned cpus);

  /// The count read last.
  std::size_t jobs() const { return m_jobs; }
  /// The new count when FILE was modified since it was read last, else nullopt (for
  /// Options::jobs_update, which calls it about once a second). Throws parmap::Error when the
  /// new contents are not a job count; the count in force stays.
  std::optional<std::size_t> poll();

private:
  /// Reads and parses the file; throws UsageError.
  std::size_t read() const;

  std::string m_path;
  unsigned m_cpus;
  std::size_t m_jobs = 0;
  timespec m_mtime{};
};

} // namespace parmap::cli
