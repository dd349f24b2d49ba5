#!/usr/bin/env bash
# Runs the whole test suite: unit tests (doctest) and end-to-end tests (the real binary), once
# under AddressSanitizer + UndefinedBehaviorSanitizer and once in a Release build; the unit
# tests (where the threads are) once more under ThreadSanitizer; and a short run of each
# fuzzer. Installs missing Debian packages first (apt-get). Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")"
.ci/install

jobs=$(nproc)
ctest_args=("$@")
build() { # build DIR TARGET CMAKE-ARGS...
  local dir=$1 target=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DPARMAP_WERROR=ON "$@" >/dev/null
  ninja -C "$dir" "$target"
}
check() {
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 600 "$@" "${ctest_args[@]}"
}

echo "== ASan + UBSan (Debug): unit and end-to-end tests"
build build/test-asan all -DCMAKE_BUILD_TYPE=Debug -DPARMAP_SANITIZE=ON
check build/test-asan

echo "== Release: unit and end-to-end tests, install, package"
build build/test-release all -DCMAKE_BUILD_TYPE=Release
check build/test-release

echo "== TSan (Debug): unit tests"
# Only what the unit tests need: the threads are in the library's API, not in the executable.
build build/test-tsan unit_tests -DCMAKE_BUILD_TYPE=Debug -DPARMAP_TSAN=ON
check build/test-tsan -E '^(e2e|install|package)\.'

if [ -x tests/fuzz/run ]; then
  echo "== Fuzzing: a short run of each target"
  tests/fuzz/run "${PARMAP_FUZZ_SECONDS:-15}"
fi
echo "all tests passed"
