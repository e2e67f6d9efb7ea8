#!/usr/bin/env bash
# bindings/go/run_tests.sh — everything CI runs for the Go binding (after `make`):
#   go vet of bindings/go, examples/go and bench/go; go test -race of the binding against the
#   bundled test server (Tests/server/hl_test_server.py, started by the tests); the example
#   program built and run against the test server; the pkg-config way of linking checked
#   against a library installed by `make install` into a scratch PREFIX (needs build/bin/hl too:
#   make test-go builds it), with the rpath of bindings/go/README.md, the tests run with a clean
#   environment (env -i: PATH only, no LD_LIBRARY_PATH).
#   bash bindings/go/run_tests.sh            (GO=go, GOTESTFLAGS="-count=1" by default)
# Offline: GOFLAGS=-mod=mod GOPROXY=off (the module uses the standard library only).
# Linking: the default build of the package compiles against include/ and links build/lib (with
# an rpath), see bindings/go/README.md; nothing needs to be set here.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
GO=${GO:-go}
export GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=1
command -v "$GO" >/dev/null || { echo "run_tests.sh: Go not found (apt-get install golang-go)" >&2; exit 1; }
[ -e build/lib/libhumanloop.so ] || { echo "run_tests.sh: build/lib/libhumanloop.so is missing: run make first" >&2; exit 1; }
# Everything talks to 127.0.0.1 only.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY HUMANLOOP_LOG
export no_proxy='*' NO_PROXY='*'
mkdir -p build/examples build/go

echo "== gofmt, go vet" >&2
unformatted=$(gofmt -l bindings/go examples/go bench/go)
[ -z "$unformatted" ] || { echo "run_tests.sh: not gofmt-formatted: $unformatted" >&2; exit 1; }
(cd bindings/go && "$GO" vet ./...)
(cd examples/go && "$GO" vet ./...)
(cd bench/go && "$GO" vet ./...)

echo "== go test -race (bindings/go)" >&2
(cd bindings/go && "$GO" test -race ${GOTESTFLAGS:--count=1} ./...)

echo "== examples/go against the test server" >&2
(cd examples/go && "$GO" build -o "$ROOT/build/examples/go-complete" .)
coproc SERVER { exec python3 "$ROOT/Tests/server/hl_test_server.py" --port 0 --exit-on-stdin-eof; }
server_pid=$SERVER_PID
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
read -r line <&"${SERVER[0]}"
HUMANLOOP_API_KEY=example-key HUMANLOOP_HOST="http://127.0.0.1:${line#PORT=}/v4" \
    timeout 60 build/examples/go-complete

echo "== bench/go builds" >&2
(cd bench/go && "$GO" build -o "$ROOT/build/go/bench-go" .)

echo "== linking through pkg-config (-tags humanloop_pkgconfig) against an installed library" >&2
[ -x build/bin/hl ] || { echo "run_tests.sh: build/bin/hl is missing (make install needs it): run make first" >&2; exit 1; }
scratch="$(mktemp -d "${TMPDIR:-/tmp}/hl-go-install.XXXXXX")"
trap 'kill "$server_pid" 2>/dev/null || true; rm -rf "$scratch"' EXIT
prefix="$scratch/prefix"
# -o: the library and hl are built already; LDCONFIG=: nothing of the system is touched.
make --no-print-directory -s -o build/lib/libhumanloop.so.0.2 -o build/bin/hl install PREFIX="$prefix" LDCONFIG= \
    >"$scratch/install.log" 2>&1 || { cat "$scratch/install.log" >&2; exit 1; }
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
libdir="$(pkg-config --variable=libdir humanloop)"
[ "$libdir" = "$prefix/lib" ] || { echo "run_tests.sh: pkg-config libdir is '$libdir', not $prefix/lib" >&2; exit 1; }
# The build line of bindings/go/README.md: cgo cannot expand a pkg-config variable in a #cgo
# line, so the rpath to the installed lib directory comes from CGO_LDFLAGS.
(cd bindings/go && CGO_LDFLAGS="-Wl,-rpath,$(pkg-config --variable=libdir humanloop)" \
    "$GO" test -tags humanloop_pkgconfig -c -o "$scratch/humanloop-pkgconfig.test" ./humanloop)
if readelf -d "$scratch/humanloop-pkgconfig.test" | grep -F "$ROOT/build/lib" >/dev/null; then
    echo "run_tests.sh: the humanloop_pkgconfig build names build/lib" >&2; exit 1
fi
found="$(env -i PATH="$PATH" ldd "$scratch/humanloop-pkgconfig.test" |
    sed -n 's/^[[:space:]]*libhumanloop\.so\.0\.2 => \(.*\) (0x[0-9a-f]*)$/\1/p')"
if [ -z "$found" ] || [ "$(readlink -f "$found")" != "$(readlink -f "$libdir/libhumanloop.so.0.2")" ]; then
    echo "run_tests.sh: with env -i the test binary loads libhumanloop.so.0.2 from '${found:-nowhere}', not $libdir" >&2
    exit 1
fi
(cd bindings/go/humanloop && env -i PATH="$PATH" "$scratch/humanloop-pkgconfig.test" -test.count=1 \
    -test.run 'TestVersion|TestComplete$|TestStream$')
echo "bindings/go: all passed" >&2
