#!/usr/bin/env bash
# bindings/go/run_tests.sh — everything CI runs for the Go binding (after `make`):
#   go vet of bindings/go, examples/go and bench/go; go test -race of the binding against the
#   bundled test server (Tests/server/hl_test_server.py, started by the tests); the example
#   program built and run against the test server; the pkg-config way of linking checked with
#   a humanloop.pc that points at build/lib.
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

echo "== linking through pkg-config (-tags humanloop_pkgconfig)" >&2
pc="$ROOT/build/go/pkgconfig"
mkdir -p "$pc"
printf '%s\n' "libdir=$ROOT/build/lib" "includedir=$ROOT/include" '' 'Name: humanloop' \
    'Description: libhumanloop (build tree)' 'Version: 0.1.0' 'Libs: -L${libdir} -lhumanloop' \
    'Cflags: -I${includedir}' >"$pc/humanloop.pc"
(cd bindings/go && PKG_CONFIG_PATH="$pc" CGO_LDFLAGS="-Wl,-rpath,$ROOT/build/lib" \
    "$GO" test -tags humanloop_pkgconfig -count=1 -run 'TestVersion|TestComplete$|TestStream$' ./...)
echo "bindings/go: all passed" >&2
