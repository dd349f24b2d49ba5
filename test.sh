#!/usr/bin/env bash
# Runs the whole test suite: unit tests (doctest) and end-to-end tests (the real binary),
# once under AddressSanitizer + UndefinedBehaviorSanitizer and once in a Release build.
# Installs missing Debian packages first (apt-get). Usage: ./test.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")"
.ci/install

jobs=$(nproc)
run_suite() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DPARMAP_WERROR=ON "$@" >/dev/null
  ninja -C "$dir"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 600 "${ctest_args[@]}"
}
ctest_args=("$@")

echo "== ASan + UBSan (Debug)"
run_suite build/test-asan -DCMAKE_BUILD_TYPE=Debug -DPARMAP_SANITIZE=ON
echo "== Release"
run_suite build/test-release -DCMAKE_BUILD_TYPE=Release
echo "all tests passed"
