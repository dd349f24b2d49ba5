#!/usr/bin/env bash
# Makes docs/report.png, the README's picture of `parmap --report --html`, from a real run:
# 120 items on 6 slots with durations spread over two decades, a few failures, one retry that
# succeeds, timeouts, and a Ctrl-C followed by --resume (two sessions). About 30 seconds.
#
#   docs/make-report-screenshot.sh [PARMAP]      (default: build/release/src/parmap)
#
# Needs chromium (installed by .ci/install) and awk.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
parmap=${1:-$here/../build/release/src/parmap}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each item sleeps a time drawn from its name: e^-4 to e^1 seconds (0.02 s to 2.7 s); one in
# twenty-five fails, one in forty hangs until --timeout, and one fails only on its first try.
job='n=$(printf %s "$1" | cksum | cut -d" " -f1)
t=$(awk -v n="$n" "BEGIN { printf \"%.3f\", exp((n % 1000) / 200 - 4) }")
case $((n % 40)) in 0) sleep 60;; esac
case $((n % 25)) in 0) sleep "$t"; echo "$1: cannot decode header" >&2; exit 2;; esac
if [ "$1" = scan_0042.tif ] && [ ! -e "$0.retried" ]; then : > "$0.retried"; exit 75; fi
sleep "$t"'
items=()
for i in $(seq -w 1 120); do items+=("scan_0$i.tif"); done
run=("$parmap" --checkpoint "$work/run.db" --resume --keep-going --retries 1 --timeout 3 -j6
     sh -c "$job" "$work/flag" ::: "${items[@]}")

"${run[@]}" > /dev/null 2>&1 &
sleep 8
kill -INT $!
wait $! || true
"${run[@]}" > /dev/null 2>&1 || true

"$parmap" --checkpoint "$work/run.db" --report --html "$work/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
  --user-data-dir="$work/profile" --window-size=1200,1320 \
  --screenshot="$here/report.png" "file://$work/report.html" 2> /dev/null
echo "wrote $here/report.png"
