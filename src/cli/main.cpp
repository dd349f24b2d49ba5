// parmap: the command-line program, a thin layer over the library (parmap/parmap.hpp).
#include "cli.hpp"
#include "run.hpp"

#include "parmap/agent.hpp"

#include <cstring>
#include <variant>

int main(int argc, char** argv)
{
  parmap::cli::ensure_standard_fds();
  if (argc == 2 && std::strcmp(argv[1], "--agent") == 0) {
    return parmap::run_agent(); // hidden: what a controller starts on a remote host
  }
  auto parsed = parmap::cli::parse(argc, argv);
  if (const int* status = std::get_if<int>(&parsed)) {
    return *status;
  }
  return parmap::cli::run(std::get<parmap::cli::Config>(parsed));
}
