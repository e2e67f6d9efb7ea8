"""Calls on the library's engine — real asyncio (thousands in flight, no executor),
cancellation (tasks, wait_for, Ctrl-C), per-call options, with_options, the SDK's stream code,
batches."""

import asyncio
import concurrent.futures
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import humanloop_native
from humanloop_native import (
    ApiCancelledError,
    ApiException,
    ApiResponse,
    ApiStreamingException,
    ApiTimeoutError,
    Humanloop,
    InvalidRequestError,
)
from hlpy_support import (API_KEY, CHILD_SIGINT_PRELUDE, MODEL_CONFIG, event, header,
                          sigint_raises_keyboard_interrupt, wait_for)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
OK_BODY = {"data": [], "provider_responses": []}


def test_no_executor_threads_and_engine_does_the_work(srv, monkeypatch):
    """acomplete never touches the default executor: asyncio.to_thread is made to fail."""
    async def no_thread(*args, **kwargs):
        raise AssertionError("asyncio.to_thread used")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(_ForbiddenExecutor())
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            response = await client.acomplete(model_config=MODEL_CONFIG, inputs={"q": "x"})
            events = [e async for e in client.acomplete_stream(model_config=MODEL_CONFIG)]
        return response, events

    response, events = asyncio.run(main())
    assert response.status == 200 and response.body["data"][0]["inputs"] == {"q": "x"}
    assert len(events) == 4


class _ForbiddenExecutor(concurrent.futures.ThreadPoolExecutor):
    def submit(self, *args, **kwargs):
        raise AssertionError("the default executor was used")

    def shutdown(self, *args, **kwargs):
        pass


def test_gather_1000_calls_in_flight_at_once(fresh_server):
    """1000 acomplete in one gather: the server holds every request for 2 s, so the number of
    connections open at the same moment shows how many calls were in flight (the executor-based
    binding never had more than min(32, cpus + 4)). Generous timeouts: a loaded machine may be
    slow to accept 1000 connections."""
    calls = 1000
    fresh_server.script([{"delay": 2.0, "json": OK_BODY}] * calls)
    peak = 0

    async def watch(stop):
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, fresh_server.stats()["connections_open"])
            await asyncio.sleep(0.02)

    async def main():
        with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0, timeout=120,
                       connect_timeout=60) as client:
            stop = asyncio.Event()
            watcher = asyncio.ensure_future(watch(stop))
            results = await asyncio.gather(*(client.acomplete(model_config=MODEL_CONFIG, inputs={"i": i})
                                             for i in range(calls)))
            stop.set()
            await watcher
            return results

    results = asyncio.run(main())
    assert len(results) == calls and all(r.status == 200 for r in results)
    assert fresh_server.stats()["requests"] == calls
    sent = sorted(json.loads(r["body"])["inputs"]["i"] for r in fresh_server.requests())
    assert sent == list(range(calls))
    assert peak >= 100, f"only {peak} connections open at once"


def test_gather_default_answers_come_back_to_their_callers(srv):
    async def main():
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            return await asyncio.gather(*(client.acomplete_deployed(project="p", inputs={"i": i})
                                          for i in range(300)))

    results = asyncio.run(main())
    assert [r.body["data"][0]["inputs"]["i"] for r in results] == list(range(300))


def test_cancelled_task_cancels_the_transfer(fresh_server):
    fresh_server.script([{"delay": 30, "json": OK_BODY}])

    async def main():
        with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
            task = asyncio.ensure_future(client.acomplete(model_config=MODEL_CONFIG))
            for _ in range(250):
                if fresh_server.stats()["requests"] == 1:
                    break
                await asyncio.sleep(0.02)
            assert fresh_server.stats()["connections_open"] == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # the connection is closed (not left to run until the 30 s answer)
            for _ in range(250):
                if fresh_server.stats()["connections_open"] == 0:
                    break
                await asyncio.sleep(0.02)
            open_after = fresh_server.stats()["connections_open"]
            assert humanloop_native._engine.pending_count() == 0
            return open_after

    assert asyncio.run(main()) == 0


def test_wait_for_timeout(fresh_server):
    fresh_server.script([{"delay": 30, "json": OK_BODY}, {"json": OK_BODY}])

    async def main():
        with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.acomplete(model_config=MODEL_CONFIG), 0.3)
            # the client still works afterwards
            return await client.acomplete(model_config=MODEL_CONFIG)

    response = asyncio.run(main())
    assert response.status == 200
    assert wait_for(lambda: fresh_server.stats()["connections_open"] <= 1)
    assert fresh_server.stats()["requests"] == 2


def test_cancelled_async_stream_closes_the_connection(fresh_server):
    fresh_server.script([{"stream": {"events": [event("tick")], "forever": True, "delay": 0.02}}])

    async def main():
        with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
            seen = []

            async def consume():
                async for e in client.acomplete_stream(model_config=MODEL_CONFIG):
                    seen.append(e)

            task = asyncio.ensure_future(consume())
            while len(seen) < 3:
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return len(seen)

    assert asyncio.run(main()) >= 3
    assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def _interrupt_when(predicate):
    """SIGINT to this process (its main thread) once predicate() holds; returns the thread."""
    def run():
        wait_for(predicate, timeout=10)
        time.sleep(0.3)  # the main thread is waiting inside the call by now
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_ctrl_c_interrupts_a_blocking_call_and_cancels_it(fresh_server):
    fresh_server.script([{"delay": 30, "json": OK_BODY}])
    with sigint_raises_keyboard_interrupt(), \
            Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
        sender = _interrupt_when(lambda: fresh_server.stats()["requests"] == 1)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            client.complete(model_config=MODEL_CONFIG)
        elapsed = time.monotonic() - started
        sender.join()
        assert elapsed < 15, "the call was not interrupted"
        assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)
        assert humanloop_native._engine.pending_count() == 0
        # the client is still usable
        fresh_server.script([{"json": OK_BODY}])
        assert client.complete(model_config=MODEL_CONFIG).status == 200


def test_ctrl_c_interrupts_sync_stream_iteration(fresh_server):
    fresh_server.script([{"stream": {"events": [event("a")], "hold_after": 1, "hold": 30}}])
    with sigint_raises_keyboard_interrupt(), \
            Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
        stream = client.complete_stream(model_config=MODEL_CONFIG)
        assert next(stream) == event("a")
        sender = _interrupt_when(lambda: True)
        with pytest.raises(KeyboardInterrupt):
            next(stream)
        sender.join()
        assert stream.closed
        assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_ctrl_c_in_a_child_process_within_200ms(fresh_server, tmp_path):
    """A separate interpreter, as a user would run it: SIGINT while complete() waits ->
    KeyboardInterrupt (reported by the child with the time it took) and the connection closes."""
    fresh_server.script([{"delay": 30, "json": OK_BODY}])
    script = tmp_path / "child.py"
    script.write_text(
        CHILD_SIGINT_PRELUDE +
        "import sys, time\n"
        f"sys.path.insert(0, {str(PACKAGE_DIR)!r})\n"
        "from humanloop_native import Humanloop\n"
        f"client = Humanloop(api_key='k', host={fresh_server.base_url!r}, max_retries=0)\n"
        "print('READY', flush=True)\n"
        "try:\n"
        "    client.complete(model_config={'model': 'm', 'prompt_template': 'x'})\n"
        "    print('RETURNED', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('INTERRUPTED %.6f' % time.monotonic(), flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "READY"
        assert wait_for(lambda: fresh_server.stats()["requests"] == 1, timeout=10)
        time.sleep(0.3)  # the child is waiting inside complete()
        sent = time.monotonic()  # CLOCK_MONOTONIC: the same clock in both processes
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert out.startswith("INTERRUPTED"), out
    latency = float(out.split()[1]) - sent
    print(f"Ctrl-C latency in the child: {latency * 1000:.0f} ms")
    assert latency < 2.0, f"KeyboardInterrupt came {latency:.3f} s after SIGINT"
    assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_per_call_timeout(srv):
    srv.script([{"delay": 3, "json": OK_BODY}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, timeout=60) as client:
        with pytest.raises(ApiTimeoutError):
            client.complete(model_config=MODEL_CONFIG, timeout=0.3)


def test_per_call_max_retries(srv):
    srv.script([{"status": 503, "json": {"detail": "busy"}}] * 2)
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, retry_base_delay=0,
                   retry_max_delay=0) as client:
        response = client.complete(model_config=MODEL_CONFIG, max_retries=2)
        assert response.status == 200 and response.attempts == 3
        srv.script([{"status": 503, "json": {"detail": "busy"}}] * 2)
        with pytest.raises(ApiException) as info:
            client.complete(model_config=MODEL_CONFIG)  # the client's 0 retries
        assert info.value.status == 503
    assert srv.stats()["requests"] == 4


def test_per_call_extra_headers_on_the_wire(srv):
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        client.complete(model_config=MODEL_CONFIG, extra_headers={"X-Trace": "t1", "User-Agent": "mine/1"})

        async def main():
            await client.acomplete(model_config=MODEL_CONFIG, extra_headers={"X-Trace": "t2"})
            return [e async for e in client.acomplete_stream(model_config=MODEL_CONFIG,
                                                             extra_headers={"X-Trace": "t3"})]

        asyncio.run(main())
        list(client.complete_deployed_stream(project="p", extra_headers={"X-Trace": "t4"}))
        client.complete(model_config=MODEL_CONFIG)
    records = srv.requests()
    assert [header(r, "X-Trace") for r in records] == ["t1", "t2", "t3", "t4", None]
    assert header(records[0], "User-Agent") == "mine/1"
    assert header(records[0], "X-API-KEY") == API_KEY
    assert "extra_headers" not in json.loads(records[0]["body"])  # options are not body fields


def test_malformed_options_are_invalid_requests(client, srv):
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config=MODEL_CONFIG, timeout=-1)
    assert info.value.path.startswith("options")
    with pytest.raises(InvalidRequestError):
        client.complete(model_config=MODEL_CONFIG, extra_headers={"X-API-KEY": "other"})
    with pytest.raises(InvalidRequestError):
        client.complete(model_config=MODEL_CONFIG, extra_headers={"X-Bad": "a\r\nb"})
    with pytest.raises(InvalidRequestError):
        client.complete(model_config=MODEL_CONFIG, timeout=float("nan"))
    assert srv.requests() == []


def test_with_options_shares_connections_and_overrides_defaults(fresh_server):
    fresh_server.script([{"json": OK_BODY}, {"json": OK_BODY}, {"delay": 3, "json": OK_BODY}])
    client = Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0, timeout=60)
    quick = client.with_options(timeout=0.3, max_retries=0, extra_headers={"X-Team": "a"})
    assert isinstance(quick, Humanloop) and quick is not client
    client.complete(model_config=MODEL_CONFIG)
    quick.complete(model_config=MODEL_CONFIG)
    with pytest.raises(ApiTimeoutError):
        quick.complete(model_config=MODEL_CONFIG)  # the 3 s answer, with quick's 0.3 s timeout
    records = fresh_server.requests()
    assert records[0]["connection"] == records[1]["connection"]  # one pool
    assert [header(r, "X-Team") for r in records] == [None, "a", "a"]
    # the original keeps its own defaults; closing it leaves the sharing client working
    client.close()
    with pytest.raises(RuntimeError):
        client.complete(model_config=MODEL_CONFIG)
    fresh_server.script([{"json": OK_BODY}])
    assert quick.complete(model_config=MODEL_CONFIG, timeout=10).status == 200
    quick.close()
    assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_max_connections_caps_connections(fresh_server):
    fresh_server.script([{"delay": 0.2, "json": OK_BODY}] * 20)

    async def main():
        with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0, max_connections=2) as client:
            return await asyncio.gather(*(client.acomplete(model_config=MODEL_CONFIG) for _ in range(20)))

    assert len(asyncio.run(main())) == 20
    assert fresh_server.stats()["connections_opened"] <= 2
    with pytest.raises(humanloop_native.InvalidConfigError):
        Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_connections=0)


def test_sdk_stream_code_runs_unchanged(srv):
    """The official SDK 0.5.16's documented stream usage, verbatim but for the import."""
    async def main():
        humanloop = Humanloop(api_key=API_KEY, host=srv.base_url)
        tokens = []
        r = await humanloop.complete_stream(project="sdk-example", model_config=MODEL_CONFIG,
                                            inputs={"question": "llamas"})
        status = r.status
        async for tok in r.content:
            tokens.append((tok["output"], tok["id"]))
        headers = r.headers
        r2 = await humanloop.complete_deployed_stream(project="p")
        deployed = [tok["output"] async for tok in r2.content]
        humanloop.close()
        return status, tokens, headers, deployed

    status, tokens, headers, deployed = asyncio.run(main())
    assert status == 200
    assert [t[0] for t in tokens] == ["Llamas", " are friendly", " and curious; here is the data: they",
                                      " like people."]
    assert all(isinstance(t[1], str) and t[1] for t in tokens)
    assert headers["content-type"] == "text/event-stream"
    assert len(deployed) == 4


def test_sdk_stream_item_shape_and_errors_at_await(srv):
    srv.script([{"stream": {"events": [event("a", id="x0"), event("b", "stop", id="x0")]}},
                {"status": 429, "json": {"detail": "slow down"}}])

    async def main():
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            r = await client.acomplete_stream(model_config=MODEL_CONFIG)
            items = [tok async for tok in r.content]
            with pytest.raises(ApiStreamingException) as info:
                await client.complete_stream(model_config=MODEL_CONFIG)
            return r, items, info.value

    r, items, error = asyncio.run(main())
    assert items[0]["output"] == "a" and items[0]["id"] == "x0" and items[0]["finish_reason"] is None
    assert items[1]["finish_reason"] == "stop" and items[1]["index"] == 0
    assert set(items[0]) >= {"output", "id"}
    assert r.done and r.status == 200 and r.event_count == 2
    assert error.status == 429 and error.body == {"detail": "slow down"}


def test_stream_cancel_from_another_thread(fresh_server):
    fresh_server.script([{"stream": {"events": [event("tick")], "forever": True, "delay": 0.05}}])
    with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
        stream = client.complete_stream(model_config=MODEL_CONFIG)
        next(stream)
        threading.Timer(0.2, stream.cancel).start()
        with pytest.raises(ApiCancelledError) as info:
            for _ in stream:
                pass
        assert info.value.type == "cancelled"
    assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_batch_results_in_order_with_per_item_errors(srv):
    srv.script([{"json": {"data": [{"output": "first"}]}},
                {"status": 500, "json": {"detail": "boom"}},
                {"json": {"data": [{"output": "third"}]}}])
    requests = [
        {"model_config": MODEL_CONFIG, "inputs": {"i": 0}},
        {"call": "complete_deployed", "project": "p"},
        {"call": "create_experiment", "experiment_id": "e"},
        {"model_config": {"model": "m"}},                    # invalid: the library says so
        {"call": "complete", "model_config": MODEL_CONFIG, "nope": 1},   # TypeError
        {"call": "fly"},                                       # unknown call
    ]
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        results = client.complete_batch(requests, concurrency=1)
    assert len(results) == 6
    assert isinstance(results[0], ApiResponse) and results[0].body["data"][0]["output"] == "first"
    assert isinstance(results[1], ApiException) and results[1].status == 500
    assert isinstance(results[2], ApiResponse) and results[2].body["data"][0]["output"] == "third"
    assert isinstance(results[3], InvalidRequestError)
    assert results[3].path == "model_config.prompt_template"
    assert isinstance(results[4], TypeError)
    assert isinstance(results[5], TypeError)
    assert [r["path"] for r in srv.requests()] == ["/v4/completion", "/v4/completion-deployed",
                                                     "/v4/completion-experiment"]


def test_batch_concurrency_and_order(srv):
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        results = client.complete_batch([{"model_config": MODEL_CONFIG, "inputs": {"i": i}} for i in range(200)],
                                        concurrency=50)

        async def main():
            return await client.acomplete_batch(
                [{"call": "complete_deployed", "project": "p", "inputs": {"i": i}} for i in range(100)],
                concurrency=20)

        async_results = asyncio.run(main())
    assert [r.body["data"][0]["inputs"]["i"] for r in results] == list(range(200))
    assert [r.body["data"][0]["inputs"]["i"] for r in async_results] == list(range(100))
    with pytest.raises(ValueError):
        Humanloop(api_key=API_KEY, host=srv.base_url).complete_batch([], concurrency=0)


def test_batch_progress_plain_line(srv, capsys, monkeypatch):
    import importlib

    real = importlib.import_module

    def no_tqdm(name, *args, **kwargs):
        if name == "tqdm":
            raise ImportError("no tqdm here")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_tqdm)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # the line is for terminals
    srv.script([{"status": 500, "json": {"detail": "x"}}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        results = client.complete_batch([{"model_config": MODEL_CONFIG}] * 5, concurrency=1, progress=True)
    assert sum(isinstance(r, Exception) for r in results) == 1
    err = capsys.readouterr().err
    last = err.rstrip("\n").split("\r")[-1]
    assert last.startswith("batch: 5/5 done"), err
    assert "requests/s" in last and "1 failed" in last
    assert err.endswith("\n")


def test_batch_progress_uses_tqdm_when_installed(srv, monkeypatch):
    import types

    bars = []

    class FakeTqdm:
        def __init__(self, total, **kwargs):
            self.total, self.n, self.postfix, self.closed = total, 0, {}, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def set_postfix(self, refresh=True, **kwargs):
            self.postfix.update(kwargs)

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    monkeypatch.setattr(sys, "stderr", _Terminal())  # tqdm is for terminals only
    srv.script([{"status": 500, "json": {"detail": "x"}}, {"status": 500, "json": {"detail": "x"}}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        client.complete_batch([{"model_config": MODEL_CONFIG}] * 4, concurrency=1, progress=True)
    assert len(bars) == 1
    assert (bars[0].total, bars[0].n, bars[0].postfix["failed"], bars[0].closed) == (4, 4, 2, True)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_batch_ctrl_c_cancels_the_calls_in_flight(fresh_server):
    fresh_server.script([{"delay": 30, "json": OK_BODY}] * 3)
    with sigint_raises_keyboard_interrupt(), \
            Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
        sender = _interrupt_when(lambda: fresh_server.stats()["requests"] == 3)
        with pytest.raises(KeyboardInterrupt):
            client.complete_batch([{"model_config": MODEL_CONFIG}] * 10, concurrency=3)
        sender.join()
        assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)
        assert humanloop_native._engine.pending_count() == 0


def test_closing_the_client_waits_for_async_calls(srv):
    srv.script([{"delay": 0.3, "json": OK_BODY}])

    async def main():
        client = Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0)
        task = asyncio.ensure_future(client.acomplete(model_config=MODEL_CONFIG))
        await asyncio.sleep(0.05)
        client.close()
        response = await task
        with pytest.raises(RuntimeError):
            await client.acomplete(model_config=MODEL_CONFIG)
        return response

    assert asyncio.run(main()).status == 200


def test_unreadable_items_become_invalid_response_envelopes():
    # The consumer parses what the engine thread handed over; an item that is not a JSON
    # object (never sent by the library, but nothing may crash on it) becomes an error envelope.
    from humanloop_native._calls import parse_item

    assert parse_item(b'{"ok":true,"event":{"data":[]}}') == {"ok": True, "event": {"data": []}}
    for raw in (b"[1]", b"{bad", b"", b'{"ok":true} trailing', b'{"ok":', b"\xff"):
        item = parse_item(raw)
        assert item["ok"] is False
        assert item["error"]["type"] == "invalid_response"
        assert "unreadable item" in item["error"]["message"]
    # what json.loads reads, parse_item reads the same (it skips json.loads' layers)
    for text in ('{"a":[1,2.5,{"b":null}],"c":"\\u00e9\\ud83d\\ude00","d":1e400,"e":-0.0}', ' {"ok":true}\n',
                 '{"k":1,"k":2}', '{"big":123456789012345678901234567890}'):
        assert parse_item(text.encode()) == json.loads(text)
