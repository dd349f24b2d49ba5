// libFuzzer target: damaged checkpoint files opened for --resume and read by --report
// (properties: parmap::fuzz::check_checkpoint).
#include "properties.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // `fuzz_checkpoint -write_valid=FILE`: write the undamaged checkpoint (for the seed corpus).
  for (int i = 1; i < *argc; ++i) {
    const char* arg = (*argv)[i];
    if (std::strncmp(arg, "-write_valid=", 13) == 0) {
      std::string image = parmap::fuzz::valid_checkpoint_image();
      FILE* f = std::fopen(arg + 13, "wb");
      if (f == nullptr || std::fwrite(image.data(), 1, image.size(), f) != image.size()) {
        std::perror(arg + 13);
        std::exit(1);
      }
      std::fclose(f);
      std::exit(0);
    }
  }
  parmap::fuzz::valid_checkpoint_image(); // build the base images before timing starts
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parmap::fuzz::run_or_abort(parmap::fuzz::check_checkpoint, data, size);
}
