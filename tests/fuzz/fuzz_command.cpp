// libFuzzer target: command templates parsed in every Shell mode and rendered with a fuzzed
// item (properties: parmap::fuzz::check_command).
#include "properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parmap::fuzz::run_or_abort(parmap::fuzz::check_command, data, size);
}
