#!/usr/bin/env bash
# bench/go/run.sh — the Go binding's load benchmark (see bench/README.md, "Go").
#   bash bench/go/run.sh [ARGS]     ARGS go to the program: -calls 10000 -goroutines 1000
#                                   -rounds 3 -latency 50ms -variants go,c-async,c-batch
# Needs build/lib/libhumanloop.so (make) and Go (golang-go). Starts bench/go/server.py on
# 127.0.0.1 (answers after 50 ms), builds the program into build/bench/bench-go, runs it.
# GOTAGS=humanloop_jsonbench adds the variant go-stdjson (the binding on encoding/json).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*' NO_PROXY='*'
export GOFLAGS=-mod=mod GOPROXY=off
DELAY=0.05
for a in "$@"; do
    case "$a" in -latency=*) d=${a#-latency=}; DELAY=$(python3 -c "import sys;s=sys.argv[1];print(float(s[:-2])/1000 if s.endswith('ms') else float(s.rstrip('s')))" "$d");; esac
done
mkdir -p build/bench
(cd bench/go && go build ${GOTAGS:+-tags "$GOTAGS"} -o "$ROOT/build/bench/bench-go" .)
coproc SERVER { exec python3 "$ROOT/bench/go/server.py" --port 0 --delay "$DELAY"; }
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
read -r line <&"${SERVER[0]}"
port=${line#PORT=}
"$ROOT/build/bench/bench-go" -host "http://127.0.0.1:$port/v4" "$@"
