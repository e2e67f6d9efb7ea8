#!/usr/bin/env bash
# Runs an example program against the bundled test server (Tests/server) on 127.0.0.1.
#   examples/run-against-test-server.sh build/examples/blocking
#   PYTHONPATH=bindings/python examples/run-against-test-server.sh python3 examples/python/blocking.py
# (examples/run_all.sh builds and runs every example.)
set -euo pipefail
program=${1:?usage: $0 PROGRAM [ARGS...]}
root=$(cd "$(dirname "$0")/.." && pwd)
coproc SERVER { exec python3 "$root/Tests/server/hl_test_server.py" --port 0 --exit-on-stdin-eof; }
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
read -r line <&"${SERVER[0]}"
port=${line#PORT=}
echo "test server on 127.0.0.1:$port" >&2
HUMANLOOP_API_KEY=example-key HUMANLOOP_HOST="http://127.0.0.1:$port/v4" "$@"
