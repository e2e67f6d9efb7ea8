#!/usr/bin/env bash
# bindings/python/test_wheel.sh — the repaired wheel (make wheel) as a user gets it (make test-wheel):
# a fresh virtual environment in a mktemp directory (python3 -m venv), the wheel pip-installed with
# --no-index, nothing of the build tree reachable (a temporary cwd, PYTHONPATH, HUMANLOOP_LIB,
# LD_LIBRARY_PATH unset); then
#   - the installed package loads its own bundled library (humanloop_native._native.library_path
#     inside the venv), whose every dependency ldd finds (the vendored ones in humanloop_native.libs);
#   - the test server from the installed package (python -m humanloop_native.testing --port 0
#     --exit-on-stdin-eof) prints PORT= and serves a blocking call and a stream made with the
#     installed package; it carries the server as humanloop_native/_test_server.py and the pytest11
#     entry point; the server exits at stdin EOF.
# Prints PASS/FAIL lines; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
MANYLINUX="${MANYLINUX:-manylinux_2_35_x86_64}"
WHEELHOUSE="${WHEELHOUSE:-build/wheelhouse}"
HOST_PYTHON="${HOST_PYTHON:-python3}"
fail=0
# (No `cmd | grep -q` below: with pipefail, grep -q leaving early can fail the pipeline.)
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi; }

shopt -s nullglob
wheels=("$WHEELHOUSE"/humanloop_native-*-py3-none-"$MANYLINUX".whl)
if [[ ${#wheels[@]} -ne 1 ]]; then
    echo "FAIL one humanloop_native $MANYLINUX wheel in $WHEELHOUSE (make wheel); found: ${wheels[*]:-none}"
    exit 1
fi
wheel="$ROOT/${wheels[0]}"
echo "wheel: ${wheels[0]}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/hl-wheel-test.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/work"
cd "$tmp/work"  # no build tree on sys.path through the cwd
clean=(env -u PYTHONPATH -u PYTHONHOME -u PYTHONSTARTUP -u PYTHONUSERBASE -u HUMANLOOP_LIB -u HUMANLOOP_BUNDLE
       -u HUMANLOOP_TEST_SERVER -u LD_LIBRARY_PATH -u LD_PRELOAD -u PIP_FIND_LINKS PYTHONNOUSERSITE=1)
venv="$tmp/venv"
py="$venv/bin/python"

check "python3 -m venv in a fresh temporary directory" '"${clean[@]}" "$HOST_PYTHON" -m venv "$venv" >"$tmp/venv.log" 2>&1'
[[ -x "$py" ]] || { sed 's/^/    /' "$tmp/venv.log"; exit 1; }
check "pip install --no-index the $MANYLINUX wheel" \
    '"${clean[@]}" "$py" -m pip install -q --disable-pip-version-check --no-index "$wheel" >"$tmp/pip.log" 2>&1 ||
     { sed "s/^/    /" "$tmp/pip.log"; false; }'

# What the installed package is made of, as KEY=VALUE lines.
"${clean[@]}" "$py" - >"$tmp/facts" 2>"$tmp/facts.err" <<'PY' || true
import importlib.metadata, sys
import humanloop_native, humanloop_native._native as native, humanloop_native.testing as testing
eps = [ep.value for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "humanloop_native"]
print("PREFIX=" + sys.prefix)
print("PACKAGE=" + humanloop_native.__file__)
print("LIBRARY=" + native.library_path)
print("SERVER=" + testing.SERVER_PATH)
print("VERSION=" + humanloop_native.lib_version())
print("PYTEST11=" + ",".join(eps))
PY
fact() { sed -n "s/^$1=//p" "$tmp/facts"; }
check "the installed package imports (from the venv)" '[[ "$(fact PACKAGE)" == "$venv/"* ]] || { sed "s/^/    /" "$tmp/facts.err"; false; }'
lib="$(fact LIBRARY)"
check "it loads its bundled library: humanloop_native._native.library_path is inside the venv ($lib)" \
    '[[ "$lib" == "$venv/"*"/site-packages/humanloop_native/libhumanloop.so.0.2" && -f "$lib" ]]'
check "lib_version() answers" '[[ "$(fact VERSION)" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]'
ldd_out="$(ldd "$lib" 2>&1 || true)"
check "ldd of the bundled library finds everything" '[[ -n "$ldd_out" && "$ldd_out" != *"not found"* ]] || { echo "$ldd_out" | sed "s/^/    /"; false; }'
check "libcurl and jansson are the vendored copies (humanloop_native.libs)" \
    '[[ "$ldd_out" =~ libcurl-[0-9a-f]+\.so[^\ ]*\ =\>\ $venv/[^\ ]*/humanloop_native\.libs/ &&
       "$ldd_out" =~ libjansson-[0-9a-f]+\.so[^\ ]*\ =\>\ $venv/[^\ ]*/humanloop_native\.libs/ ]]'
check "the package carries the test server (humanloop_native/_test_server.py, as Tests/server has it)" \
    '[[ "$(fact SERVER)" == "$venv/"*"/site-packages/humanloop_native/_test_server.py" ]] &&
     cmp -s "$(fact SERVER)" "$ROOT/Tests/server/hl_test_server.py"'
check "the pytest11 entry point humanloop_native is installed" '[[ "$(fact PYTEST11)" == "humanloop_native.testing" ]]'

# The server from the installed package; its stdin is a pipe this script holds (fd 3).
mkfifo "$tmp/server.in"
"${clean[@]}" "$py" -m humanloop_native.testing --port 0 --exit-on-stdin-eof \
    <"$tmp/server.in" >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
exec 3>"$tmp/server.in"
port=""
for _ in $(seq 200); do
    port="$(sed -n 's/^PORT=\([0-9][0-9]*\)$/\1/p' "$tmp/server.out")"
    [[ -n "$port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
done
check "python -m humanloop_native.testing --port 0 prints PORT=" '[[ -n "$port" ]] || { sed "s/^/    /" "$tmp/server.err"; false; }'

if [[ -n "$port" ]]; then
    "${clean[@]}" "$py" - "http://127.0.0.1:$port/v4" >"$tmp/calls" 2>"$tmp/calls.err" <<'PY' || true
import json, sys, urllib.request
from humanloop_native import Humanloop
host = sys.argv[1]
config = {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{q}}", "temperature": 0.7}
with Humanloop(api_key="test-key", host=host, max_retries=0) as client:
    r = client.complete(project="demo", model_config=config, inputs={"q": "Hi"})
    print("STATUS=%d" % r.status)
    print("OUTPUT=" + r.body["data"][0]["output"])
    events = list(client.complete_stream(project="demo", model_config=config, inputs={"q": "Hi"}))
    print("EVENTS=%d" % len(events))
    print("STREAM_TEXT=" + "".join(e["data"][0]["output"] for e in events))
    print("STREAM_FINISH=%s" % events[-1]["data"][0]["finish_reason"])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
recorded = json.load(opener.open(host.rsplit("/v4", 1)[0] + "/_control/requests", timeout=10))["requests"]
print("RECORDED=" + ",".join(q["method"] + " " + q["path"] for q in recorded))
PY
    call() { sed -n "s/^$1=//p" "$tmp/calls"; }
    check "a blocking call with the installed package answers 200 from the server" \
        '[[ "$(call STATUS)" == 200 && "$(call OUTPUT)" == "Hello from the test server" ]] || { sed "s/^/    /" "$tmp/calls.err"; false; }'
    check "a stream with the installed package delivers the 4 events" \
        '[[ "$(call EVENTS)" == 4 && -n "$(call STREAM_TEXT)" && "$(call STREAM_FINISH)" != None ]]'
    check "the server recorded both requests" '[[ "$(call RECORDED)" == "POST /v4/completion,POST /v4/completion" ]]'
fi

exec 3>&-  # stdin EOF: the server stops
status=0
wait "$server_pid" || status=$?
server_pid=""
check "the server exits (status 0) at stdin EOF" '[[ "$status" -eq 0 ]]'
check "nothing but PORT= on the server's stdout" '[[ "$(cat "$tmp/server.out")" == "PORT=$port" ]]'

exit $fail
