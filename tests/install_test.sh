#!/usr/bin/env bash
# Install test: `cmake --install` the build tree into a temporary prefix, check the layout and
# that the public headers stand alone, then build examples/ against that prefix with
# find_package(parmap) and run both programs. Registered in CTest by tests/CMakeLists.txt, which
# passes everything through the environment:
#   BUILD_DIR SOURCE_DIR CMAKE GENERATOR MAKE_PROGRAM CXX CXX_FLAGS CONFIG
#   BINDIR LIBDIR INCLUDEDIR MANDIR DATADIR  (the GNUInstallDirs paths, relative)
#   PARMAP_BIN (the parmap built in BUILD_DIR)
set -euo pipefail

tmp=$(mktemp -d "${TMPDIR:-/tmp}/parmap-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
check_file() {
  if [[ -f $prefix/$1 && -s $prefix/$1 ]]; then echo "ok: $1"; else fail "missing or empty: $1"; fi
}
# expect NAME ACTUAL EXPECTED: exact comparison of a program's output.
expect() {
  if [[ $2 == "$3" ]]; then
    echo "ok: $1"
  else
    fail "$1"
    diff <(printf '%s\n' "$3") <(printf '%s\n' "$2") >&2 || true
  fi
}

echo "== cmake --install into $prefix"
"$CMAKE" --install "$BUILD_DIR" --prefix "$prefix" --config "$CONFIG" >"$tmp/install.log" ||
  { cat "$tmp/install.log" >&2; exit 1; }

echo "== layout"
check_file "$BINDIR/parmap"
[[ -x $prefix/$BINDIR/parmap ]] || fail "$BINDIR/parmap is not executable"
check_file "$MANDIR/man1/parmap.1"
check_file "$DATADIR/bash-completion/completions/parmap"
check_file "$DATADIR/zsh/vendor-completions/_parmap"
check_file "$DATADIR/fish/vendor_completions.d/parmap.fish"
check_file "$INCLUDEDIR/parmap/parmap.hpp"
check_file "$INCLUDEDIR/parmap/report.hpp"
check_file "$LIBDIR/libparmap.a"
check_file "$LIBDIR/cmake/parmap/parmapConfig.cmake"
check_file "$LIBDIR/cmake/parmap/parmapConfigVersion.cmake"
check_file "$LIBDIR/cmake/parmap/parmapTargets.cmake"
expect "the installed parmap is this build's" "$("$prefix/$BINDIR/parmap" --version)" \
  "$("$PARMAP_BIN" --version)"
expect "installed parmap runs" "$("$prefix/$BINDIR/parmap" echo ::: hello world)" $'hello\nworld'

echo "== public headers stand alone"
# Only parmap/*.hpp is installed under include/, and they include nothing but each other and the
# standard library: no internal header from src/, no Boost, asio or SQLite.
others=$(cd "$prefix/$INCLUDEDIR" && find . -type f ! -path './parmap/*.hpp')
[[ -z $others ]] || fail "unexpected files under include/: $others"
bad_includes=$(grep -h '^[[:space:]]*#[[:space:]]*include' "$prefix/$INCLUDEDIR"/parmap/*.hpp |
  grep -v -E '#[[:space:]]*include[[:space:]]+("parmap/[a-z_]+\.hpp"|<[a-z_]+>)' || true)
[[ -z $bad_includes ]] || fail "non-public includes in installed headers: $bad_includes"
if grep -n -E 'boost::|asio::|sqlite3|[<"/](boost|asio|fmt)/' "$prefix/$INCLUDEDIR"/parmap/*.hpp; then
  fail "Boost, asio or SQLite named in installed headers"
fi
# The build tree must not leak into the package either.
if grep -l -F -e "$SOURCE_DIR" -e "$BUILD_DIR" "$prefix/$LIBDIR"/cmake/parmap/*.cmake; then
  fail "the CMake package refers to the source or build tree"
fi
# fmt is private and header-only: a consumer must not need it (the examples below are also
# configured with find_package(fmt) disabled).
if grep -n -E 'fmt::|dependency\(fmt|package\(fmt' "$prefix/$LIBDIR"/cmake/parmap/*.cmake; then
  fail "the CMake package asks consumers for fmt"
fi
cat >"$tmp/standalone.cpp" <<'EOF'
#include <parmap/parmap.hpp>
#include <parmap/report.hpp>
int main()
{
  parmap::Options options;
  options.halt = parmap::Halt::keep_going();
  return parmap::to_string(parmap::Status::ok)[0] == 'o' ? 0 : 1;
}
EOF
# With src/ absent, an internal include cannot be found anyway; the system directories are
# another matter, so a poisoned copy of what the library uses privately comes first.
mkdir -p "$tmp/poison/boost" "$tmp/poison/fmt"
for header in boost/asio.hpp boost/process.hpp sqlite3.h fmt/core.h fmt/format.h; do
  printf '#error "%s reached from a public header"\n' "$header" >"$tmp/poison/$header"
done
if "$CXX" -std=c++20 -fsyntax-only -I"$tmp/poison" -I"$prefix/$INCLUDEDIR" "$tmp/standalone.cpp" \
     2>"$tmp/standalone.log"; then
  echo "ok: <parmap/parmap.hpp> and <parmap/report.hpp> compile with -I<prefix>/include alone"
else
  cat "$tmp/standalone.log" >&2
  fail "the public headers do not compile on their own"
fi

echo "== build examples/ against the installed package"
read -r -a flags <<<"${CXX_FLAGS:-}"
"$CMAKE" -S "$SOURCE_DIR/examples" -B "$tmp/examples" -G "$GENERATOR" \
  -DCMAKE_MAKE_PROGRAM="$MAKE_PROGRAM" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_CXX_FLAGS="${flags[*]:-}" -DCMAKE_EXE_LINKER_FLAGS="${flags[*]:-}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_fmt=ON \
  >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log" >&2; exit 1; }
found=$(sed -n 's/^parmap_DIR:PATH=//p' "$tmp/examples/CMakeCache.txt")
expect "find_package(parmap) found the installed copy" "$found" "$prefix/$LIBDIR/cmake/parmap"
"$CMAKE" --build "$tmp/examples" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
echo "ok: examples built"

echo "== run the examples"
imap_stream=$tmp/examples/imap_stream
map_async=$tmp/examples/map_async_checkpoint
strip_times() { sed -E 's/^ *[0-9]+\.[0-9]+s  //'; }

# Items from argv: they finish 2, 3, 1 but are printed in input order.
out=$("$imap_stream" 'sleep {}; echo slept {}' 0.6 0.2 0.4 | strip_times)
expect "imap_stream: ordered results from argv" "$out" \
  $'#1 0.6: ok (exit 0) slept 0.6\n#2 0.2: ok (exit 0) slept 0.2\n#3 0.4: ok (exit 0) slept 0.4'
# Items from stdin; an item that fails is a result (keep-going) and counts in the exit status.
set +e
out=$(printf '2\n3\n7\n' | "$imap_stream" 'echo $(( {} * {} )); [ {} != 7 ]' | strip_times)
status=$?
set -e
expect "imap_stream: results from stdin, a failure among them" "$out" \
  $'#1 2: ok (exit 0) 4\n#2 3: ok (exit 0) 9\n#3 7: failed (exit 1) 49'
expect "imap_stream: exit status counts the failure" "$status" 1
# Streaming: the first result is printed at once, the second after its 2 seconds.
times=$("$imap_stream" 'sleep {}' 0 2 | sed -E 's/^ *([0-9]+)\..*/\1/')
expect "imap_stream: each result is printed as soon as it is ready" "$times" $'0\n2'

ck=$tmp/squares.db
out=$("$map_async" "$ck" 1 2 3)
expect "map_async_checkpoint: first run computes" "$out" \
  $'running...\n1 squared is 1  (computed)\n2 squared is 4  (computed)\n3 squared is 9  (computed)'
out=$("$map_async" --resume "$ck" 1 2 3 4)
expect "map_async_checkpoint: resume replays, computes only the new item" "$out" \
  $'running...\n1 squared is 1  (replayed)\n2 squared is 4  (replayed)\n3 squared is 9  (replayed)\n4 squared is 16  (computed)'
set +e
err=$("$map_async" "$ck" 1 2>&1 >/dev/null)
status=$?
set -e
expect "map_async_checkpoint: an existing checkpoint without --resume is refused" "$status" 255
[[ $err == error:* ]] || fail "map_async_checkpoint: no error message: $err"
report=$("$prefix/$BINDIR/parmap" --checkpoint "$ck" --report --json)
[[ $report == *'"done":4'* ]] || fail "the checkpoint written through the API: $report"

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "install test passed"
