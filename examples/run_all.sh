#!/usr/bin/env bash
# Builds every example (examples/c/*.c) and runs it, every Python example
# (examples/python/*.py) and the Swift example (examples/swift, swift build --product
# HumanloopExample), against the bundled test server (Tests/server) on 127.0.0.1; exits
# non-zero if one fails. For CI and for trying them out:
#   bash examples/run_all.sh                 (after make; uses build/lib and build/venv)
#   bash examples/run_all.sh c               only the C examples; "python": only the Python ones;
#                                            "swift": only the Swift one
# Environment: CC (default cc), PYTHON (default build/venv/bin/python, else python3),
# OUT (where the C programs go, default build/examples).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
which=${1:-all}
CC=${CC:-cc}
OUT=${OUT:-build/examples}
if [ -z "${PYTHON:-}" ]; then
    if [ -x build/venv/bin/python ]; then PYTHON=build/venv/bin/python; else PYTHON=python3; fi
fi
[ -e build/lib/libhumanloop.so ] || { echo "run_all.sh: build/lib/libhumanloop.so is missing: run make first" >&2; exit 1; }

coproc SERVER { exec python3 "$root/Tests/server/hl_test_server.py" --port 0 --exit-on-stdin-eof; }
server_pid=$SERVER_PID
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
read -r line <&"${SERVER[0]}"
port=${line#PORT=}
echo "test server on 127.0.0.1:$port" >&2
# Nothing of the caller's settings: the examples talk to the test server only.
unset HUMANLOOP_LOG http_proxy https_proxy all_proxy HTTPS_PROXY ALL_PROXY
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
export HUMANLOOP_API_KEY=example-key HUMANLOOP_HOST="http://127.0.0.1:$port/v4"
export PYTHONPATH="$root/bindings/python${PYTHONPATH:+:$PYTHONPATH}"

failed=()
run() {  # run NAME COMMAND...: output indented, the status reported
    local name=$1
    shift
    echo "== $name" >&2
    local status=0 log
    log=$(mktemp)
    timeout 60 "$@" >"$log" 2>&1 || status=$?
    sed 's/^/   /' "$log" >&2
    rm -f "$log"
    if [ "$status" -ne 0 ]; then
        echo "== $name: FAILED (exit status $status)" >&2
        failed+=("$name")
    fi
}

if [ "$which" = all ] || [ "$which" = c ]; then
    mkdir -p "$OUT"
    for source in examples/c/*.c; do
        name=$(basename "$source" .c)
        if "$CC" -std=c99 -Wall -Wextra -Werror -O2 -Iinclude "$source" -o "$OUT/$name" \
            -Lbuild/lib -lhumanloop -ljansson -lpthread -Wl,-rpath,"$root/build/lib"; then
            run "c/$name" "$OUT/$name"
        else
            echo "== c/$name: FAILED to build" >&2
            failed+=("c/$name (build)")
        fi
    done
fi
if [ "$which" = all ] || [ "$which" = python ]; then
    for source in examples/python/*.py; do
        run "python/$(basename "$source")" "$PYTHON" "$source"
    done
fi

if [ "$which" = all ] || [ "$which" = swift ]; then
    if swift build --product HumanloopExample >&2; then
        run "swift/HumanloopExample" "$(swift build --show-bin-path)/HumanloopExample"
    else
        echo "== swift/HumanloopExample: FAILED to build" >&2
        failed+=("swift/HumanloopExample (build)")
    fi
fi

if [ "${#failed[@]}" -gt 0 ]; then
    echo "run_all.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "run_all.sh: every example ran" >&2
