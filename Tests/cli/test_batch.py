"""Tests of `hl batch` (Sources/hl/batch.c, feed.c, batch_line.c, batch_run.c, lines.c): many
requests from a JSON Lines file on the library's engine (hl_batch_submit and a completion queue),
against the test server (Tests/server/hl_test_server.py).

    build/venv/bin/python -m pytest -q Tests/cli        (make test-cli)

The binary is build/bin/hl or the one named by HL_CLI; helpers and fixtures come from test_hl.py.
"""

import json
import os
import select
import signal
import subprocess
import time

import pytest

from test_hl import (  # noqa: F401  (server, srv, hl_binary are fixtures)
    API_KEY, HL, _read_pty_until_exit, _sigint_default, base_env, hl_binary, run, server, srv, wait_for,
)

MODEL_CONFIG = {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{question}}"}


def jsonl(*items):
    return "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items)


def envelopes(p):
    lines = p.stdout.splitlines()
    assert p.stdout == "" or p.stdout.endswith("\n")
    return [json.loads(line) for line in lines]


def inputs_of(envelope):
    return envelope["body"]["data"][0]["inputs"]


def deployed(i):
    """A bare request for --call complete-deployed, told apart by its input i."""
    return {"project": "demo", "inputs": {"i": str(i)}}


# ---- help ------------------------------------------------------------------------------------------

def test_batch_help(srv):
    for args in (["batch", "--help"], ["batch", "-h"], ["help", "batch"], ["batch", "x.jsonl", "--help"]):
        p = run(args, srv)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("Usage: hl batch ")
        for text in ("--concurrency", "--call", "--host", "--max-retries", "--timeout", "--no-progress",
                     "Exit status", "\n  5 ", "\n  130 ", "Ctrl-C", "\"request\"", "\"options\""):
            assert text in p.stdout, text
        assert p.stderr == ""
    p = run(["--help"], srv)
    assert "batch" in p.stdout and "\n  5 " in p.stdout
    assert srv.requests() == []


# ---- output: order, one line per request, both line forms -----------------------------------------

def test_batch_output_in_input_order(srv, tmp_path):
    """Answers come back in another order (the first ones are the slowest); the output keeps the
    order of the input."""
    n = 6
    # each line carries its delay (a script would go by arrival order, which is not input order)
    f = tmp_path / "in.jsonl"
    f.write_text(jsonl(*[dict(deployed(i), metadata={"hl_test_delay": 0.1 * (n - i)}) for i in range(n)]))
    p = run(["batch", str(f), "--call", "complete-deployed", "--concurrency", str(n)], srv)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""   # no progress line: stderr is not a terminal
    got = envelopes(p)
    assert len(got) == n
    assert all(e["ok"] is True and e["status"] == 200 for e in got)
    assert [inputs_of(e)["i"] for e in got] == [str(i) for i in range(n)]
    assert sorted(json.loads(r["body"])["inputs"]["i"] for r in srv.requests()) == [str(i) for i in range(n)]
    assert all(r["path"] == "/v4/completion-deployed" for r in srv.requests())


def test_batch_item_form_calls_and_options(srv, tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(jsonl(
        {"call": "complete", "request": {"project": "demo", "model_config": MODEL_CONFIG, "inputs": {"i": "0"}}},
        {"call": "complete-deployed", "request": deployed(1)},
        {"call": "complete_experiment", "request": {"experiment_id": "e", "inputs": {"i": "2"}}},
        {"call": "complete_model_configuration", "request": {"model_config_id": "c", "inputs": {"i": "3"}},
         "options": {"headers": {"X-Trace": "line-5"}, "max_retries": 0}},
        {"call": "complete-model-config", "request": {"model_config_id": "c", "inputs": {"i": "4"}}},
        {"request": deployed(5)},                  # the call of --call
        deployed(6),                               # a bare request
    ))
    p = run(["batch", str(f), "--call", "complete-deployed", "--concurrency", "1"], srv)
    assert p.returncode == 0, p.stderr
    got = envelopes(p)
    assert [inputs_of(e)["i"] for e in got] == [str(i) for i in range(7)]
    records = srv.requests()
    assert [r["path"] for r in records] == [
        "/v4/completion", "/v4/completion-deployed", "/v4/completion-experiment",
        "/v4/completion-model-config", "/v4/completion-model-config", "/v4/completion-deployed",
        "/v4/completion-deployed"]
    traced = [r for r in records if any(n.lower() == "x-trace" and v == "line-5" for n, v in r["headers"])]
    assert len(traced) == 1 and json.loads(traced[0]["body"])["inputs"] == {"i": "3"}
    assert all(any(n.lower() == "x-api-key" and v == API_KEY for n, v in r["headers"]) for r in records)


def test_batch_request_text_reaches_the_library_as_written(srv, tmp_path):
    """The request of an item is passed on as its exact text (not re-encoded by hl)."""
    f = tmp_path / "in.jsonl"
    f.write_text('{"call":"complete","request":{"project":"p","model_config":{"model":"m",'
                 '"prompt_template":"t","temperature":0.70,"max_tokens":5},"inputs":{}}}\n')
    p = run(["batch", str(f)], srv)
    assert p.returncode == 0, p.stderr
    body = srv.requests()[0]["body"]
    assert '"temperature":0.7' in body.replace(" ", "") and '"max_tokens":5' in body.replace(" ", "")


def test_batch_stdin_blank_lines_crlf_no_final_newline(srv):
    text = "\n" + json.dumps(deployed(0)) + "\r\n  \n\t\n" + json.dumps(deployed(1))
    for args in (["batch", "-", "--call", "complete-deployed"], ["batch", "--call", "complete-deployed"]):
        srv.reset()
        p = run(args, srv, input=text)
        assert p.returncode == 0, p.stderr
        assert [inputs_of(e)["i"] for e in envelopes(p)] == ["0", "1"]


BOM = b"\xef\xbb\xbf"   # the UTF-8 byte order mark some editors write at the start of a file


def test_batch_skips_a_byte_order_mark_on_the_first_line(srv, tmp_path):
    """A UTF-8 byte order mark at the start of the input is not part of the first request (from
    a file and from stdin, with LF or CRLF); one anywhere else is not skipped."""
    first, second = json.dumps(deployed(0)).encode(), json.dumps(deployed(1)).encode()
    for text in (BOM + first + b"\n" + second + b"\n", BOM + first + b"\r\n" + second,
                 BOM + b"\n" + first + b"\n" + second + b"\n"):   # a first line that is only the mark
        f = tmp_path / "bom.jsonl"
        f.write_bytes(text)
        for args, stdin in ((["batch", str(f)], None), (["batch", "-"], text.decode("utf-8"))):
            srv.reset()
            p = run(args + ["--call", "complete-deployed", "--concurrency", "1"], srv, input=stdin)
            assert p.returncode == 0, (text, p.stderr)
            assert p.stderr == ""
            got = envelopes(p)
            assert [e["ok"] for e in got] == [True, True], got
            assert [inputs_of(e)["i"] for e in got] == ["0", "1"]
            assert [json.loads(r["body"])["inputs"]["i"] for r in srv.requests()] == ["0", "1"]
    # only the start of the input: a mark at the start of the second line is an error of that line
    srv.reset()
    f = tmp_path / "bom2.jsonl"
    f.write_bytes(first + b"\n" + BOM + second + b"\n")
    p = run(["batch", str(f), "--call", "complete-deployed"], srv)
    assert p.returncode == 5, p.stderr
    got = envelopes(p)
    assert [e["ok"] for e in got] == [True, False]
    assert got[1]["error"]["type"] == "invalid_request" and got[1]["error"]["line"] == 2
    assert len(srv.requests()) == 1


def test_batch_empty_input(srv):
    p = run(["batch", "-"], srv, input="")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr == ""


def test_batch_multiline_body_is_one_output_line(srv):
    """A server body written over several lines still gives one output line per request. (One
    call at a time: with two in flight, either may reach the server first and take the script.)"""
    raw = '{\n  "data": [\n    {"index": 0, "output": "x", "r": 1.50}\n  ]\n}\n'
    srv.script([{"body": raw, "headers": {"Content-Type": "application/json"}}])
    p = run(["batch", "-", "--call", "complete-deployed", "--concurrency", "1"], srv,
            input=jsonl(deployed(0), deployed(1)))
    assert p.returncode == 0, p.stderr
    got = envelopes(p)
    assert len(got) == 2
    assert got[0]["body"] == {"data": [{"index": 0, "output": "x", "r": 1.5}]}
    assert inputs_of(got[1]) == {"i": "1"}


# ---- concurrency ---------------------------------------------------------------------------------

def test_batch_concurrency_is_respected(srv):
    """9 requests, 0.5 s each, at most 3 in flight: three waves, 0.5 s apart."""
    n, c, delay = 9, 3, 0.5
    srv.script([{"delay": delay}] * n)
    start = time.monotonic()
    p = run(["batch", "-", "--call", "complete-deployed", "--concurrency", str(c)], srv,
            input=jsonl(*[deployed(i) for i in range(n)]))
    wall = time.monotonic() - start
    assert p.returncode == 0, p.stderr
    assert [inputs_of(e)["i"] for e in envelopes(p)] == [str(i) for i in range(n)]
    times = sorted(r["time"] for r in srv.requests())
    assert len(times) == n
    # never more than c in flight: request k + c arrives only after request k was answered
    for k in range(n - c):
        assert times[k + c] - times[k] >= delay - 0.1, times
    # and c really were in flight together
    for wave in range(n // c):
        assert times[wave * c + c - 1] - times[wave * c] < delay - 0.2, times
    assert (n // c) * delay - 0.1 <= wall < (n // c) * delay + 5


def test_batch_default_concurrency_is_16(srv):
    n = 20
    srv.script([{"delay": 0.6}] * n)
    p = run(["batch", "-", "--call", "complete-deployed"], srv, input=jsonl(*[deployed(i) for i in range(n)]))
    assert p.returncode == 0, p.stderr
    times = sorted(r["time"] for r in srv.requests())
    assert times[15] - times[0] < 0.4, times
    assert times[16] - times[0] >= 0.5, times


# ---- errors ----------------------------------------------------------------------------------------

def test_batch_errors_per_line(srv, tmp_path):
    lines = [
        json.dumps(deployed(0)),                                                   # 1 ok
        "not json",                                                                # 2
        "[1, 2]",                                                                  # 3 not an object
        json.dumps({"call": "nope", "request": {}}),                               # 4 unknown call
        json.dumps({"call": 3, "request": {}}),                                    # 5 call not a string
        json.dumps({"request": "x"}),                                              # 6 request not an object
        json.dumps({"request": deployed(6), "options": {"stream": True}}),         # 7 options.stream
        json.dumps({"request": deployed(7), "extra": 1}),                          # 8 unknown key
        json.dumps({"request": deployed(8), "options": {"bogus": 1}}),             # 9 library: options.bogus
        json.dumps({"project": "demo", "num_samples": "three"}),                   # 10 library: invalid_request
        json.dumps(deployed(10)),                                                  # 11 api_error (scripted)
        json.dumps(deployed(11)),                                                  # 12 ok
    ]
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(lines) + "\n")
    # concurrency 1: the valid lines reach the server in input order (lines 1, 11, 12)
    srv.script([{}, {"status": 500, "json": {"detail": "the model crashed"}}])
    p = run(["batch", str(f), "--call", "complete-deployed", "--concurrency", "1", "--max-retries", "0"], srv)
    assert p.returncode == 5, p.stderr
    got = envelopes(p)
    assert len(got) == len(lines)
    assert [e["ok"] for e in got] == [True] + [False] * 10 + [True]
    assert inputs_of(got[0]) == {"i": "0"} and inputs_of(got[11]) == {"i": "11"}
    types = [e["error"]["type"] for e in got[1:11]]
    assert types == ["invalid_request"] * 9 + ["api_error"]
    for number in range(2, 9):            # hl's own: the line number, a path, nothing sent
        error = got[number - 1]["error"]
        assert error["line"] == number and error["message"].startswith("line %d: " % number)
        assert got[number - 1]["attempts"] == 0
        assert "errors" in error and "path" in error
    assert got[3]["error"]["path"] == "call" and "nope" in got[3]["error"]["message"]
    assert got[4]["error"]["path"] == "call"
    assert got[5]["error"]["path"] == "request"
    assert got[6]["error"]["path"] == "options.stream"
    assert got[7]["error"]["path"] == "extra"
    assert "options.bogus" in json.dumps(got[8]["error"])
    assert got[10]["error"]["status"] == 500
    # one line on stderr per failed line, in order
    err = p.stderr.splitlines()
    assert len(err) == 10, p.stderr
    for line, number in zip(err, range(2, 12)):
        assert line.startswith("hl: batch: line %d: " % number), line
    assert err[0].startswith("hl: batch: line 2: invalid_request: not valid JSON")
    assert "500" in err[9] and "the model crashed" in err[9]
    assert len(srv.requests()) == 3


def test_batch_connection_errors_and_timeouts_per_line(srv, tmp_path):
    srv.script([{"delay": 5}])
    f = tmp_path / "in.jsonl"
    f.write_text(jsonl({"request": deployed(0), "options": {"timeout": 0.3, "max_retries": 0}}, deployed(1)))
    start = time.monotonic()
    p = run(["batch", str(f), "--call", "complete-deployed", "--concurrency", "1"], srv)
    assert time.monotonic() - start < 4
    assert p.returncode == 5
    got = envelopes(p)
    assert got[0]["error"]["type"] == "timeout" and got[1]["ok"] is True
    assert p.stderr.startswith("hl: batch: line 1: timeout: ")


@pytest.mark.parametrize("args", [
    ["batch", "--concurrency", "0"],
    ["batch", "--concurrency", "10001"],
    ["batch", "--concurrency", "x"],
    ["batch", "--call", "bogus"],
    ["batch", "--bogus"],
    ["batch", "--concurrency"],
    ["batch", "a.jsonl", "b.jsonl"],
    ["batch", "--no-progress=1"],
    ["batch", "--api-key", API_KEY],
    ["batch", "--max-retries", "-1"],
    ["batch", "--timeout", "0"],
])
def test_batch_usage_errors_exit_2(srv, args):
    p = run(args, srv, input=jsonl(deployed(0)))
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    assert p.stderr.startswith("hl: batch: ")
    assert p.stdout == ""
    assert srv.requests() == []


def test_batch_unreadable_input_and_invalid_config_exit_2(srv, tmp_path):
    p = run(["batch", str(tmp_path / "missing.jsonl")], srv)
    assert p.returncode == 2 and "missing.jsonl" in p.stderr
    p = run(["batch", str(tmp_path)], srv)
    assert p.returncode == 2
    p = run(["batch", "-"], env=base_env(srv, key=None), input=jsonl(deployed(0)))
    assert p.returncode == 2 and p.stderr.startswith("hl: invalid_config: ") and "HUMANLOOP_API_KEY" in p.stderr
    assert p.stdout == ""
    assert srv.requests() == []


# ---- streaming output: each envelope as soon as it is next in order ---------------------------------

def test_batch_output_flows_while_the_input_is_still_open(srv):
    """Input from a pipe that stays open: the first answers are written before the input ends,
    and Ctrl-C is handled although hl is waiting for input."""
    proc = subprocess.Popen([HL, "batch", "-", "--call", "complete-deployed"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=base_env(srv),
                            preexec_fn=_sigint_default)
    try:
        proc.stdin.write((json.dumps(deployed(0)) + "\n").encode())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "no output before the end of the input"
        first = json.loads(proc.stdout.readline())
        assert inputs_of(first) == {"i": "0"}
        proc.stdin.write((json.dumps(deployed(1)) + "\n").encode())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready
        assert inputs_of(json.loads(proc.stdout.readline())) == {"i": "1"}
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert out == b""
    assert b"hl: batch: interrupted by SIGINT: 2 done, 0 failed, 0 cancelled" in err
    assert b"hl: batch: 2 lines written" in err


# ---- Ctrl-C --------------------------------------------------------------------------------------

def test_batch_sigint_cancels_the_calls_in_flight(srv, tmp_path):
    """Ctrl-C: the calls in flight are cancelled (their connections closed), no more start, the
    envelopes of every started line are written (cancelled ones say so), exit status 130."""
    # concurrency 2: line 1 answers at once, lines 2 and 3 hang; lines 4.. never start. The delay
    # goes with each request (not a script, whose order is the order of arrival: lines 1 and 2
    # start together and may reach the server in either order)
    f = tmp_path / "in.jsonl"
    f.write_text(jsonl(deployed(0), *[dict(deployed(i), metadata={"hl_test_delay": 30}) for i in range(1, 6)]))
    proc = subprocess.Popen([HL, "batch", str(f), "--call", "complete-deployed", "--concurrency", "2"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=base_env(srv), preexec_fn=_sigint_default)
    try:
        assert wait_for(lambda: len(srv.requests()) == 3), srv.requests()
        time.sleep(0.3)
        assert proc.poll() is None
        assert wait_for(lambda: srv.stats()["connections_open"] >= 2)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert elapsed < 2, elapsed
    got = [json.loads(line) for line in out.decode().splitlines()]
    assert len(got) == 3
    assert got[0]["ok"] is True and inputs_of(got[0]) == {"i": "0"}
    assert [e["error"]["type"] for e in got[1:]] == ["cancelled", "cancelled"]
    assert API_KEY.encode() not in out + err
    assert err.decode().splitlines()[-2:] == [
        "hl: batch: interrupted by SIGINT: 1 done, 0 failed, 2 cancelled, 3 not started",
        "hl: batch: 3 lines written; use --output FILE to be able to resume"]
    assert len(srv.requests()) == 3                    # nothing started after Ctrl-C
    # the cancelled transfers' connections were closed (the server's waits end when the client leaves)
    assert wait_for(lambda: srv.stats()["connections_open"] == 0, timeout=5), srv.stats()


def test_batch_sigint_writes_answers_that_finished_out_of_order(srv):
    """Ctrl-C while line 1 hangs and line 2 has already been answered (taken from the queue, held
    back for the order): both are written, line 1 cancelled, line 2 with its answer."""
    srv.script([{"delay": 30}, {}])
    proc = subprocess.Popen([HL, "batch", "-", "--call", "complete-deployed", "--concurrency", "2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=base_env(srv), preexec_fn=_sigint_default)
    try:
        # one line at a time, so that line 1 takes the hanging answer and line 2 the quick one
        proc.stdin.write((json.dumps(deployed(0)) + "\n").encode())
        proc.stdin.flush()
        assert wait_for(lambda: len(srv.requests()) == 1), srv.requests()
        proc.stdin.write((json.dumps(deployed(1)) + "\n").encode())
        proc.stdin.flush()
        assert wait_for(lambda: len(srv.requests()) == 2), srv.requests()
        time.sleep(0.5)
        assert proc.poll() is None
        ready, _, _ = select.select([proc.stdout], [], [], 0)
        assert not ready, "line 2 was written before line 1"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    got = [json.loads(line) for line in out.decode().splitlines()]
    assert len(got) == 2
    assert got[0]["ok"] is False and got[0]["error"]["type"] == "cancelled"
    assert got[1]["ok"] is True and inputs_of(got[1]) == {"i": "1"}
    assert "hl: batch: interrupted by SIGINT: 1 done, 0 failed, 1 cancelled" in err.decode()
    assert err.decode().splitlines()[-1].startswith("hl: batch: 2 lines written")


def test_batch_many_answers_at_once(srv):
    """More answers arrive together than hl takes from the queue in one drain: all are written,
    in input order."""
    n = 150
    srv.script([{"delay": 0.5}] * n)
    p = run(["batch", "-", "--call", "complete-deployed", "--concurrency", str(n)], srv,
            input=jsonl(*[deployed(i) for i in range(n)]))
    assert p.returncode == 0, p.stderr
    assert [inputs_of(e)["i"] for e in envelopes(p)] == [str(i) for i in range(n)]
    assert p.stderr == ""


# ---- the progress line on a terminal ---------------------------------------------------------------

def _run_with_stderr_on_a_pty(args, srv, input_text, timeout=30):
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([HL] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=slave,
                                env=base_env(srv), preexec_fn=_sigint_default)
        os.close(slave)
        slave = None
        proc.stdin.write(input_text.encode())
        proc.stdin.close()
        err, seen = _read_pty_until_exit(proc, master, time.monotonic() + timeout, [])
        out = proc.stdout.read()
        proc.stdout.close()
        proc.wait(timeout=10)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return proc.returncode, out.decode(), err.decode()


def test_batch_progress_line_on_a_terminal(srv):
    n = 5
    srv.script([{"delay": 0.3}] * 3 + [{"status": 500, "json": {"detail": "no"}}] + [{"delay": 0.3}])
    rc, out, err = _run_with_stderr_on_a_pty(
        ["batch", "-", "--call", "complete-deployed", "--concurrency", "1", "--max-retries", "0"], srv,
        jsonl(*[deployed(i) for i in range(n)]))
    assert rc == 5, err
    assert len(out.splitlines()) == n                  # the envelopes are not on the terminal
    assert API_KEY not in err
    # drawn in place: carriage returns, erase to the end of the line
    assert "\r" in err and "\x1b[K" in err
    states = [s for s in err.replace("\r\n", "\n").replace("\n", "\r").split("\r") if s.startswith("hl batch: ")]
    assert len(states) >= 3, err
    for state in states:
        assert " done, " in state and "/s, " in state and " error" in state and "ETA " in state, state
    assert any(s.startswith("hl batch: 1/5 done") for s in states), states
    assert any(s.startswith("hl batch: 5/5 done") and "1 error," in s for s in states), states
    assert "hl: batch: line 4: api_error: " in err
    assert err.endswith("\n")                          # the last state stays, ended by a newline


def test_batch_progress_line_total_from_a_pipe_and_no_progress(srv):
    rc, out, err = _run_with_stderr_on_a_pty(["batch", "-", "--call", "complete-deployed"], srv,
                                             jsonl(deployed(0), deployed(1)))
    assert rc == 0, err
    assert "hl batch: 2/2 done, " in err and "0 errors" in err
    rc, out, err = _run_with_stderr_on_a_pty(["batch", "-", "--call", "complete-deployed", "--no-progress"],
                                             srv, jsonl(deployed(0)))
    assert rc == 0 and err == "" and len(out.splitlines()) == 1


# ---- rate limits -----------------------------------------------------------------------------------

def test_batch_is_rate_aware_by_default(srv, tmp_path):
    """A server that lets 50 requests a second through and answers 429 with Retry-After: 1
    beyond that: 200 lines at concurrency 100 all succeed, with at most 1.5 requests per line."""
    n = 200
    f = tmp_path / "in.jsonl"
    f.write_text(jsonl(*[deployed(i) for i in range(n)]))
    srv.rate_limit(50, retry_after=1)
    p = run(["batch", str(f), "--call", "complete-deployed", "--concurrency", "100"], srv, timeout=60)
    sent = len(srv.requests())
    assert p.returncode == 0, p.stderr
    got = envelopes(p)
    assert [inputs_of(e)["i"] for e in got] == [str(i) for i in range(n)]
    assert all(e["ok"] is True for e in got)
    assert sent <= 1.5 * n, (sent, srv.stats()["rate_limited"])
    print("requests per line: %.3f (%d answered 429)" % (sent / n, srv.stats()["rate_limited"]))
