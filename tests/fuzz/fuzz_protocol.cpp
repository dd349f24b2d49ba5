// libFuzzer target: the agent protocol's frame reader and decoder on arbitrary bytes
// (properties: parmap::fuzz::check_protocol).
#include "properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parmap::fuzz::run_or_abort(parmap::fuzz::check_protocol, data, size);
}
