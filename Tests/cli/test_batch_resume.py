"""Tests of `hl batch --output OUT` (checkpoints in OUT.partial, resume, --retry-failed) and of
hl batch's signals (SIGTERM, SIGHUP, SIGINT twice, kill -9), against the test server: real
signals to a real process, requests counted at the server.

    build/venv/bin/python -m pytest -q Tests/cli        (make test-cli)

Each request carries "metadata": {"id": k} (k: its 0-based line), which the test server echoes
in its answer; a slow line asks the server for a delay with metadata.hl_test_delay.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from test_hl import (  # noqa: F401  (server, srv, hl_binary are fixtures)
    API_KEY, HL, base_env, hl_binary, run, server, srv, wait_for,
)

SLOW = 1.5   # seconds a slow line takes (the rerun waits for it: keep it short)


def line(i, delay=None):
    meta = {"id": i} if delay is None else {"id": i, "hl_test_delay": delay}
    return json.dumps({"project": "demo", "inputs": {"i": str(i)}, "metadata": meta})


def write_input(path, n, slow=()):
    path.write_text("".join(line(i, SLOW if i in slow else None) + "\n" for i in range(n)))
    return path


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def record(n, text, envelope):
    """A record of OUT.partial as documented: line n (from 1) whose text is `text`."""
    return '{"line":%d,"hash":"%s","result":%s}\n' % (n, fnv1a64(text.encode()), json.dumps(envelope))


def _signals_default():
    # hl starts with the three signals at their default disposition, whatever the test runner
    # did (a background job ignores SIGINT, nohup SIGHUP).
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def start(args, srv, stdout=subprocess.DEVNULL):
    return subprocess.Popen([HL, "batch"] + args + ["--call", "complete-deployed"], stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=subprocess.PIPE, env=base_env(srv),
                            preexec_fn=_signals_default)


def finish(proc, timeout=10):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out, err.decode()


def sent_ids(srv):
    return [json.loads(r["body"])["metadata"]["id"] for r in srv.requests()]


def records(partial):
    """The records of OUT.partial (each checked against the documented format)."""
    out = []
    for text in partial.read_bytes().decode().splitlines(keepends=True):
        assert text.endswith("\n")
        rec = json.loads(text)
        assert list(rec) == ["line", "hash", "result"]
        out.append(rec)
    return out


def recorded_ids(partial):
    return sorted(r["line"] - 1 for r in records(partial))


def read_out(out):
    return [json.loads(t) for t in out.read_text().splitlines()]


def assert_complete(out, n):
    got = read_out(out)
    assert [e["body"]["metadata"]["id"] for e in got] == list(range(n))
    assert all(e["ok"] is True for e in got)
    assert not os.path.exists(str(out) + ".partial")


def resume_and_check(srv, f, out, n, done_before, extra=()):
    """Reruns the same command: only the lines without a result are sent, once each; OUT is
    complete, in input order."""
    srv.reset()
    p = run(["batch", str(f), "--output", str(out), "--call", "complete-deployed", "--concurrency", "10"]
            + list(extra), srv, timeout=30)
    assert p.returncode == 0, p.stderr
    ids = sent_ids(srv)
    assert len(ids) == len(set(ids)), ids                        # no line sent twice
    assert sorted(ids) == sorted(set(range(n)) - set(done_before))  # nothing already recorded again
    assert_complete(out, n)
    return p


# ---- signals with --output --------------------------------------------------------------------------

@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_signal_with_output_then_resume(srv, tmp_path, sig, status):
    """Lines 0, 2 and 4 are slow (concurrency 3): lines 1 and 3 finish and are recorded at once
    although line 0 is still running; the signal cancels 0, 2, 4 (not recorded), 5..9 never start."""
    n = 10
    f = write_input(tmp_path / "in.jsonl", n, slow={0, 2, 4})
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    proc = start([str(f), "--output", str(out), "--concurrency", "3"], srv)
    try:
        assert wait_for(lambda: partial.exists() and len(records(partial)) == 2), "lines 1 and 3 not recorded"
        assert wait_for(lambda: len(srv.requests()) == 5)
        time.sleep(0.1)
        assert proc.poll() is None
        proc.send_signal(sig)
        _, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert recorded_ids(partial) == [1, 3]
    assert not out.exists()
    name = signal.Signals(sig).name
    assert "hl: batch: interrupted by %s: 2 done, 0 failed, 3 cancelled, 5 not started" % name in err
    resume = [t for t in err.splitlines() if "to resume" in t]
    assert len(resume) == 1 and str(partial) in resume[0]
    assert resume[0].endswith(" batch %s --output %s --concurrency 3 --call complete-deployed" % (f, out))
    assert API_KEY not in err
    # the calls in flight were cancelled: their connections closed
    assert wait_for(lambda: srv.stats()["connections_open"] == 0, timeout=5), srv.stats()
    resume_and_check(srv, f, out, n, done_before=[1, 3])


def test_kill_9_then_resume(srv, tmp_path):
    """kill -9: the records written stay (at most the calls in flight are lost); the rerun sends
    only the rest."""
    n = 12
    f = write_input(tmp_path / "in.jsonl", n, slow={0, 5})
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    proc = start([str(f), "--output", str(out), "--concurrency", "4"], srv)
    try:
        assert wait_for(lambda: partial.exists() and len(records(partial)) >= 8)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = recorded_ids(partial)
    assert 0 not in done and 5 not in done and len(done) >= 8
    assert all(r["result"]["ok"] is True for r in records(partial))
    resume_and_check(srv, f, out, n, done_before=done)


def test_sigint_twice_exits_at_once_after_writing_what_finished(srv, tmp_path):
    """A second SIGINT right after the first: hl leaves at once, but the finished results are
    on disk (with --output) and on stdout (without, in input order: the line still running is
    written as cancelled)."""
    n = 6
    f = write_input(tmp_path / "in.jsonl", n, slow={0})
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    for with_output in (True, False):
        srv.reset()
        args = [str(f), "--concurrency", "6"] + (["--output", str(out)] if with_output else [])
        proc = start(args, srv, stdout=subprocess.PIPE)
        try:
            assert wait_for(lambda: len(srv.requests()) == n)
            time.sleep(0.4)                       # lines 1..5 are answered, held back behind line 0
            proc.send_signal(signal.SIGINT)
            time.sleep(0.002)
            proc.send_signal(signal.SIGINT)
            stdout, err = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err
        assert "hl: batch: interrupted by SIGINT: 5 done, 0 failed, 1 cancelled, 0 not started" in err
        if with_output:
            assert stdout == b""
            assert recorded_ids(partial) == [1, 2, 3, 4, 5]
        else:
            got = [json.loads(t) for t in stdout.decode().splitlines()]
            assert len(got) == n
            assert got[0]["ok"] is False and got[0]["error"]["type"] == "cancelled"
            assert [e["body"]["metadata"]["id"] for e in got[1:]] == [1, 2, 3, 4, 5]
    resume_and_check(srv, f, out, n, done_before=[1, 2, 3, 4, 5])


def test_second_signal_of_another_kind_exits_at_once(srv, tmp_path):
    """SIGINT then SIGTERM at once (two signals of different kinds are never merged; SIGINT is
    delivered first, having the lower number): the second one makes hl leave without waiting for the cancelled call; the line still running is written
    as cancelled by hl, the finished ones in order; exit 128 + the second signal."""
    n = 4
    f = tmp_path / "in.jsonl"
    f.write_text("".join(line(i, 30 if i == 0 else None) + "\n" for i in range(n)))
    proc = start([str(f), "--concurrency", "4"], srv, stdout=subprocess.PIPE)
    try:
        assert wait_for(lambda: len(srv.requests()) == n)
        time.sleep(0.4)
        proc.send_signal(signal.SIGSTOP)          # so that both are pending when hl goes on
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        stdout, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    got = [json.loads(t) for t in stdout.decode().splitlines()]
    assert len(got) == n
    assert got[0]["error"] == {"type": "cancelled", "message": "cancelled (hl exited at a second signal)"}
    assert [e["body"]["metadata"]["id"] for e in got[1:]] == [1, 2, 3]
    assert "hl: batch: interrupted by SIGTERM: 3 done, 0 failed, 1 cancelled, 0 not started" in err


def test_one_run_at_a_time_per_output(srv, tmp_path):
    f = write_input(tmp_path / "in.jsonl", 3, slow={0})
    out = tmp_path / "out.jsonl"
    proc = start([str(f), "--output", str(out)], srv)
    try:
        assert wait_for(lambda: len(srv.requests()) == 3)
        p = run(["batch", str(f), "--output", str(out), "--call", "complete-deployed"], srv)
        assert p.returncode == 2 and "in use by another hl batch" in p.stderr
        assert len(srv.requests()) == 3
        _, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert_complete(out, 3)


def test_sigterm_without_output_writes_results_held_back(srv, tmp_path):
    """Without --output: after SIGTERM every finished result is on stdout, also those that were
    held back behind a line still running; exit 143."""
    n = 5
    f = tmp_path / "in.jsonl"
    f.write_text("".join(line(i, 30 if i == 1 else None) + "\n" for i in range(n)))
    proc = start([str(f), "--concurrency", "5"], srv, stdout=subprocess.PIPE)
    try:
        assert wait_for(lambda: len(srv.requests()) == n)
        time.sleep(0.4)
        proc.send_signal(signal.SIGTERM)
        stdout, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    got = [json.loads(t) for t in stdout.decode().splitlines()]
    assert len(got) == n
    assert got[1]["ok"] is False and got[1]["error"]["type"] == "cancelled"
    assert [got[i]["body"]["metadata"]["id"] for i in (0, 2, 3, 4)] == [0, 2, 3, 4]
    assert "hl: batch: interrupted by SIGTERM: 4 done, 0 failed, 1 cancelled, 0 not started" in err
    assert "hl: batch: 5 lines written" in err


# ---- the checkpoint file ------------------------------------------------------------------------------

OK = {"ok": True, "status": 200, "body": {"crafted": True}, "attempts": 1}
FAILED = {"ok": False, "error": {"type": "api_error", "message": "crafted", "status": 500}, "attempts": 1}
CANCELLED = {"ok": False, "error": {"type": "cancelled", "message": "cancelled"}, "attempts": 1}


def lines_of(n):
    return [line(i) for i in range(n)]


@pytest.mark.parametrize("tail", [b'{"line":4,"hash":"00', b'{"line":4,"hash":"0000000000000000","result":{"ok":tr\n',
                                  b"not a record\n"])
def test_torn_last_record_is_ignored(srv, tmp_path, tail):
    n = 6
    texts = lines_of(n)
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    partial.write_bytes((record(1, texts[0], OK) + record(3, texts[2], OK)).encode() + tail)
    p = run(["batch", str(f), "--output", str(out), "--call", "complete-deployed"], srv)
    assert p.returncode == 0, p.stderr
    assert "torn last record" in p.stderr
    assert sorted(sent_ids(srv)) == [1, 3, 4, 5]
    got = read_out(out)
    assert got[0] == OK and got[2] == OK                      # the recorded envelopes, as they were
    assert [got[i]["body"]["metadata"]["id"] for i in (1, 3, 4, 5)] == [1, 3, 4, 5]
    assert not partial.exists()


def test_a_bad_record_before_the_last_stops(srv, tmp_path):
    texts = lines_of(3)
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(texts) + "\n")
    partial = tmp_path / "out.jsonl.partial"
    partial.write_text("garbage\n" + record(1, texts[0], OK))
    p = run(["batch", str(f), "--output", str(tmp_path / "out.jsonl"), "--call", "complete-deployed"], srv)
    assert p.returncode == 2
    assert "line 1 is not a record of hl batch" in p.stderr
    assert srv.requests() == []


def test_changed_input_stops_with_a_clear_message(srv, tmp_path):
    texts = lines_of(5)
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    for content in (record(1, texts[0], OK) + record(3, texts[2].replace("demo", "other"), OK),  # line 3 changed
                    record(1, texts[0], OK) + record(7, "{}", OK)):                               # lines gone
        partial.write_text(content)
        for stdin in (False, True):
            srv.reset()
            args = ["batch", "-" if stdin else str(f), "--output", str(out), "--call", "complete-deployed",
                    "--concurrency", "1"]
            p = run(args, srv, input=f.read_text() if stdin else None)
            assert p.returncode == 2, p.stderr
            assert "the input changed" in p.stderr and str(partial) in p.stderr
            if not stdin:
                assert srv.requests() == []       # a file is checked before anything is sent
            assert partial.read_text().startswith(content)
            assert not out.exists()


def test_failed_and_cancelled_lines_and_retry_failed(srv, tmp_path):
    """A recorded failure is a result (kept; exit 5) unless --retry-failed; a recorded
    "cancelled" is no result: that line always runs again."""
    texts = lines_of(4)
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    crafted = record(1, texts[0], OK) + record(2, texts[1], FAILED) + record(3, texts[2], CANCELLED)
    partial.write_text(crafted)
    p = run(["batch", str(f), "--output", str(out), "--call", "complete-deployed"], srv)
    assert p.returncode == 5, p.stderr
    assert sorted(sent_ids(srv)) == [2, 3]
    assert "1 line failed in an earlier run" in p.stderr and "--retry-failed" in p.stderr
    got = read_out(out)
    assert got[0] == OK and got[1] == FAILED
    assert [got[i]["body"]["metadata"]["id"] for i in (2, 3)] == [2, 3]
    # --retry-failed: the failure is sent again (and now succeeds)
    out.unlink()
    partial.write_text(crafted)
    srv.reset()
    p = run(["batch", str(f), "--output", str(out), "--call", "complete-deployed", "--retry-failed"], srv)
    assert p.returncode == 0, p.stderr
    assert sorted(sent_ids(srv)) == [1, 2, 3]
    got = read_out(out)
    assert got[0] == OK and [got[i]["body"]["metadata"]["id"] for i in (1, 2, 3)] == [1, 2, 3]


def test_new_failures_are_recorded_and_retried(srv, tmp_path):
    """A line that fails is recorded (with its error); a rerun keeps it, --retry-failed sends it
    again."""
    texts = lines_of(3)
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    srv.script([{}, {"status": 500, "json": {"detail": "boom"}}, {}])
    args = ["batch", str(f), "--output", str(out), "--call", "complete-deployed", "--concurrency", "1",
            "--max-retries", "0"]
    p = run(args, srv)
    assert p.returncode == 5
    assert "hl: batch: line 2: api_error" in p.stderr
    assert [e["ok"] for e in read_out(out)] == [True, False, True]
    out.unlink()                                   # as if the run had stopped before the end
    partial.write_text("".join(record(k + 1, texts[k], e) for k, e in enumerate([OK, FAILED, OK])))
    srv.reset()
    p = run(args + ["--retry-failed"], srv)
    assert p.returncode == 0, p.stderr
    assert sent_ids(srv) == [1]


def test_complete_output_then_rerun_does_nothing(srv, tmp_path):
    n = 4
    f = write_input(tmp_path / "in.jsonl", n)
    out = tmp_path / "out.jsonl"
    p = run(["batch", str(f), "--output", str(out), "--call", "complete-deployed"], srv)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr == ""
    assert_complete(out, n)
    before = out.read_bytes()
    srv.reset()
    p = run(["batch", str(f), "--output", str(out), "--call", "complete-deployed"], srv)
    assert p.returncode == 0
    assert "is complete already" in p.stderr and "nothing to do" in p.stderr
    assert srv.requests() == [] and out.read_bytes() == before


def test_output_matches_stdout_and_usage(srv, tmp_path):
    """OUT holds what stdout would (one envelope per non-blank line, in order); --retry-failed
    needs --output; the help tells about both."""
    f = tmp_path / "in.jsonl"
    f.write_text("\n" + line(0) + "\r\n\n" + line(1) + "\nnot json\n")
    out = tmp_path / "out.jsonl"
    p = run(["batch", str(f), "--output", str(out), "--call", "complete-deployed"], srv)
    assert p.returncode == 5
    got = read_out(out)
    assert [e["ok"] for e in got] == [True, True, False] and got[2]["error"]["line"] == 5
    srv.reset()
    q = run(["batch", str(f), "--call", "complete-deployed"], srv)
    assert len(q.stdout.splitlines()) == 3
    p = run(["batch", str(f), "--retry-failed"], srv)
    assert p.returncode == 2 and "--retry-failed goes with --output" in p.stderr
    p = run(["batch", "--help"], srv)
    for text in ("--output OUT", "--retry-failed", "OUT.partial", "SIGTERM", "SIGHUP", "143"):
        assert text in p.stdout, text
