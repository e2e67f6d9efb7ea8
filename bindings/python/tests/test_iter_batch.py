"""Python batches on the library's queue batch (hl_batch_submit) — iter_batch /
aiter_batch (results as they finish), leaving early (break, Ctrl-C, task cancellation,
wait_for) cancels the rest and keeps what was yielded, checkpoints and resume (counted at the
server), progress (terminal line, log lines at most every interval, callable), rate-aware by
default (scripted 429s with Retry-After)."""

import asyncio
import hashlib
import json
import logging
import os
import signal
import threading
import time

import pytest

import humanloop_native
from humanloop_native import (ApiResponse, CheckpointError, Humanloop, RateLimitError, _batch, _progress,
                              request_hash)
from hlpy_support import API_KEY, sigint_raises_keyboard_interrupt, wait_for

MC = {"model": "m", "prompt_template": "{{i}}"}


def requests_of(n):
    return [{"model_config": MC, "inputs": {"i": str(i)}} for i in range(n)]


def sent_inputs(srv):
    """The "i" input of every request the server received, in arrival order."""
    return [json.loads(r["body"])["inputs"]["i"] for r in srv.requests()]


def echoed(result):
    return result.body["data"][0]["inputs"]["i"]


def client_of(srv, **kwargs):
    return Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, **kwargs)


# -- results as they finish --------------------------------------------------------------------------

def test_iter_batch_yields_every_result_once_in_completion_order(srv):
    # the first request is answered last: it comes out last, the others in between
    srv.script([{"delay": 0.6}])
    requests = requests_of(30) + [{"call": "fly"}]
    with client_of(srv) as client:
        iterator = client.iter_batch(requests, concurrency=8)
        assert srv.stats()["requests"] == 0  # nothing starts before the first next()
        pairs = list(iterator)
    indices = [index for index, _ in pairs]
    assert sorted(indices) == list(range(31))
    assert indices[0] == 30 and isinstance(pairs[0][1], TypeError)  # refused by the binding: at once
    assert indices[-1] == int(sent_inputs(srv)[0])  # the first to arrive got the slow answer
    for index, result in pairs:
        if index < 30:
            assert isinstance(result, ApiResponse) and echoed(result) == str(index)
    assert iterator.counts == {"done": 30, "failed": 0, "cancelled": 0, "not_started": 0}
    assert sorted(sent_inputs(srv), key=int) == [str(i) for i in range(30)]


def test_aiter_batch_yields_every_result_once(srv):
    srv.script([{"delay": 0.5}])

    async def main():
        with client_of(srv) as client:
            return [(index, echoed(result)) async for index, result in client.aiter_batch(requests_of(40),
                                                                                           concurrency=10)]

    pairs = asyncio.run(main())
    assert sorted(pairs) == [(i, str(i)) for i in range(40)]
    assert pairs[-1][0] == int(sent_inputs(srv)[0])


def test_complete_batch_is_built_on_the_queue_batch(srv, monkeypatch):
    """complete_batch / acomplete_batch go through hl_batch_submit, no call on a loop of the
    binding's own."""
    submitted = []
    real = _batch.lib.hl_batch_submit

    class Lib:
        def __getattr__(self, name):
            return getattr(humanloop_native._native.lib, name)

        def hl_batch_submit(self, *args):
            submitted.append(json.loads(args[1]))
            return real(*args)

    monkeypatch.setattr(_batch, "lib", Lib())
    monkeypatch.setattr(humanloop_native._loops, "submit", lambda *a, **k: pytest.fail("a loop call was made"))
    with client_of(srv) as client:
        results = client.complete_batch(requests_of(5), concurrency=3)
        aresults = asyncio.run(client.acomplete_batch(requests_of(4)))
    assert [echoed(r) for r in results] == ["0", "1", "2", "3", "4"]
    assert [echoed(r) for r in aresults] == ["0", "1", "2", "3"]
    assert [(b["concurrency"], b["rate_aware"], len(b["requests"])) for b in submitted] == [(3, True, 5), (16, True, 4)]


# -- leaving early -----------------------------------------------------------------------------------

def test_breaking_out_cancels_the_rest(fresh_server):
    fresh_server.script([{"delay": 0.3}] * 40)
    with client_of(fresh_server) as client:
        got = []
        for index, result in client.iter_batch(requests_of(40), concurrency=4):
            got.append((index, result))
            break
        time.sleep(0.2)  # requests on their way when it was cancelled arrive
        sent = fresh_server.stats()["requests"]
        time.sleep(1.0)  # 0.3 s per answer: a batch still running would have sent 12 more
        assert fresh_server.stats()["requests"] == sent
        assert sent <= 8, sent
    assert len(got) == 1 and isinstance(got[0][1], ApiResponse)
    assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_ctrl_c_during_a_sync_iter_batch_keeps_what_was_yielded(fresh_server):
    fresh_server.script([{}, {}] + [{"delay": 30}] * 3)
    got = []
    with sigint_raises_keyboard_interrupt(), client_of(fresh_server) as client:
        sent_at = []

        def interrupt():
            wait_for(lambda: fresh_server.stats()["requests"] == 5 and len(got) == 2, timeout=10)
            time.sleep(0.2)
            sent_at.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        thread = threading.Thread(target=interrupt)
        thread.start()
        with pytest.raises(KeyboardInterrupt):
            for pair in client.iter_batch(requests_of(10), concurrency=3):
                got.append(pair)
        interrupted_after = time.monotonic() - sent_at[0]
        thread.join()
    assert interrupted_after < 0.2, interrupted_after
    assert sorted(index for index, _ in got) == sorted(int(i) for i in sent_inputs(fresh_server)[:2])
    time.sleep(0.3)
    assert fresh_server.stats()["requests"] == 5  # nothing started after Ctrl-C
    assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


@pytest.mark.parametrize("how", ["wait_for", "cancel"])
def test_a_cancelled_aiter_batch_keeps_what_was_yielded(fresh_server, how):
    fresh_server.script([{}, {}] + [{"delay": 30}] * 3)
    got = []

    async def consume(iterator):
        async for pair in iterator:
            got.append(pair)

    async def main():
        with client_of(fresh_server) as client:
            iterator = client.aiter_batch(requests_of(10), concurrency=3)
            if how == "wait_for":
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(consume(iterator), 1.0)
            else:
                task = asyncio.ensure_future(consume(iterator))
                while fresh_server.stats()["requests"] < 5 or len(got) < 2:
                    await asyncio.sleep(0.02)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert iterator._run.closed and iterator._run.call is None  # cancelled and freed
            await asyncio.sleep(0.3)

    asyncio.run(main())
    assert sorted(index for index, _ in got) == sorted(int(i) for i in sent_inputs(fresh_server)[:2])
    assert fresh_server.stats()["requests"] == 5
    assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_breaking_out_of_async_for_cancels_the_rest(fresh_server):
    fresh_server.script([{"delay": 0.3}] * 40)

    async def main():
        with client_of(fresh_server) as client:
            async for index, result in client.aiter_batch(requests_of(40), concurrency=4):
                break
            await asyncio.sleep(0.2)
            sent = fresh_server.stats()["requests"]
            await asyncio.sleep(1.0)
            return sent, fresh_server.stats()["requests"]

    sent, later = asyncio.run(main())
    assert sent == later and sent <= 8


# -- checkpoints -------------------------------------------------------------------------------------

def read_records(path):
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_checkpoint_resume_sends_only_what_has_no_result(srv, tmp_path):
    path = tmp_path / "batch.ckpt"
    requests = requests_of(12)
    # the first run: 4 answers, then the rest hang; it is interrupted after 4 results
    srv.script([{}] * 4 + [{"delay": 30}] * 8)
    with client_of(srv) as client:
        first = []
        for pair in client.iter_batch(requests, concurrency=6, checkpoint=path):
            first.append(pair)
            if len(first) == 4:
                break
        records = read_records(path)
        assert sorted(r["index"] for r in records) == sorted(index for index, _ in first)
        for record in records:
            assert record["hash"] == request_hash(requests[record["index"]])
            assert record["result"]["ok"] is True and record["result"]["status"] == 200
        assert all(line.endswith(b"}") for line in path.read_bytes().split(b"\n")[:-1])
        recorded = {r["index"] for r in records}
        assert recorded == {int(i) for i in sent_inputs(srv)[:4]}  # the first 4 to arrive were answered
        time.sleep(0.3)  # the requests cancelled on their way arrive before the count restarts

        # the rerun: only the 8 other requests go out; the full list comes back
        srv.reset()
        results = client.complete_batch(requests, concurrency=6, checkpoint=path)
        assert sorted(sent_inputs(srv), key=int) == [str(i) for i in range(12) if i not in recorded]
        assert [echoed(r) for r in results] == [str(i) for i in range(12)]
        for index, result in first:  # rebuilt exactly as the fresh result
            again = results[index]
            assert type(again) is type(result)
            assert (again.body, dict(again.headers), again.status, again.attempts) == \
                (result.body, dict(result.headers), result.status, result.attempts)
        assert sorted(r["index"] for r in read_records(path)) == list(range(12))  # the file is kept

        # a third run sends nothing and returns everything
        srv.reset()
        again = asyncio.run(client.acomplete_batch(requests, checkpoint=path))
        assert srv.stats()["requests"] == 0
        assert [echoed(r) for r in again] == [str(i) for i in range(12)]


def test_checkpoint_records_errors_but_not_cancellations(srv, tmp_path):
    path = tmp_path / "ckpt.jsonl"
    srv.script([{"status": 400, "json": {"detail": "bad"}}, {"delay": 30}])
    with client_of(srv) as client:
        results = []
        for pair in client.iter_batch(requests_of(2), concurrency=2, checkpoint=path):
            results.append(pair)
            break  # the other request is cancelled
        records = read_records(path)
        failed = int(sent_inputs(srv)[0])
        assert [(r["index"], r["result"]["error"]["status"]) for r in records] == [(failed, 400)]
        time.sleep(0.2)
        srv.reset()
        final = client.complete_batch(requests_of(2), checkpoint=path)
    assert sent_inputs(srv) == [str(1 - failed)]
    assert final[failed].status == 400 and type(final[failed]) is type(results[0][1])
    assert isinstance(final[1 - failed], ApiResponse)


def test_async_interrupted_run_records_and_resumes(srv, tmp_path):
    path = tmp_path / "a.ckpt"
    requests = requests_of(8)
    srv.script([{}] * 3 + [{"delay": 30}] * 5)

    async def interrupted():
        with client_of(srv) as client:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.acomplete_batch(requests, concurrency=8, checkpoint=path), 1.0)

    asyncio.run(interrupted())
    recorded = {r["index"] for r in read_records(path)}
    assert recorded == {int(i) for i in sent_inputs(srv)[:3]}
    time.sleep(0.2)
    srv.reset()
    with client_of(srv) as client:
        results = asyncio.run(client.acomplete_batch(requests, checkpoint=path))
    assert sorted(sent_inputs(srv), key=int) == [str(i) for i in range(8) if i not in recorded]
    assert [echoed(r) for r in results] == [str(i) for i in range(8)]


def test_checkpoint_torn_last_line_is_ignored(srv, tmp_path):
    path = tmp_path / "torn.ckpt"
    requests = requests_of(5)
    with client_of(srv) as client:
        client.complete_batch(requests, checkpoint=path)
        data = path.read_bytes()
        lines = data.split(b"\n")[:-1]
        torn_index = json.loads(lines[-1])["index"]
        path.write_bytes(data[:-25])  # killed in the middle of the last write
        srv.reset()
        results = client.complete_batch(requests, checkpoint=path)
    assert sent_inputs(srv) == [str(torn_index)]
    assert [echoed(r) for r in results] == [str(i) for i in range(5)]
    assert sorted(r["index"] for r in read_records(path)) == list(range(5))  # well-formed again


def test_checkpoint_of_other_requests_is_refused(srv, tmp_path):
    path = tmp_path / "changed.ckpt"
    requests = requests_of(4)
    with client_of(srv) as client:
        client.complete_batch(requests, checkpoint=path)
        srv.reset()
        changed = [dict(r) for r in requests]
        changed[2] = {"model_config": MC, "inputs": {"i": "changed"}}
        with pytest.raises(CheckpointError, match=r"request 2 .*the requests changed"):
            client.complete_batch(changed, checkpoint=path)
        with pytest.raises(CheckpointError, match="the requests changed"):
            client.iter_batch(requests[:2], checkpoint=path)  # records of requests that are not there
        assert srv.stats()["requests"] == 0
        # keys, timeouts, retries and the "call" spelling are not part of the request's hash
        same = [{**r, "call": "create", "provider_api_keys": {"openai": "sk-x"}, "timeout": 5} for r in requests]
        assert len(client.complete_batch(same, checkpoint=path)) == 4
        assert srv.stats()["requests"] == 0
    assert "sk-x" not in path.read_text()


def test_request_hash_is_sha256_of_the_canonical_json():
    request = {"inputs": {"b": 1, "a": "é"}, "model_config": MC}
    canonical = '{"call":"complete","inputs":{"a":"é","b":1},"model_config":{"model":"m","prompt_template":"{{i}}"}}'
    assert request_hash(request) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert request_hash({"model_config": MC, "inputs": {"a": "é", "b": 1}}) == request_hash(request)


def test_one_run_per_checkpoint_file(srv, tmp_path):
    path = tmp_path / "locked.ckpt"
    with client_of(srv) as client:
        first = client.iter_batch(requests_of(2), checkpoint=path)
        with pytest.raises(CheckpointError, match="in use"):
            client.iter_batch(requests_of(2), checkpoint=path)
        assert len(list(first)) == 2
        assert len(list(client.iter_batch(requests_of(2), checkpoint=path))) == 2  # released at the end


# -- progress ----------------------------------------------------------------------------------------

def test_progress_off_a_terminal_logs_at_most_one_line_per_interval(srv, capsys, caplog, monkeypatch):
    monkeypatch.setattr(_progress, "PROGRESS_LOG_INTERVAL", 0.25)
    srv.script([{"delay": 0.05}] * 30)
    with caplog.at_level(logging.INFO, logger="humanloop_native"), client_of(srv) as client:
        started = time.monotonic()
        results = client.complete_batch(requests_of(30), concurrency=1, progress=True)
        elapsed = time.monotonic() - started
    assert len(results) == 30
    lines = [r for r in caplog.records if r.name == "humanloop_native" and r.getMessage().startswith("batch:")]
    assert 2 <= len(lines) <= elapsed / 0.25 + 2, [r.getMessage() for r in lines]
    for earlier, later in zip(lines[:-2], lines[1:-1]):  # the periodic lines (the last is the end)
        assert later.created - earlier.created >= 0.24
    assert lines[-1].getMessage().startswith("batch: 30/30 done")
    assert "requests/s" in lines[-1].getMessage() and "0 failed" in lines[-1].getMessage()
    assert "\r" not in capsys.readouterr().err


def test_progress_off_a_terminal_default_interval(srv, caplog):
    with caplog.at_level(logging.INFO, logger="humanloop_native"), client_of(srv) as client:
        client.complete_batch(requests_of(20), concurrency=2, progress=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("batch:")]
    assert len(lines) == 1 and lines[0].startswith("batch: 20/20 done"), lines  # only the final line


def test_progress_callable(srv, tmp_path):
    srv.script([{"status": 500, "json": {"detail": "x"}}])
    calls = []
    path = tmp_path / "p.ckpt"
    with client_of(srv) as client:
        client.complete_batch(requests_of(6), concurrency=1, progress=lambda *a: calls.append(a), checkpoint=path)
        assert calls[0] == (0, 6, 0) and calls[-1] == (6, 6, 1)
        assert [c[0] for c in calls] == list(range(7))
        calls.clear()
        client.complete_batch(requests_of(6), progress=lambda *a: calls.append(a), checkpoint=path)
    assert calls == [(6, 6, 1)]  # everything recorded: done from the start


def test_progress_line_on_a_terminal_shows_the_rate(srv, monkeypatch):
    class Terminal:
        def __init__(self):
            self.text = ""

        def isatty(self):
            return True

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # the plain line
    with client_of(srv) as client:
        client.complete_batch(requests_of(10), progress=True)
    last = terminal.text.rstrip("\n").split("\r")[-1]
    assert last.startswith("batch: 10/10 done, ") and " requests/s, 0 failed" in last, terminal.text


# -- rate limits -------------------------------------------------------------------------------------

RATE_LIMITED = {"status": 429, "headers": {"Retry-After": "1"}, "json": {"detail": "slow down"}}


def test_batches_are_rate_aware_by_default(srv):
    srv.script([RATE_LIMITED] * 5)
    with client_of(srv) as client:
        started = time.monotonic()
        results = client.complete_batch(requests_of(10), concurrency=5)
        elapsed = time.monotonic() - started
    assert [echoed(r) for r in results] == [str(i) for i in range(10)]  # no item failed
    assert srv.stats()["requests"] == 15  # each 429'd request sent once more
    assert elapsed >= 0.9  # Retry-After held the new calls


def test_rate_aware_false_returns_the_429s(srv):
    srv.script([RATE_LIMITED] * 5)
    with client_of(srv) as client:
        results = client.complete_batch(requests_of(10), concurrency=5, rate_aware=False)
    assert sum(isinstance(r, RateLimitError) for r in results) == 5
    assert srv.stats()["requests"] == 10


def test_concurrency_is_checked(srv):
    with client_of(srv) as client:
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError):
                client.iter_batch([], concurrency=bad)
        assert list(client.iter_batch([])) == []
        assert client.complete_batch(requests_of(2), concurrency=50000)[1].status == 200  # capped at 10000
