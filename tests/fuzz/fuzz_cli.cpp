// libFuzzer target: cli::parse on an argv made of the input split at NUL, run in an empty
// temporary directory (properties: parmap::fuzz::check_cli).
#include "properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parmap::fuzz::run_or_abort(parmap::fuzz::check_cli, data, size);
}
