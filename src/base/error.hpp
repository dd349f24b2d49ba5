// Error: the one exception type for setup and I/O failures that end a run (exit status 255).
#pragma once

#include "parmap/error.hpp"

#include <cerrno>
#include <string>
#include <string_view>

namespace parmap {

/// Throws parmap::Error("<what>: <strerror(errnum)>").
[[noreturn]] void throw_errno(std::string_view what, int errnum);

/// Returns rc; throws parmap::Error naming `what` and errno when rc < 0.
inline long check_errno(long rc, std::string_view what)
{
  if (rc < 0) {
    throw_errno(what, errno);
  }
  return rc;
}

/// Retries fn() while it fails with EINTR; returns its last result.
template <typename Fn> auto retry_eintr(Fn&& fn)
{
  for (;;) {
    auto rc = fn();
    if (!(rc < 0 && errno == EINTR)) {
      return rc;
    }
  }
}

} // namespace parmap
