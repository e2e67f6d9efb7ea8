"""Tests of `hl`, the command-line tool (Sources/hl/*.c), against the project's test server
(Tests/server/hl_test_server.py) on 127.0.0.1.

    build/venv/bin/python -m pytest -q Tests/cli        (make test-cli)

The binary is build/bin/hl (`make build/bin/hl`), or the one named by HL_CLI (e.g. an installed
copy). Every run goes through `run()`, which also checks that the API key never appears in
stdout or stderr.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_DIR = ROOT / "Tests" / "server"
if str(SERVER_DIR) not in sys.path:
    sys.path.insert(0, str(SERVER_DIR))

from hl_test_server import TestServer  # noqa: E402

HL = os.environ.get("HL_CLI") or str(ROOT / "build" / "bin" / "hl")
API_KEY = "sk-cli-test-7f3a9c1e5b2d8046"
OUTPUT = "Hello from the test server"
MODEL_FLAGS = ["--model", "gpt-3.5-turbo-instruct", "--prompt-template", "{{question}}"]


def header_version():
    text = (ROOT / "include" / "humanloop.h").read_text()
    return re.search(r'#define HL_VERSION_STRING "([^"]+)"', text).group(1)


# ---- fixtures and helpers ------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def hl_binary():
    assert os.access(HL, os.X_OK), "%s not found: run make build/bin/hl first" % HL
    return HL


@pytest.fixture(scope="session")
def server():
    with TestServer() as srv:
        yield srv


@pytest.fixture
def srv(server):
    server.reset()
    yield server
    server.reset()


def base_env(srv=None, key=API_KEY):
    """The environment of a run: nothing of the caller's Humanloop or proxy settings (nothing may
    leave 127.0.0.1), the test key, and the test server as HUMANLOOP_HOST."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith("HUMANLOOP_") and not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if key is not None:
        env["HUMANLOOP_API_KEY"] = key
    if srv is not None:
        env["HUMANLOOP_HOST"] = srv.base_url
    return env


def _sigint_default():
    # Whatever the test runner did with SIGINT (ignored in a background job), hl starts with it
    # at its default disposition, as from an interactive shell.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(args, srv=None, env=None, input=None, timeout=60):
    env = base_env(srv) if env is None else env
    p = subprocess.run([HL] + list(args), input=input, capture_output=True, text=True, env=env,
                       timeout=timeout, preexec_fn=_sigint_default)
    assert API_KEY not in p.stdout and API_KEY not in p.stderr, "the API key was printed"
    return p


def header(record, name):
    values = [v for n, v in record["headers"] if n.lower() == name.lower()]
    return values[0] if values else None


def only_request(srv):
    records = srv.requests()
    assert len(records) == 1, records
    return records[0]


def sent_body(record):
    return json.loads(record["body"])


def closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


def error_line(p):
    lines = p.stderr.splitlines()
    assert len(lines) == 1, "expected one line on stderr: %r" % p.stderr
    return lines[0]


def event(text, finish_reason=None, index=0):
    return {"data": [{"id": "data_e", "index": index, "output": text, "raw_output": text,
                      "finish_reason": finish_reason}]}


# ---- the four commands: flags, file, stdin -----------------------------------------------------

COMMANDS = {
    # command: (path, flags, expected body fields)
    "complete": (
        "/v4/completion",
        ["--project", "demo"] + MODEL_FLAGS + ["--input", "question=Tell me about llamas.", "--input", "x=1=2"],
        {"project": "demo",
         "model_config": {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{question}}"},
         "inputs": {"question": "Tell me about llamas.", "x": "1=2"}}),
    "complete-deployed": (
        "/v4/completion-deployed",
        ["--project", "demo", "--environment", "production", "--input", "question=Hi"],
        {"project": "demo", "environment": "production", "inputs": {"question": "Hi"}}),
    "complete-experiment": (
        "/v4/completion-experiment",
        ["--experiment-id", "exp_123", "--project", "demo", "--input", "question=Hi"],
        {"experiment_id": "exp_123", "project": "demo", "inputs": {"question": "Hi"}}),
    "complete-model-config": (
        "/v4/completion-model-config",
        ["--model-config-id", "config_123", "--input", "question=Hi"],
        {"model_config_id": "config_123", "inputs": {"question": "Hi"}}),
}


def check_sent(srv, path, expected):
    rec = only_request(srv)
    assert rec["method"] == "POST"
    assert rec["path"] == path
    assert header(rec, "X-API-KEY") == API_KEY
    body = sent_body(rec)
    for key, value in expected.items():
        assert body[key] == value, (key, body)
    return body


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_with_flags(srv, command):
    path, flags, expected = COMMANDS[command]
    p = run([command] + flags, srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout == OUTPUT + "\n"
    assert p.stderr == ""
    check_sent(srv, path, expected)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_with_file(srv, command, tmp_path):
    path, _, expected = COMMANDS[command]
    request = dict(expected, metadata={"from": "file"}, num_samples=1)
    f = tmp_path / "request.json"
    f.write_text(json.dumps(request))
    p = run([command, str(f)], srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout == OUTPUT + "\n"
    check_sent(srv, path, request)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_with_stdin(srv, command):
    path, _, expected = COMMANDS[command]
    p = run([command, "-"], srv, input=json.dumps(expected))
    assert p.returncode == 0, p.stderr
    assert p.stdout == OUTPUT + "\n"
    check_sent(srv, path, expected)


def test_file_passed_through_unchanged(srv, tmp_path):
    """Without flags the file's text goes to the library as it is: numbers keep the SDK's form."""
    f = tmp_path / "r.json"
    f.write_text('{"project":"p","model_config":{"model":"m","prompt_template":"t",'
                 '"temperature":0.70,"max_tokens":5},"inputs":{}}')
    p = run(["complete", str(f)], srv)
    assert p.returncode == 0, p.stderr
    body = only_request(srv)["body"]
    assert '"temperature":0.7,' in body or '"temperature": 0.7,' in body
    assert '"max_tokens":5' in body or '"max_tokens": 5' in body


def test_flags_override_and_add_to_file(srv, tmp_path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({
        "project": "from-file",
        "model_config": {"model": "file-model", "prompt_template": "{{a}}", "temperature": 0.5},
        "inputs": {"a": "file", "b": "kept"},
        "metadata": {"k": "v"}}))
    p = run(["complete", str(f), "--project", "from-flag", "--model", "flag-model",
             "--input", "a=flag", "--input", "c=new", "--num-samples", "2"], srv)
    assert p.returncode == 0, p.stderr
    body = sent_body(only_request(srv))
    assert body["project"] == "from-flag"
    assert body["model_config"] == {"model": "flag-model", "prompt_template": "{{a}}", "temperature": 0.5}
    assert body["inputs"] == {"a": "flag", "b": "kept", "c": "new"}
    assert body["metadata"] == {"k": "v"}
    assert body["num_samples"] == 2


def test_stdin_with_flags(srv):
    p = run(["complete-deployed", "-", "--environment", "staging"], srv,
            input='{"project": "demo", "inputs": {"q": "x"}}')
    assert p.returncode == 0, p.stderr
    body = sent_body(only_request(srv))
    assert body["project"] == "demo" and body["environment"] == "staging" and body["inputs"] == {"q": "x"}


def test_flag_value_forms(srv):
    p = run(["complete", "--project=demo", "--model=m", "--prompt-template={{q}}", "--input=q=a b",
             "--num-samples=1"], srv)
    assert p.returncode == 0, p.stderr
    body = sent_body(only_request(srv))
    assert body["project"] == "demo" and body["inputs"] == {"q": "a b"} and body["num_samples"] == 1


def test_host_flag_wins_over_environment(srv):
    env = base_env(None)
    env["HUMANLOOP_HOST"] = "http://127.0.0.1:%d/v4" % closed_port()
    p = run(["complete-model-config", "--model-config-id", "c", "--host", srv.base_url], env=env)
    assert p.returncode == 0, p.stderr
    assert only_request(srv)["path"] == "/v4/completion-model-config"


def test_host_from_environment(srv):
    p = run(["complete-model-config", "--model-config-id", "c"], srv)
    assert p.returncode == 0, p.stderr
    assert len(srv.requests()) == 1


# ---- output ------------------------------------------------------------------------------------

def test_default_output_several_samples(srv):
    p = run(["complete", "--project", "demo"] + MODEL_FLAGS + ["--num-samples", "3"], srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "".join("[%d] %s\n" % (i, OUTPUT) for i in range(3))


def test_default_output_is_the_text_of_each_sample(srv):
    srv.script([{"json": {"data": [
        {"index": 0, "output": "first\nline two", "finish_reason": "stop"},
        {"index": 1, "output": "second", "finish_reason": "stop"}]}}])
    p = run(["complete-model-config", "--model-config-id", "c"], srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "[0] first\nline two\n[1] second\n"


def test_json_output_is_the_envelope(srv):
    p = run(["complete", "--project", "demo"] + MODEL_FLAGS + ["--input", "question=Hi", "--json"], srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith("\n") and p.stdout.count("\n") == 1
    envelope = json.loads(p.stdout)
    assert set(envelope) == {"ok", "status", "headers", "body", "round_trip_time", "attempts", "timings"}
    assert envelope["ok"] is True and envelope["status"] == 200 and envelope["attempts"] == 1
    assert envelope["headers"]["server"] == "hl-test-server"
    assert envelope["body"]["data"][0]["output"] == OUTPUT
    assert envelope["body"]["data"][0]["inputs"] == {"question": "Hi"}   # the server echoes inputs
    assert envelope["body"]["project_id"] == "pr_test"


def test_json_output_keeps_the_servers_bytes(srv):
    raw = '{"data":[{"index":0,"output":"x","big":123456789012345678901234567890,"r":1.50}]}'
    srv.script([{"body": raw, "headers": {"Content-Type": "application/json"}}])
    p = run(["complete-model-config", "--model-config-id", "c", "--json"], srv)
    assert p.returncode == 0, p.stderr
    assert '"body":' + raw in p.stdout
    # and the text output still works with a 30-digit integer in the body
    srv.script([{"body": raw, "headers": {"Content-Type": "application/json"}}])
    p = run(["complete-model-config", "--model-config-id", "c"], srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "x\n"


def test_json_error_envelope_on_stdout(srv):
    srv.script([{"status": 404, "json": {"detail": "Not Found"}}])
    p = run(["complete-model-config", "--model-config-id", "c", "--json"], srv)
    assert p.returncode == 3
    envelope = json.loads(p.stdout)
    assert envelope["ok"] is False and envelope["error"]["type"] == "api_error"
    assert envelope["error"]["status"] == 404
    assert error_line(p).startswith("hl: api_error: ")


# ---- streaming -----------------------------------------------------------------------------------

def test_stream_default_output(srv):
    p = run(["complete", "--project", "demo"] + MODEL_FLAGS + ["--stream"], srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Llamas are friendly and curious; here is the data: they like people.\n"
    body = sent_body(only_request(srv))
    assert body["stream"] is True


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_stream_each_command(srv, command):
    path, flags, expected = COMMANDS[command]
    srv.script([{"stream": {"events": [event("a"), event("b", "stop")]}}])
    p = run([command] + flags + ["--stream"], srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ab\n"
    body = check_sent(srv, path, expected)
    assert body["stream"] is True


def test_stream_several_samples(srv):
    p = run(["complete", "--project", "demo"] + MODEL_FLAGS + ["--stream", "--num-samples", "2"], srv)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:2] == ["[0] Llamas", "[1] Llamas"]
    assert len(lines) == 8


def test_stream_json_lines(srv):
    p = run(["complete", "--project", "demo"] + MODEL_FLAGS + ["--stream", "--json"], srv)
    assert p.returncode == 0, p.stderr
    items = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(items) == 5
    assert all(i["ok"] is True and "event" in i for i in items[:4])
    assert items[0]["event"]["data"][0]["output"] == "Llamas"
    assert items[4]["done"] is True and items[4]["events"] == 4 and items[4]["status"] == 200


def test_stream_error_after_events(srv):
    srv.script([{"stream": {"events": [event("partial"), event(" more"), event(" never")], "cut_after": 2}}])
    p = run(["complete-model-config", "--model-config-id", "c", "--stream"], srv)
    assert p.returncode == 4
    assert p.stdout == "partial more\n"
    assert error_line(p).startswith("hl: connection_error: ")


def test_stream_api_error(srv):
    srv.script([{"status": 404, "json": {"detail": "Not Found"}}])
    p = run(["complete-model-config", "--model-config-id", "c", "--stream", "--max-retries", "0"], srv)
    assert p.returncode == 3
    assert "404" in error_line(p)


def _read_pty_until_exit(proc, master, deadline, marks):
    """Reads the pty's master side until the program ends; returns (output, {mark: time seen})."""
    out = b""
    seen = {}
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the slave side is closed (the program ended)
                break
            if not chunk:
                break
            out += chunk
            now = time.monotonic()
            for m in marks:
                if m not in seen and m.encode() in out:
                    seen[m] = (now, proc.poll() is None)
        elif proc.poll() is not None:
            break
    return out, seen


def test_stream_through_a_pty_arrives_incrementally(srv):
    """On a terminal, each piece of text is shown as its event arrives (events 0.3 s apart)."""
    srv.script([{"stream": {"events": [event("alpha"), event(" beta"), event(" gamma"),
                                       event(" delta", "stop")], "delay": 0.3}}])
    master, slave = os.openpty()
    try:
        start = time.monotonic()
        proc = subprocess.Popen([HL, "complete-model-config", "--model-config-id", "c", "--stream"],
                                stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                                env=base_env(srv), preexec_fn=_sigint_default)
        os.close(slave)
        slave = None
        out, seen = _read_pty_until_exit(proc, master, start + 20, ["alpha", "beta", "delta"])
        proc.wait(timeout=10)
        end = time.monotonic()
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == 0, stderr
    assert API_KEY not in out.decode() and API_KEY not in stderr
    assert out.replace(b"\r\n", b"\n") == b"alpha beta gamma delta\n"
    first_time, running = seen["alpha"]
    assert running, "the first token came only when hl had finished"
    assert "delta" not in out[:out.index(b"alpha") + 5].decode()
    # the first token came well before the end: three more events, 0.3 s apart, were still due
    assert end - first_time >= 0.6, (first_time - start, end - start)
    assert seen["beta"][0] - first_time >= 0.2
    assert seen["delta"][0] - seen["beta"][0] >= 0.4


# ---- exit codes ------------------------------------------------------------------------------------

def test_invalid_request_exit_2_nothing_sent(srv):
    p = run(["complete", "--project", "demo"], srv)   # no model_config
    assert p.returncode == 2
    assert error_line(p).startswith("hl: invalid_request: ")
    assert "model_config" in p.stderr
    assert p.stdout == ""
    assert srv.requests() == []


def test_invalid_request_from_the_library(srv, tmp_path):
    f = tmp_path / "r.json"
    f.write_text('{"model_config_id": "c", "num_samples": "three"}')
    p = run(["complete-model-config", str(f)], srv)
    assert p.returncode == 2
    assert error_line(p).startswith("hl: invalid_request: ")
    assert srv.requests() == []


@pytest.mark.parametrize("text", ["{", "[1, 2]", "not json"])
def test_malformed_request_exit_2(srv, text):
    for extra in ([], ["--project", "x"]):   # passed through to the library, or read by hl
        p = run(["complete-deployed", "-"] + extra, srv, input=text)
        assert p.returncode == 2, p.stderr
        assert error_line(p).startswith("hl: invalid_request: ")
    assert srv.requests() == []


def test_unreadable_file_exit_2(srv, tmp_path):
    p = run(["complete", str(tmp_path / "missing.json")], srv)
    assert p.returncode == 2
    assert "missing.json" in error_line(p)
    p = run(["complete", str(tmp_path)], srv)   # a directory
    assert p.returncode == 2
    assert srv.requests() == []


@pytest.mark.parametrize("args", [
    [],
    ["bogus"],
    ["--bogus"],
    ["complete", "--bogus"],
    ["complete", "--project"],                              # a value is missing
    ["complete", "--input", "novalue"],
    ["complete", "--input", "=v"],
    ["complete", "--num-samples", "0"],
    ["complete", "--num-samples", "two"],
    ["complete", "--max-retries", "-1"],
    ["complete", "--timeout", "0"],
    ["complete", "--json=yes"],
    ["complete", "a.json", "b.json"],
    ["complete"],                                           # no request at all
    ["complete-deployed", "--model", "m"],                  # not a field of this endpoint
    ["complete-experiment", "--environment", "prod"],
    ["complete-model-config", "--experiment-id", "e"],
    ["complete", "--api-key", API_KEY],                     # the key is never a flag
])
def test_usage_errors_exit_2(srv, args):
    p = run(args, srv)
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    assert p.stderr.startswith("hl: ")
    assert srv.requests() == []


def test_api_key_flag_points_to_the_environment(srv):
    p = run(["complete", "--api-key", "x"], srv)
    assert p.returncode == 2
    assert "HUMANLOOP_API_KEY" in p.stderr


def test_invalid_config_exit_2(srv):
    env = base_env(srv, key=None)
    p = run(["complete-model-config", "--model-config-id", "c"], env=env)
    assert p.returncode == 2
    assert error_line(p).startswith("hl: invalid_config: ")
    assert "HUMANLOOP_API_KEY" in p.stderr
    p = run(["complete-model-config", "--model-config-id", "c", "--host", "ftp://127.0.0.1/v4"], srv)
    assert p.returncode == 2
    assert error_line(p).startswith("hl: invalid_config: ")
    assert srv.requests() == []


def test_api_error_404_exit_3(srv):
    p = run(["complete-model-config", "--model-config-id", "c", "--host", srv.url("/v5")], srv)
    assert p.returncode == 3
    line = error_line(p)
    assert line.startswith("hl: api_error: ") and "404" in line
    assert p.stdout == ""


def test_api_error_500_exit_3(srv):
    srv.script([{"status": 500, "json": {"detail": "the model crashed"}}])
    p = run(["complete-model-config", "--model-config-id", "c", "--max-retries", "0"], srv)
    assert p.returncode == 3
    line = error_line(p)
    assert line.startswith("hl: api_error: ") and "500" in line and "the model crashed" in line
    assert len(srv.requests()) == 1


def test_5xx_is_retried_by_default(srv):
    srv.script([{"status": 503, "headers": {"Retry-After": "0"}, "json": {"detail": "busy"}}])
    p = run(["complete-model-config", "--model-config-id", "c"], srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout == OUTPUT + "\n"
    assert len(srv.requests()) == 2


def test_connection_refused_exit_4():
    port = closed_port()
    p = run(["complete-model-config", "--model-config-id", "c", "--max-retries", "0",
             "--host", "http://127.0.0.1:%d/v4" % port], env=base_env(None))
    assert p.returncode == 4
    assert error_line(p).startswith("hl: connection_error: ")


def test_timeout_exit_4(srv):
    srv.script([{"delay": 5}])
    start = time.monotonic()
    p = run(["complete-model-config", "--model-config-id", "c", "--timeout", "0.5", "--max-retries", "0"], srv)
    assert p.returncode == 4
    assert error_line(p).startswith("hl: timeout: ")
    assert time.monotonic() - start < 4


def test_invalid_response_exit_4(srv):
    srv.script([{"status": 200, "body": "this is not JSON"}])
    p = run(["complete-model-config", "--model-config-id", "c"], srv)
    assert p.returncode == 4
    assert error_line(p).startswith("hl: invalid_response: ")


@pytest.mark.parametrize("stream", [False, True])
def test_sigint_exit_130(srv, stream):
    if stream:
        srv.script([{"stream": {"events": [event("tick")], "forever": True, "delay": 0.1}}])
    else:
        srv.script([{"delay": 30}])
    args = [HL, "complete-model-config", "--model-config-id", "c"] + (["--stream"] if stream else [])
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=base_env(srv), preexec_fn=_sigint_default)
    try:
        assert wait_for(lambda: len(srv.requests()) == 1), "hl did not send its request"
        time.sleep(0.3)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert err == b"\n"
    assert API_KEY.encode() not in out
    if stream:
        assert out.startswith(b"tick")


# ---- help and version ------------------------------------------------------------------------------

def test_help(srv):
    for args in (["--help"], ["-h"], ["help"]):
        p = run(args, srv)
        assert p.returncode == 0
        for command in COMMANDS:
            assert command in p.stdout
        for code in ("0 ", "2 ", "3 ", "4 ", "130 "):
            assert "\n  " + code in p.stdout
        assert "HUMANLOOP_API_KEY" in p.stdout
        assert p.stderr == ""


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help(srv, command):
    for args in ([command, "--help"], [command, "-h"], ["help", command], [command, "--project", "x", "--help"]):
        p = run(args, srv)
        assert p.returncode == 0
        assert p.stdout.startswith("Usage: hl %s " % command)
        assert "Exit status" in p.stdout and "130" in p.stdout
        assert "--input" in p.stdout
        assert ("--environment" in p.stdout) == (command == "complete-deployed")
        assert ("--model " in p.stdout) == (command == "complete")
    assert srv.requests() == []


def test_version(srv):
    p = run(["--version"], srv)
    assert p.returncode == 0
    version = header_version()
    assert p.stdout.startswith("hl %s" % version)
    assert "libhumanloop %s" % version in p.stdout
    assert p.stdout.count("\n") == 1


# ---- the API key is never printed -------------------------------------------------------------------

def test_api_key_never_printed_even_when_echoed(srv):
    """Even a server that echoes the key back in an error body does not get it printed."""
    srv.script([{"status": 401, "json": {"detail": "bad key " + API_KEY}}])
    p = run(["complete-model-config", "--model-config-id", "c", "--json"], srv)   # run() checks
    assert p.returncode == 3
    srv.script([{"status": 401, "json": {"detail": "bad key " + API_KEY}}])
    p = run(["complete-model-config", "--model-config-id", "c"], srv)
    assert p.returncode == 3
