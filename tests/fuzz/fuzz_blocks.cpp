// libFuzzer target: the BlockCutter of --pipe, with a fuzzed format, fed in fuzzed chunks
// (properties: parmap::fuzz::check_blocks).
#include "properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parmap::fuzz::run_or_abort(parmap::fuzz::check_blocks, data, size);
}
