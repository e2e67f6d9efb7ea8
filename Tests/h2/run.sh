#!/usr/bin/env bash
# Tests/h2/run.sh — HTTP/2 multiplexing of the engine, proven against a real h2 server.
#
#   Tests/h2/run.sh                 (needs build/lib/libhumanloop.so, nginx with http_v2 and ssl,
#                                    openssl, cc, jansson headers, python3 for a free port)
#   HL_H2_CALLS=50                  calls per phase (default 50)
#   HL_LIBDIR=dir                   another build of the library
#
# Starts nginx as the current user (its own prefix, config, pid file, logs and temp directories
# under build/tests/h2/), on loopback ports, with a self-signed certificate made for the run:
#   - 127.0.0.1:H2_PORT  "ssl http2" (ALPN offers h2): POST /v4/completion answers a fixed JSON
#     completion; /v4/completion-deployed answers a fixed two-event SSE stream ending with
#     "data: [DONE]"; both come from a plain HTTP/1.1 backend on BACKEND_PORT through
#     proxy_pass, so that nginx reads each request to its end before it answers, as the real API
#     does (nginx's "return" answers without reading the body, and the client may then still be
#     sending it: libcurl 7.88 reports that as a stream error when the race goes that way);
#     /v4/completion-experiment answers at once with "return", never reading the request: the
#     early answer of a gateway;
#   - 127.0.0.1:H1_PORT  "ssl" only (HTTP/1.1), the same answers.
# The access logs record $connection (nginx's connection serial number) and $server_protocol.
# Phases: N concurrent async calls, N concurrent async streams, one hl_batch of N at concurrency N,
# N concurrent calls whose answers are slow (nginx limit_rate, ~1.5 s each) over h2 — every
# request must be HTTP/2.0 and all of them must share one connection (the slow ones overlapping:
# well under N x 1.5 s); then over HTTP/1.1 the slow ones, which must overlap and so need more
# than one connection (the contrast); last, N concurrent calls with a 600 KB request that the
# server answers early, over h2 and over HTTP/1.1: every call must return that answer (libcurl
# 7.88 alone reports a stream error, or keeps sending until the timeout).
# nginx is stopped at the end (also on failure). Prints "N passed, N failed"; exit status 1 on
# any failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
LIBDIR="$(cd "${HL_LIBDIR:-$ROOT/build/lib}" 2>/dev/null && pwd || echo "${HL_LIBDIR:-$ROOT/build/lib}")"
OUT="$ROOT/build/tests/h2"
N="${HL_H2_CALLS:-50}"
CC="${CC:-cc}"

passed=0
failed=0
failures=()
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); failures+=("$1"); }
finish() {
    echo
    if [[ ${#failures[@]} -gt 0 ]]; then
        echo "failures:"
        for f in "${failures[@]}"; do echo "  $f"; done
    fi
    echo "$passed passed, $failed failed"
    [[ "$failed" -eq 0 ]]
    exit $?
}

NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
if [[ ! -x "$NGINX" ]]; then
    fail "setup: nginx is not installed (apt-get install nginx-light)"
    finish
fi
if ! "$NGINX" -V 2>&1 | grep -q -- '--with-http_v2_module' || ! "$NGINX" -V 2>&1 | grep -q -- '--with-http_ssl_module'; then
    fail "setup: $NGINX lacks http_v2 or ssl (nginx -V)"
    finish
fi
if [[ ! -e "$LIBDIR/libhumanloop.so" ]]; then
    fail "setup: $LIBDIR/libhumanloop.so not found (run make first)"
    finish
fi

rm -rf "$OUT/nginx"
mkdir -p "$OUT/nginx/logs" "$OUT/nginx/tmp"
NG="$OUT/nginx"

# the client program
if ! "$CC" -std=c99 -Wall -Wextra -Werror -g -O1 -I include ${HL_TEST_CFLAGS:-} Tests/h2/h2_calls.c -o "$OUT/h2_calls" \
        ${HL_TEST_CFLAGS:-} -L "$LIBDIR" -lhumanloop -ljansson -lpthread "-Wl,-rpath,$LIBDIR" ${HL_TEST_LDFLAGS:-}; then
    fail "setup: Tests/h2/h2_calls.c does not compile"
    finish
fi

# a certificate for 127.0.0.1
if ! openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=hl-h2-test" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$NG/key.pem" -out "$NG/cert.pem" >"$NG/openssl.log" 2>&1; then
    fail "setup: openssl could not make a certificate"
    finish
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
H2_PORT="$(free_port)"
H1_PORT="$(free_port)"
while [[ "$H1_PORT" == "$H2_PORT" ]]; do H1_PORT="$(free_port)"; done
BACKEND_PORT="$(free_port)"
while [[ "$BACKEND_PORT" == "$H2_PORT" || "$BACKEND_PORT" == "$H1_PORT" ]]; do BACKEND_PORT="$(free_port)"; done

BODY='{"data":[{"id":"data_h2","index":0,"output":"hello h2","raw_output":"hello h2","inputs":{},"model_config_id":"config_h2","finish_reason":"stop"}],"provider_responses":[{}],"num_samples":1,"usage":{"prompt_tokens":1,"generation_tokens":2,"total_tokens":3}}'
EV1='{"data":[{"id":"d","index":0,"output":"hello","finish_reason":null}],"project_id":"pr_h2"}'
EV2='{"data":[{"id":"d","index":0,"output":" h2","finish_reason":"stop"}],"project_id":"pr_h2"}'
# the slow answer: ~2.5 KB sent at 1000 bytes/s (nginx limit_rate): about 1.5 s per call
PAD="$(printf 'x%.0s' $(seq 1 2500))"
SLOW_BODY='{"data":[{"id":"data_h2","index":0,"output":"hello h2","raw_output":"hello h2","inputs":{},"model_config_id":"config_h2","finish_reason":"stop"}],"pad":"'"$PAD"'"}'
USER_LINE=""
[[ "$(id -u)" == "0" ]] && USER_LINE="user root root;"

server_block() {  # $1 listen parameters, $2 access log
    cat <<NGX
    server {
        listen $1;
        server_name localhost;
        ssl_certificate $NG/cert.pem;
        ssl_certificate_key $NG/key.pem;
        access_log $2 hl;
        keepalive_requests 100000;
        # Like the real API, which needs the request to answer: the body is read to its end
        # before the answer (the backend below) goes out.
        location = /v4/completion {
            proxy_pass http://127.0.0.1:$BACKEND_PORT;
        }
        location = /v4/completion-deployed {
            proxy_pass http://127.0.0.1:$BACKEND_PORT;
        }
        location = /v4/completion-model-config {
            limit_rate 1000;
            proxy_pass http://127.0.0.1:$BACKEND_PORT;
        }
        # A gateway that answers before reading the request (RFC 9113 section 8.1).
        location = /v4/completion-experiment {
            default_type application/json;
            return 200 '$BODY';
        }
        location / {
            default_type application/json;
            return 404 '{"detail":"Not Found"}';
        }
    }
NGX
}

# the fixed answers, behind the two front ends (plain HTTP/1.1 on loopback)
backend_block() {
    cat <<NGX
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        access_log off;
        keepalive_requests 100000;
        location = /v4/completion {
            default_type application/json;
            return 200 '$BODY';
        }
        location = /v4/completion-deployed {
            default_type text/event-stream;
            return 200 'data: $EV1

data: $EV2

data: [DONE]

';
        }
        location = /v4/completion-model-config {
            default_type application/json;
            return 200 '$SLOW_BODY';
        }
    }
NGX
}

cat >"$NG/nginx.conf" <<NGX
$USER_LINE
worker_processes 1;
daemon off;
pid $NG/nginx.pid;
error_log $NG/logs/error.log info;
events { worker_connections 1024; }
http {
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    client_body_buffer_size 64k;
    http2_max_concurrent_streams 256;
    log_format hl '\$connection \$server_protocol \$request_method \$uri \$status';
$(server_block "127.0.0.1:$H2_PORT ssl http2" "$NG/logs/h2.log")
$(backend_block)
$(server_block "127.0.0.1:$H1_PORT ssl" "$NG/logs/h1.log")
}
NGX

if ! "$NGINX" -t -p "$NG" -e "$NG/logs/error.log" -c "$NG/nginx.conf" >"$NG/nginx-t.log" 2>&1; then
    cat "$NG/nginx-t.log"
    fail "setup: nginx -t rejected the configuration"
    finish
fi
"$NGINX" -p "$NG" -e "$NG/logs/error.log" -c "$NG/nginx.conf" >"$NG/nginx.out" 2>&1 &
NGINX_PID=$!
stop_nginx() {
    if kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$NGINX_PID" 2>/dev/null || true
    fi
    wait "$NGINX_PID" 2>/dev/null || true
}
trap stop_nginx EXIT

# wait until both ports answer
ready=0
for _ in $(seq 1 100); do
    if curl -s -o /dev/null --cacert "$NG/cert.pem" "https://127.0.0.1:$H2_PORT/" &&
       curl -s -o /dev/null --cacert "$NG/cert.pem" "https://127.0.0.1:$H1_PORT/"; then ready=1; break; fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.05
done
if [[ "$ready" != 1 ]]; then
    cat "$NG/logs/error.log" "$NG/nginx.out" 2>/dev/null | tail -20
    fail "setup: nginx did not start"
    finish
fi
echo "nginx (pid $NGINX_PID): h2 on 127.0.0.1:$H2_PORT, HTTP/1.1 on 127.0.0.1:$H1_PORT"
# sanity: curl sees h2 on one port and HTTP/1.1 on the other
v2="$(curl -s -o /dev/null -w '%{http_version}' --cacert "$NG/cert.pem" -X POST -d '{}' "https://127.0.0.1:$H2_PORT/v4/completion")"
v1="$(curl -s -o /dev/null -w '%{http_version}' --cacert "$NG/cert.pem" -X POST -d '{}' "https://127.0.0.1:$H1_PORT/v4/completion")"
if [[ "$v2" == "2" && "$v1" == "1.1" ]]; then pass "setup: curl speaks h2 ($v2) and HTTP/1.1 ($v1) to the two ports"
else fail "setup: curl got HTTP versions '$v2' and '$v1' (expected 2 and 1.1)"; fi

# check_log LOG WHAT N EXPECT_PROTO CONN_CHECK: the access log holds N requests, each with
# protocol EXPECT_PROTO and status 200; CONN_CHECK "one" (one connection) or "many" (> 1)
check_log() {
    local log="$1" what="$2" n="$3" proto="$4" conn="$5"
    local total wrong_proto bad_status conns
    total=$(wc -l <"$log")
    wrong_proto=$(awk -v p="$proto" '$2 != p' "$log" | wc -l)
    bad_status=$(awk '$5 != 200' "$log" | wc -l)
    conns=$(awk '{print $1}' "$log" | sort -u | wc -l)
    echo "  $what: $total requests, protocols: $(awk '{print $2}' "$log" | sort | uniq -c | tr -s ' ' | tr '\n' ';') $conns connection(s)"
    if [[ "$total" -eq "$n" ]]; then pass "$what: the server got $n requests"; else fail "$what: the server got $total requests, expected $n"; fi
    if [[ "$total" -gt 0 && "$wrong_proto" -eq 0 ]]; then pass "$what: every request was $proto"
    else fail "$what: $wrong_proto of $total requests were not $proto"; fi
    if [[ "$bad_status" -eq 0 ]]; then pass "$what: every answer 200"; else fail "$what: $bad_status answers not 200"; fi
    if [[ "$conn" == one ]]; then
        if [[ "$conns" -eq 1 ]]; then pass "$what: all $n calls multiplexed on one connection"
        else fail "$what: $conns connections (expected 1: HTTP/2 multiplexing)"; fi
    elif [[ "$conn" == many ]]; then
        if [[ "$conns" -gt 1 ]]; then pass "$what: $conns connections for $n concurrent calls over HTTP/1.1"
        else fail "$what: $conns connection for $n concurrent calls over HTTP/1.1 (expected several: are the calls concurrent?)"; fi
    fi
}

# run_phase MODE PORT LOG WHAT PROTO CONN
run_phase() {
    local mode="$1" port="$2" log="$3" what="$4" proto="$5" conn="$6"
    : >"$NG/logs/h2.log"
    : >"$NG/logs/h1.log"
    local out rc
    out="$(timeout 120 "$OUT/h2_calls" "$mode" "https://127.0.0.1:$port/v4" "$NG/cert.pem" "$N" 2>&1)"
    rc=$?
    echo "$out" | sed 's/^/  /'
    WALL="$(sed -n 's/^WALL //p' <<<"$out")"
    if [[ $rc -eq 0 ]] && grep -q '^PASS ' <<<"$out"; then pass "$what: the client got $N good answers"
    else fail "$what: the client failed (exit $rc): $(grep '^FAIL' <<<"$out" | head -c 400)"; fi
    sleep 0.3  # nginx writes the access log line when a request ends
    check_log "$log" "$what" "$N" "$proto" "$conn"
}

run_phase async "$H2_PORT" "$NG/logs/h2.log" "h2 async calls" "HTTP/2.0" one
run_phase stream "$H2_PORT" "$NG/logs/h2.log" "h2 async streams" "HTTP/2.0" one
run_phase batch "$H2_PORT" "$NG/logs/h2.log" "h2 hl_batch" "HTTP/2.0" one
run_phase slow "$H2_PORT" "$NG/logs/h2.log" "h2 slow answers" "HTTP/2.0" one
# serially, N slow answers would take N x 1.5 s; multiplexed they overlap
if [[ -n "$WALL" ]] && awk -v w="$WALL" -v n="$N" 'BEGIN { exit !(w < 1.5 * n / 4) }'; then
    pass "h2 slow answers: $N calls of ~1.5 s overlapped on one connection (${WALL}s)"
else fail "h2 slow answers: $N calls took ${WALL:-?}s (serial would be $((N * 3 / 2))s: not multiplexed)"; fi
run_phase slow "$H1_PORT" "$NG/logs/h1.log" "HTTP/1.1 slow answers" "HTTP/1.1" many
if [[ -n "$WALL" ]] && awk -v w="$WALL" -v n="$N" 'BEGIN { exit !(w < 1.5 * n / 4) }'; then
    pass "HTTP/1.1 slow answers: $N calls of ~1.5 s ran concurrently (${WALL}s)"
else fail "HTTP/1.1 slow answers: $N calls took ${WALL:-?}s (serial would be $((N * 3 / 2))s: not concurrent)"; fi
run_phase early "$H2_PORT" "$NG/logs/h2.log" "h2 early answers" "HTTP/2.0" one
run_phase early "$H1_PORT" "$NG/logs/h1.log" "HTTP/1.1 early answers" "HTTP/1.1" any

stop_nginx
trap - EXIT
finish
