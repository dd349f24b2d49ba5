// libFuzzer target: the Splitter fed in fuzzed chunks with a fuzzed delimiter (properties:
// parmap::fuzz::check_input).
#include "properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parmap::fuzz::run_or_abort(parmap::fuzz::check_input, data, size);
}
