#!/usr/bin/env bash
# Tests/c/run.sh — build and run the C test suite of libhumanloop against the test server.
#
#   Tests/c/run.sh                 every test binary (Tests/c/test_*.c)
#   Tests/c/run.sh stream config   only test_stream.c and test_config.c
#   VALGRIND=1 Tests/c/run.sh      each binary under valgrind (leaks, invalid accesses)
#   HL_LIBDIR=dir HL_TEST_CFLAGS=-fsanitize=thread CC=clang Tests/c/run.sh stress
#                                  against another build of the library (ThreadSanitizer)
#
# Needs build/lib/libhumanloop.so (run `make` first), cc, libcurl and jansson headers, python3,
# openssl (the command line, for the TLS server's certificate).
# Two test servers run for the whole run: plain HTTP (HL_TEST_PORT) and HTTPS with a self-signed
# certificate made for the run (HL_TEST_TLS_PORT; the certificate is HL_TEST_CA_BUNDLE).
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
if ! command -v openssl >/dev/null 2>&1; then
    echo "run.sh: the openssl command is not installed; it is needed to make the certificate of the TLS test server" >&2
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

# ---- the test servers ------------------------------------------------------------------------
# Both run with --exit-on-stdin-eof, their stdin a FIFO held open by this script (fd 3: plain
# HTTP, fd 4: TLS); closing it stops the server. The test binaries do not inherit fds 3 and 4.
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hl-c-tests.XXXXXX")"
SERVER_PID=""
TLS_SERVER_PID=""
stop_server() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    # closing their stdin stops the servers (--exit-on-stdin-eof); then make sure they are gone
    { exec 3>&-; } 2>/dev/null || true
    { exec 4>&-; } 2>/dev/null || true
    stop_server "$SERVER_PID"
    stop_server "$TLS_SERVER_PID"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port OUTFILE PID: the port a server printed ("PORT=<n>"), or nothing if it did not start
wait_port() {
    local port=""
    for _ in $(seq 1 200); do
        port="$(sed -n 's/^PORT=\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1)"
        [[ -n "$port" ]] && break
        if ! kill -0 "$2" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "$port"
}

# a self-signed certificate for 127.0.0.1 and localhost; it is also the CA bundle of the clients
CERT="$TMP/tls-cert.pem"
KEY="$TMP/tls-key.pem"
if ! openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=hl-test-server" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$KEY" -out "$CERT" >"$TMP/openssl.log" 2>&1; then
    echo "run.sh: openssl could not make the TLS test server's certificate:" >&2
    cat "$TMP/openssl.log" >&2 || true
    echo "0 passed, 1 failed"
    exit 1
fi

mkfifo "$TMP/server.stdin" "$TMP/server-tls.stdin"
python3 "$SERVER" --port 0 --exit-on-stdin-eof <"$TMP/server.stdin" >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
exec 3>"$TMP/server.stdin"
python3 "$SERVER" --port 0 --exit-on-stdin-eof --tls-cert "$CERT" --tls-key "$KEY" \
    <"$TMP/server-tls.stdin" >"$TMP/server-tls.out" 2>"$TMP/server-tls.err" 3>&- &
TLS_SERVER_PID=$!
exec 4>"$TMP/server-tls.stdin"

PORT="$(wait_port "$TMP/server.out" "$SERVER_PID")"
if [[ -z "$PORT" ]]; then
    echo "run.sh: the test server did not start" >&2
    cat "$TMP/server.err" >&2 || true
    echo "0 passed, 1 failed"
    exit 1
fi
TLS_PORT="$(wait_port "$TMP/server-tls.out" "$TLS_SERVER_PID")"
if [[ -z "$TLS_PORT" ]]; then
    echo "run.sh: the TLS test server did not start" >&2
    cat "$TMP/server-tls.err" >&2 || true
    echo "0 passed, 1 failed"
    exit 1
fi
export HL_TEST_PORT="$PORT"
export HL_TEST_TLS_PORT="$TLS_PORT"
export HL_TEST_CA_BUNDLE="$CERT"
echo "test server on 127.0.0.1:$PORT"
echo "TLS test server on 127.0.0.1:$TLS_PORT (CA bundle $CERT)"

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
    timeout -k 10 "$PER_TEST_TIMEOUT" "${runner[@]}" "$bin" 2>&1 3>&- 4>&- | tee "$log"
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
