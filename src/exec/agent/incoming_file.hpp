// IncomingFile: a file arriving in FileData frames (a transfer on the agent, a --return on the
// controller). It is written under a temporary name beside its target and renamed into place
// when complete, so that a half-sent file never shows under its name.
#pragma once

#include "base/fd.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace parmap::agent {

class IncomingFile {
public:
  /// Opens "<path>.parmap-part", making missing parent directories.
  IncomingFile(std::string path, std::uint32_t mode);
  /// Removes the temporary file unless finish() put it in place.
  ~IncomingFile();
  IncomingFile(const IncomingFile&) = delete;
  IncomingFile& operator=(const IncomingFile&) = delete;

  void write(std::string_view bytes);
  /// Puts the file in place, unless the sender reported `sender_error` or writing failed.
  /// Returns why it did not land; empty when it did.
  std::string finish(const std::string& sender_error);
  const std::string& path() const { return m_path; }

private:
  std::string m_path;
  std::string m_temp;
  std::uint32_t m_mode;
  Fd m_fd;
  std::string m_error;
};

} // namespace parmap::agent
