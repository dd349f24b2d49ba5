// OutputFile: a file the CLI writes whole (--report --html FILE): it appears only once
// complete, so that a failed or interrupted write never leaves half a report behind.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace parmap::cli {

class OutputFile {
public:
  /// "-" is stdout. A path to a regular file (or to nothing yet) is written as a temporary file
  /// beside it, renamed over it by commit(); anything else (a FIFO, /dev/stdout) is written
  /// directly. Throws parmap::Error naming the path.
  explicit OutputFile(std::string path);
  /// Removes the temporary file unless commit() ran.
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  /// Throws parmap::Error naming the path (a full disk).
  void write(std::string_view bytes);
  /// Flushes and puts the file in place. Throws parmap::Error naming the path.
  void commit();

private:
  [[noreturn]] void fail() const;

  std::string m_path;
  std::string m_temp; ///< The temporary file; empty when writing in place or to stdout.
  std::FILE* m_file = nullptr;
};

} // namespace parmap::cli
