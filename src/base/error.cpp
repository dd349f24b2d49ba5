#include "base/error.hpp"

#include <fmt/format.h>

#include <cstring>

namespace parmap {

[[noreturn]] void throw_errno(std::string_view what, int errnum)
{
  throw Error(fmt::format("{}: {}", what, std::strerror(errnum)));
}

} // namespace parmap
