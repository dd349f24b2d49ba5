// parmap: the command-line program, a thin layer over the library (parmap/parmap.hpp).
#include "cli.hpp"
#include "run.hpp"

#include <variant>

int main(int argc, char** argv)
{
  parmap::cli::ensure_standard_fds();
  auto parsed = parmap::cli::parse(argc, argv);
  if (const int* status = std::get_if<int>(&parsed)) {
    return *status;
  }
  return parmap::cli::run(std::get<parmap::cli::Config>(parsed));
}
