#!/usr/bin/env bash
# bench/run.sh — benchmarks of libhumanloop (not part of CI; see bench/README.md).
#
#   bash bench/run.sh                 bench_calls: library vs plain libcurl+jansson (ratios)
#   bash bench/run.sh calls [ARGS]    the same; ARGS go to bench_calls (e.g. --calls=5000)
#   bash bench/run.sh soak [N]        N calls (default 100000) through one client, RSS sampled
#   bash bench/run.sh python [ARGS]   Python binding vs the official SDK humanloop==0.5.16: sequential
#                                     complete(), streams, 32 threads x complete() (bench_python.py)
#   bash bench/run.sh wide [ARGS]     wide answers (one object of 10k/80k members): CPU vs libcurl+jansson
#   bash bench/run.sh engine [ARGS]   the engine: hl_batch 2000 @ 100 vs the ideal and vs
#                                     sequential hl_complete; 1000 async calls in flight (RSS),
#                                     against bench/slow_server.py (50 ms per answer)
#   bash bench/run.sh c-api [ARGS]    2000 calls @ 100 through (a) hl_call_start callbacks,
#                                     (b) an hl_queue, (c) an hl_loop run by the caller, (d) plain
#                                     libcurl multi; CPU per call as ratios to (a), same run
#   bash bench/run.sh python-async [ARGS]  asyncio.gather of 1000 acomplete and async streams of
#                                     100 events: binding vs the official SDK 0.5.16, same server
#   bash bench/run.sh python-burst [ARGS]       issue 17: async streams of 1000 events written at once
#                                     (python-async --rounds=0 --events=1000 --event-gap-us=0 ...)
#   bash bench/run.sh python-concurrent [ARGS]  issue 17: 100 async streams at once, CPU per event
#                                     (python-async --rounds=0 --stream-rounds=0 --concurrent=100)
#   bash bench/run.sh swift [ARGS]    issue 21: the Swift API (import Humanloop) vs the C API in one
#                                     process: a TaskGroup of 1000 complete vs 1000 hl_call_start
#                                     callbacks, sequential complete vs hl_complete; CPU per call
#                                     ratios (bench/swift, swift build -c release)
#   bash bench/run.sh all             calls, soak, wide, python, engine, c-api, python-async,
#                                     python-burst and python-concurrent
#
# Environment:
#   BENCH_SERVER=auto|nginx|python   which server answers (default auto: nginx when the nginx
#                                    binary exists and starts, else the Python test server)
#   BENCH_CALLS=2000                 calls per variant in bench_calls
#   BENCH_WRAP="valgrind --tool=callgrind ..."   a command put before bench_calls and HumanloopSwiftBench (profiling)
#
# Run from anywhere after `make` (needs build/lib/libhumanloop.so). Builds into build/bench/.
# Everything talks to 127.0.0.1 only. The servers started here are children of this script and
# are stopped when it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/build/bench"
LIBDIR="$ROOT/build/lib"
SERVER_PY="$ROOT/Tests/server/hl_test_server.py"
CC="${CC:-cc}"
BENCH_SERVER="${BENCH_SERVER:-auto}"

# Proxies must never be involved: everything is on loopback.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*' NO_PROXY='*'

if [[ ! -e "$LIBDIR/libhumanloop.so" ]]; then
    echo "bench/run.sh: $LIBDIR/libhumanloop.so not found (run make first)" >&2
    exit 1
fi
mkdir -p "$OUT"

build() {   # build NAME: bench/NAME.c (and the bench/bench_util.h it may include) -> build/bench/NAME
    local name=$1
    if [[ ! -x "$OUT/$name" || "bench/$name.c" -nt "$OUT/$name" || "bench/bench_util.h" -nt "$OUT/$name" ||
          "$LIBDIR/libhumanloop.so.0.2" -nt "$OUT/$name" ]]; then
        "$CC" -O2 -Wall -Wextra -I include "bench/$name.c" -o "$OUT/$name" \
            -L "$LIBDIR" -lhumanloop -lcurl -ljansson -lpthread "-Wl,-rpath,$LIBDIR"
    fi
}

# ---- servers ----------------------------------------------------------------------------------
PY_PID=""; NGINX_PID=""; SLOW_PID=""
cleanup() {
    if [[ -n "$SLOW_PID" ]]; then kill "$SLOW_PID" 2>/dev/null || true; wait "$SLOW_PID" 2>/dev/null || true; fi
    if [[ -n "$NGINX_PID" ]]; then kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
    if [[ -n "$PY_PID" ]]; then kill "$PY_PID" 2>/dev/null || true; wait "$PY_PID" 2>/dev/null || true; fi
    NGINX_PID=""; PY_PID=""; SLOW_PID=""
}
trap cleanup EXIT

# start_python: start the test server (retrying for a while: it may be in the middle of an edit);
# sets PY_PORT.
start_python() {
    local tries=0 line
    while :; do
        if [[ -f "$SERVER_PY" ]]; then
            # a coprocess: its stdin is a pipe from this script, so it also ends if we die
            coproc PYSRV { exec python3 "$SERVER_PY" --port 0 --exit-on-stdin-eof 2>>"$OUT/test_server.log"; }
            PY_PID=$PYSRV_PID
            if read -r -t 20 line <&"${PYSRV[0]}" && [[ "$line" == PORT=* ]]; then
                PY_PORT=${line#PORT=}
                return 0
            fi
            kill "$PY_PID" 2>/dev/null || true; PY_PID=""
        fi
        tries=$((tries + 1))
        if (( tries >= 4 )); then
            echo "bench/run.sh: the test server does not start (see $OUT/test_server.log)" >&2
            return 1
        fi
        echo "bench/run.sh: test server missing or broken, retrying in 30 s" >&2
        sleep 30
    done
}

# start_slow [ARGS]: start bench/slow_server.py (answers after 50 ms, holds any number of requests)
# as a coprocess (it ends at EOF on its stdin, i.e. also when this script dies); sets SLOW_PORT.
start_slow() {
    local line
    coproc SLOWSRV { exec python3 "$ROOT/bench/slow_server.py" --port 0 "$@" 2>>"$OUT/slow_server.log"; }
    SLOW_PID=$SLOWSRV_PID
    if read -r -t 20 line <&"${SLOWSRV[0]}" && [[ "$line" == PORT=* ]]; then
        SLOW_PORT=${line#PORT=}
        return 0
    fi
    echo "bench/run.sh: bench/slow_server.py does not start (see $OUT/slow_server.log)" >&2
    return 1
}

# fetch PORT PATH BODY FILE: POST BODY to 127.0.0.1:PORT PATH, write the answer's body to FILE.
fetch() {
    python3 - "$@" <<'EOF'
import http.client, sys
port, path, body, out = sys.argv[1:]
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
c.request("POST", path, body=body.encode(), headers={"X-API-KEY": "bench-key", "Content-Type": "application/json"})
r = c.getresponse()
data = r.read()
if r.status != 200:
    sys.exit("fetch %s: status %d" % (path, r.status))
open(out, "wb").write(data)
EOF
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

REQ='{"project":"bench","model_config":{"model":"gpt-3.5-turbo-instruct","prompt_template":"{{question}}","temperature":0.7,"max_tokens":-1},"inputs":{"question":"What do llamas eat?"}}'
REQ_STREAM="${REQ%\}},\"stream\":true}"

# start_nginx: serve, byte for byte, what the test server answers to the bench's requests, as
# static files: /v4/completion (JSON), /sse/v4/completion and /v4/completion-deployed (the
# 4-event stream), /v4/completion-experiment (404 JSON, for the soak's api_error path).
# nginx runs in the foreground (master_process off: one process, our child). Sets NGINX_PORT.
start_nginx() {
    local nginx_bin
    nginx_bin=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
    [[ -n "$nginx_bin" ]] || { echo "bench/run.sh: nginx not installed (apt-get install -y nginx-light)" >&2; return 1; }
    local prefix="$OUT/nginx"
    rm -rf "$prefix"; mkdir -p "$prefix/root/v4" "$prefix/root/sse/v4" "$prefix/tmp"
    # The fixtures come from the Python test server itself.
    start_python || return 1
    fetch "$PY_PORT" /v4/completion "$REQ" "$prefix/root/v4/completion" || return 1
    fetch "$PY_PORT" /v4/completion "$REQ_STREAM" "$prefix/root/sse/v4/completion" || return 1
    cp "$prefix/root/sse/v4/completion" "$prefix/root/v4/completion-deployed"
    cleanup
    local attempt
    for attempt in 1 2 3; do
        NGINX_PORT=$(free_port)
        cat > "$prefix/nginx.conf" <<EOF
# generated by bench/run.sh — a static stand-in for the test server, loopback only
worker_processes 1;
master_process off;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    server_tokens off;
    etag off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $prefix/root;
        # POST to a static file is 405 in nginx: answer it as a GET of the same file.
        error_page 405 =200 \$uri;
        location = /v4/completion { default_type application/json; }
        location = /sse/v4/completion { default_type text/event-stream; }
        location = /v4/completion-deployed { default_type text/event-stream; }
        location = /v4/completion-experiment {
            default_type application/json;
            return 404 '{"detail":"Not Found"}';
        }
        location / { default_type application/json; return 404 '{"detail":"Not Found"}'; }
    }
}
EOF
        "$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" 2>>"$prefix/error.log" &
        NGINX_PID=$!
        local i
        for i in $(seq 50); do
            if ! kill -0 "$NGINX_PID" 2>/dev/null; then break; fi
            if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$NGINX_PORT),0.2)" 2>/dev/null; then
                # check that POST works and gives the fixture back
                if fetch "$NGINX_PORT" /v4/completion "$REQ" "$prefix/check.json" 2>/dev/null &&
                   cmp -s "$prefix/check.json" "$prefix/root/v4/completion"; then
                    return 0
                fi
                break
            fi
            sleep 0.1
        done
        kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""
    done
    echo "bench/run.sh: nginx did not start or does not answer POST (see $prefix/error.log)" >&2
    return 1
}

# start_server: sets BASE (blocking calls), STREAM_BASE (streams) and SERVER_LABEL.
start_server() {
    if [[ "$BENCH_SERVER" != python ]] && start_nginx; then
        BASE="http://127.0.0.1:$NGINX_PORT/v4"
        STREAM_BASE="http://127.0.0.1:$NGINX_PORT/sse/v4"
        SERVER_LABEL="server: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') static files, 1 process"
        return 0
    fi
    if [[ "$BENCH_SERVER" == nginx ]]; then
        echo "bench/run.sh: BENCH_SERVER=nginx but nginx is not usable" >&2
        return 1
    fi
    start_python
    BASE="http://127.0.0.1:$PY_PORT/v4"
    STREAM_BASE="$BASE"
    SERVER_LABEL="server: Python test server (Tests/server)"
}

# ---- commands ---------------------------------------------------------------------------------
run_calls() {
    build bench_calls
    start_server
    ${BENCH_WRAP:-} "$OUT/bench_calls" --url="$BASE" --stream-url="$STREAM_BASE" --calls="${BENCH_CALLS:-2000}" \
        --label="$SERVER_LABEL" "$@"
    cleanup
}

run_soak() {
    build soak
    start_server
    # One client: streams go to /completion-deployed, which both servers stream.
    "$OUT/soak" --url="$BASE" "$@"
    cleanup
}

run_wide() {
    build bench_wide
    BENCH_SERVER=python start_server   # the answers are scripted
    "$OUT/bench_wide" --url="$BASE" "$@"
    cleanup
}

machine() {   # one line: cores, load, kernel
    echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr)"
}

run_c_api() {
    build bench_c_api
    start_server
    machine
    "$OUT/bench_c_api" --url="$BASE" --label="($SERVER_LABEL)" "$@"
    cleanup
}

run_swift() {
    # The release build of bench/swift/HumanloopSwiftBench (Humanloop + CABI linked in: the C API
    # it calls is the library's code, in the same process as the Swift API).
    swift build -c release --product HumanloopSwiftBench >&2
    local bin
    bin="$(swift build -c release --show-bin-path)/HumanloopSwiftBench"
    start_server
    machine
    ${BENCH_WRAP:-} "$bin" --url="$BASE" --label="($SERVER_LABEL)" "$@"
    cleanup
}

run_engine() {
    build bench_engine
    start_slow
    machine
    "$OUT/bench_engine" --server="http://127.0.0.1:$SLOW_PORT" "$@"
    cleanup
}

sdk_venv() {   # sets VENV_PY: a Python with the official SDK humanloop==0.5.16 (installs it once)
    local venv="$OUT/venv-sdk"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import humanloop' 2>/dev/null; then
        echo "bench/run.sh: installing humanloop==0.5.16 into $venv" >&2
        rm -rf "$venv"
        if ! python3 -m venv "$venv" || ! "$venv/bin/pip" install -q 'humanloop==0.5.16' >&2; then
            echo "bench/run.sh: cannot install the official SDK humanloop==0.5.16" >&2
            return 1
        fi
    fi
    VENV_PY="$venv/bin/python"
}

run_python_async() {
    if [[ ! -f "$ROOT/bindings/python/humanloop_native/__init__.py" ]]; then
        echo "bench/run.sh python-async: bindings/python (humanloop_native) is not there; skipped" >&2
        return 0
    fi
    sdk_venv || { echo "bench/run.sh python-async: skipped" >&2; return 0; }
    # the floors' reference rows (bench/stream_floor.c)
    "$CC" -O2 -Wall -Wextra -shared -fPIC bench/stream_floor.c -o "$OUT/libstream_floor.so" -ljansson -lpthread
    start_slow
    machine
    PYTHONPATH="$ROOT/bindings/python${PYTHONPATH:+:$PYTHONPATH}" \
        "$VENV_PY" "$ROOT/bench/bench_python_async.py" --server="http://127.0.0.1:$SLOW_PORT" \
        --floor-lib="$OUT/libstream_floor.so" --lib="$LIBDIR/libhumanloop.so.0.2" "$@"
    cleanup
}

run_python() {
    local pkg="$ROOT/bindings/python/humanloop_native/__init__.py"
    if [[ ! -f "$pkg" ]]; then
        echo "bench/run.sh python: bindings/python (humanloop_native) is not there; skipped" >&2
        return 0
    fi
    local venv="$OUT/venv-sdk"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import humanloop' 2>/dev/null; then
        echo "bench/run.sh python: installing humanloop==0.5.16 into $venv" >&2
        rm -rf "$venv"
        if ! python3 -m venv "$venv" || ! "$venv/bin/pip" install -q 'humanloop==0.5.16' >&2; then
            echo "bench/run.sh python: cannot install the official SDK humanloop==0.5.16; skipped" >&2
            return 0
        fi
    fi
    BENCH_SERVER=python start_server   # the SDK and the binding against the same Python server
    PYTHONPATH="$ROOT/bindings/python${PYTHONPATH:+:$PYTHONPATH}" \
        "$venv/bin/python" "$ROOT/bench/bench_python.py" --url="$BASE" --label="Python test server" "$@"
    cleanup
    echo
    if [[ "$BENCH_SERVER" != python ]] && start_nginx; then
        PYTHONPATH="$ROOT/bindings/python${PYTHONPATH:+:$PYTHONPATH}" \
            "$venv/bin/python" "$ROOT/bench/bench_python.py" --url="http://127.0.0.1:$NGINX_PORT/v4" \
            --stream-url="http://127.0.0.1:$NGINX_PORT/sse/v4" --label="nginx static files" "$@"
        cleanup
    fi
}

cmd="${1:-calls}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
    calls) run_calls "$@" ;;
    soak)
        if [[ $# -gt 0 && "$1" != -* ]]; then n=$1; shift; set -- --calls="$n" "$@"; fi
        run_soak "$@" ;;
    python) run_python "$@" ;;
    wide) run_wide "$@" ;;
    engine) run_engine "$@" ;;
    c-api) run_c_api "$@" ;;
    swift) run_swift "$@" ;;
    python-async) run_python_async "$@" ;;
    # later ARGS override these (argparse: the last occurrence wins)
    python-burst) run_python_async --rounds=0 --events=1000 --event-gap-us=0 --streams=10 --stream-rounds=5 "$@" ;;
    python-concurrent) run_python_async --rounds=0 --stream-rounds=0 --concurrent=100 "$@" ;;
    all) run_calls; echo; run_soak; echo; run_wide; echo; run_python; echo; run_engine; echo; run_c_api; echo
         run_python_async; echo; run_python_async --rounds=0 --events=1000 --event-gap-us=0 --streams=10 --stream-rounds=5
         echo; run_python_async --rounds=0 --stream-rounds=0 --concurrent=100 ;;
    -*) run_calls "$cmd" "$@" ;;
    *) echo "usage: bash bench/run.sh [calls [ARGS] | soak [N] | wide [ARGS] | python [ARGS] | engine [ARGS] | c-api [ARGS] | python-async [ARGS] | python-burst [ARGS] | python-concurrent [ARGS] | swift [ARGS] | all]" >&2; exit 2 ;;
esac
