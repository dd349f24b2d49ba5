#!/usr/bin/env bash
# Builds parmap's .deb with CPack from this build tree and checks it: name, version,
# dependencies found by dpkg-shlibdeps, and the files it installs. As root under CI (a throwaway
# machine), it also installs the package, runs the installed parmap, and removes it again.
# Environment: BUILD_DIR, CPACK (the cpack binary), VERSION.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "package test: $*" >&2; exit 1; }

(cd "$BUILD_DIR" && "$CPACK" -G DEB -B "$work" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail "no .deb was built"

[ "$(dpkg-deb -f "$deb" Package)" = parmap ] || fail "wrong package name"
[ "$(dpkg-deb -f "$deb" Version)" = "$VERSION" ] || fail "version is not $VERSION"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libsqlite3-0; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for path in ./usr/bin/parmap ./usr/share/man/man1/parmap.1 \
            ./usr/share/bash-completion/completions/parmap \
            ./usr/share/zsh/vendor-completions/_parmap \
            ./usr/share/fish/vendor_completions.d/parmap.fish \
            ./usr/include/parmap/parmap.hpp ./usr/lib/libparmap.a \
            ./usr/lib/cmake/parmap/parmapConfig.cmake; do
  grep -qx "$path" <<<"$contents" || fail "$path is not in the package"
done

if [ "$(id -u)" = 0 ] && [ "${CI:-}" = true ]; then
  dpkg -i "$deb" >/dev/null || fail "dpkg -i failed"
  out=$(/usr/bin/parmap --tag echo ::: a b) || fail "the installed parmap failed"
  [ "$out" = $'a\ta\nb\tb' ] || fail "the installed parmap printed: $out"
  man -w parmap >/dev/null 2>&1 || fail "man parmap finds no page"
  dpkg -r parmap >/dev/null || fail "dpkg -r failed"
  [ ! -e /usr/bin/parmap ] || fail "dpkg -r left /usr/bin/parmap"
  echo "package test: built, installed, ran and removed $(basename "$deb")"
else
  echo "package test: built and checked $(basename "$deb") (install skipped: needs root and CI=true)"
fi
