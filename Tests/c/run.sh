#!/usr/bin/env bash
# Tests/c/run.sh — build and run the C test suite of libhumanloop against the test server.
#
#   Tests/c/run.sh                 every test binary (Tests/c/test_*.c)
#   Tests/c/run.sh stream config   only test_stream.c and test_config.c
#   VALGRIND=1 Tests/c/run.sh      each binary under valgrind (leaks, invalid accesses)
#   HL_LIBDIR=dir HL_TEST_CFLAGS=-fsanitize=thread CC=clang Tests/c/run.sh stress
#                                  against another build of the library (ThreadSanitizer)
#
# Needs build/lib/libhumanloop.so (run `make` first), cc, libcurl and jansson headers, python3.
# Prints one line "N passed, N failed" (test cases) at the end; exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

CC="${CC:-cc}"
OUT="${HL_TEST_BUILD_DIR:-$ROOT/build/tests/c}"
LIBDIR="$(cd "${HL_LIBDIR:-$ROOT/build/lib}" 2>/dev/null && pwd || echo "${HL_LIBDIR:-$ROOT/build/lib}")"
SERVER="$ROOT/Tests/server/hl_test_server.py"
if [[ "${VALGRIND:-0}" == "1" ]]; then
    PER_TEST_TIMEOUT="${HL_TEST_TIMEOUT:-1800}"
else
    PER_TEST_TIMEOUT="${HL_TEST_TIMEOUT:-300}"
fi

if [[ ! -e "$LIBDIR/libhumanloop.so" ]]; then
    echo "run.sh: $LIBDIR/libhumanloop.so not found (run make first)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if [[ ! -f "$SERVER" ]]; then
    echo "run.sh: $SERVER not found" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- which tests ---------------------------------------------------------------------------
tests=()
if [[ $# -gt 0 ]]; then
    for name in "$@"; do
        name="${name#test_}"; name="${name%.c}"
        tests+=("Tests/c/test_${name}.c")
    done
else
    for f in Tests/c/test_*.c; do tests+=("$f"); done
fi

# ---- build -----------------------------------------------------------------------------------
mkdir -p "$OUT"
CFLAGS=(-std=c99 -Wall -Wextra -Werror -g -O1 -I include ${HL_TEST_CFLAGS:-})
LIBS=(${HL_TEST_CFLAGS:-} -L "$LIBDIR" -lhumanloop -lcurl -ljansson -lpthread "-Wl,-rpath,$LIBDIR" ${HL_TEST_LDFLAGS:-})
"$CC" "${CFLAGS[@]}" -c Tests/c/testutil.c -o "$OUT/testutil.o"
bins=()
for src in "${tests[@]}"; do
    bin="$OUT/$(basename "$src" .c)"
    "$CC" "${CFLAGS[@]}" "$src" "$OUT/testutil.o" -o "$bin" "${LIBS[@]}"
    bins+=("$bin")
done

# ---- the test server -------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hl-c-tests.XXXXXX")"
SERVER_PID=""
cleanup() {
    # closing its stdin stops the server (--exit-on-stdin-eof); then make sure it is gone
    exec 3>&- 2>/dev/null || true
    if [[ -n "$SERVER_PID" ]]; then
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkfifo "$TMP/server.stdin"
python3 "$SERVER" --port 0 --exit-on-stdin-eof <"$TMP/server.stdin" >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
exec 3>"$TMP/server.stdin"

PORT=""
for _ in $(seq 1 200); do
    PORT="$(sed -n 's/^PORT=\([0-9][0-9]*\).*/\1/p' "$TMP/server.out" | head -n 1)"
    [[ -n "$PORT" ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.05
done
if [[ -z "$PORT" ]]; then
    echo "run.sh: the test server did not start" >&2
    cat "$TMP/server.err" >&2 || true
    echo "0 passed, 1 failed"
    exit 1
fi
export HL_TEST_PORT="$PORT"
echo "test server on 127.0.0.1:$PORT"

# ---- run -------------------------------------------------------------------------------------
runner=()
if [[ "${VALGRIND:-0}" == "1" ]]; then
    export HL_STRESS_CALLS="${HL_STRESS_CALLS:-40}"
    runner=(valgrind --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite --error-exitcode=99 --quiet)
fi

passed=0
failed=0
failed_names=()
for bin in "${bins[@]}"; do
    name="$(basename "$bin")"
    log="$TMP/$name.log"
    echo "=== $name"
    set +e
    timeout -k 10 "$PER_TEST_TIMEOUT" "${runner[@]}" "$bin" 2>&1 3>&- | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    p=$(grep -c '^PASS ' "$log" || true)
    f=$(grep -c '^FAIL ' "$log" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    if [[ "$f" -gt 0 ]]; then
        while IFS= read -r line; do failed_names+=("$name: ${line#FAIL }"); done < <(grep '^FAIL ' "$log")
    fi
    why=""
    if ! grep -q '^RESULT ' "$log"; then
        case "$rc" in
            124|137) why="timed out after ${PER_TEST_TIMEOUT}s" ;;
            *) why="did not finish (crashed or killed, exit status $rc)" ;;
        esac
    elif [[ "$rc" -eq 99 ]]; then
        why="valgrind reported errors"
    elif [[ "$rc" -ne 0 && "$f" -eq 0 ]]; then
        why="exit status $rc"
    fi
    if [[ -n "$why" ]]; then
        echo "FAIL $name: $why"
        failed=$((failed + 1))
        failed_names+=("$name: $why")
    fi
done

echo
if [[ ${#failed_names[@]} -gt 0 ]]; then
    echo "failures:"
    for n in "${failed_names[@]}"; do echo "  $n"; done
fi
echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
