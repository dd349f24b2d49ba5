#!/usr/bin/env bash
# Gets a fresh Debian 12 machine going: installs what parmap needs (apt-get), builds it in
# Release mode, and runs a real example. The binary ends up in build/release/src/parmap.
set -euo pipefail
cd "$(dirname "$0")"
.ci/install

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARMAP_BUILD_TESTS=OFF >/dev/null
ninja -C build/release parmap
parmap=build/release/src/parmap
echo

demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
echo "== Count the lines of every source file, 4 at a time, results in input order:"
echo "   (one word with shell syntax runs through sh; each item is passed as data, never as code)"
echo "   printf '%s\n' src/*/*.cpp | parmap -j4 --tag 'wc -l < {}'"
printf '%s\n' src/*/*.cpp | "$parmap" -j4 --tag 'wc -l < {}' > "$demo/lines.txt"
head -n 6 "$demo/lines.txt"
echo "   ..."
echo
echo "== The same with a checkpoint and a 5 s timeout per item; one item fails on purpose:"
echo "   parmap --checkpoint run.db --keep-going --timeout 5 --json 'wc -l < {}' :::: files.txt"
printf '%s\n' src/*/*.cpp /no/such/file > "$demo/files.txt"
"$parmap" --checkpoint "$demo/run.db" --keep-going --timeout 5 --json \
  'wc -l < {}' :::: "$demo/files.txt" | tail -n 2 || echo "   (exit status $?: one failure)"
echo
echo "== Resumed: nothing runs again; stored results are replayed (\"replayed\":true):"
"$parmap" --checkpoint "$demo/run.db" --resume --keep-going --timeout 5 --json \
  'wc -l < {}' :::: "$demo/files.txt" | head -n 1 || true
echo
echo "== What the checkpoint holds (parmap --checkpoint run.db --report):"
"$parmap" --checkpoint "$demo/run.db" --report | sed -n '1,5p;/failures/,$p'
echo
echo "parmap is ready: $PWD/$parmap   (install: cmake --install build/release --prefix ~/.local)"
