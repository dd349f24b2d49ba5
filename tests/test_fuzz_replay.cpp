// Replays the fuzz corpora (tests/fuzz/corpus/) and the crashing inputs kept as regressions
// (tests/fuzz/regressions/) through the fuzz targets' own property checks, so that the ordinary
// unit-test build (GCC, with or without sanitizers) keeps every input found so far fixed.
#include "fuzz/properties.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Check = void (*)(const std::uint8_t*, std::size_t);

std::vector<fs::path> inputs_of(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "regressions"}) {
    fs::path dir = fs::path(PARMAP_FUZZ_DIR) / kind / target;
    if (!fs::is_directory(dir)) {
      continue;
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && !name.starts_with(".") && name != "README.md") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Sends stdout and stderr to /dev/null while it lives (cli::parse prints help and usage errors).
class Silence {
public:
  Silence() : m_out(::dup(STDOUT_FILENO)), m_err(::dup(STDERR_FILENO)) {
    flush();
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::close(null);
  }
  ~Silence() {
    flush();
    ::dup2(m_out, STDOUT_FILENO);
    ::dup2(m_err, STDERR_FILENO);
    ::close(m_out);
    ::close(m_err);
  }
  Silence(const Silence&) = delete;
  Silence& operator=(const Silence&) = delete;

private:
  static void flush() {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(stdout);
    std::fflush(stderr);
  }
  int m_out;
  int m_err;
};

void replay(const std::string& target, Check check, bool quiet = false) {
  auto files = inputs_of(target);
  CHECK_MESSAGE(!files.empty(), "no inputs for " << target);
  for (const auto& file : files) {
    std::string data = slurp(file);
    std::string failure;
    try {
      std::optional<Silence> silence;
      if (quiet) {
        silence.emplace();
      }
      check(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    } catch (const std::exception& e) {
      failure = e.what();
    }
    CHECK_MESSAGE(failure.empty(), file.string() << ": " << failure);
  }
}

} // namespace

TEST_CASE("fuzz: corpora and regressions still pass the fuzz properties") {
  SUBCASE("fuzz_command") {
    replay("fuzz_command", parmap::fuzz::check_command);
  }
  SUBCASE("fuzz_input") {
    replay("fuzz_input", parmap::fuzz::check_input);
  }
  SUBCASE("fuzz_blocks") {
    replay("fuzz_blocks", parmap::fuzz::check_blocks);
  }
  SUBCASE("fuzz_cli") {
    replay("fuzz_cli", parmap::fuzz::check_cli, true);
  }
  SUBCASE("fuzz_protocol") {
    replay("fuzz_protocol", parmap::fuzz::check_protocol);
  }
  SUBCASE("fuzz_checkpoint") {
    replay("fuzz_checkpoint", parmap::fuzz::check_checkpoint, true);
  }
}
