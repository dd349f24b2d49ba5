// The unit-test runner: doctest's main, plus a scratch directory per run (kept on failure).
#define DOCTEST_CONFIG_IMPLEMENT
#include "support.hpp"

#include "parmap/agent.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string_view>

int main(int argc, char** argv)
{
  if (argc == 2 && std::string_view(argv[1]) == "--agent") {
    return parmap::run_agent(); // the far end of the remote executor's tests
  }
  auto dir = std::filesystem::temp_directory_path() /
             ("parmap-unit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  parmap::test::set_scratch_dir(dir);
  doctest::Context context(argc, argv);
  int rc = context.run();
  if (rc == 0) {
    std::filesystem::remove_all(dir);
  } else {
    std::cerr << "scratch files kept in " << dir << "\n";
  }
  return rc;
}
