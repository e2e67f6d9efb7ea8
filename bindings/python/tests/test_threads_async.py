"""One client shared by threads; the asyncio variants."""

import asyncio
import json
import threading
import time

import pytest

from humanloop_native import (
    ApiException,
    ApiResponse,
    AsyncCompletionStream,
    Humanloop,
    InvalidRequestError,
)
from hlpy_support import API_KEY, MODEL_CONFIG, event

THREADS = 8
CALLS = 200


def test_threads_share_one_client(srv):
    failures = []
    counts = [0] * THREADS
    start = threading.Barrier(THREADS)

    def worker(n):
        start.wait()
        for i in range(CALLS):
            try:
                response = client.complete(model_config=MODEL_CONFIG, inputs={"t": n, "i": i})
                assert response.status == 200
                assert response.body["data"][0]["inputs"] == {"t": n, "i": i}
                counts[n] += 1
            except Exception as exc:  # pragma: no cover - reported below
                failures.append(repr(exc))

    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
    assert counts == [CALLS] * THREADS
    assert srv.stats()["requests"] == THREADS * CALLS
    records = srv.requests()
    assert len(records) == THREADS * CALLS
    seen = {(b["inputs"]["t"], b["inputs"]["i"]) for b in (json.loads(r["body"]) for r in records)}
    assert len(seen) == THREADS * CALLS
    # keep-alive: far fewer connections than requests
    assert len({r["connection"] for r in records}) <= 4 * THREADS


def test_calls_release_the_gil(srv):
    """Two slow calls in two threads overlap (ctypes drops the GIL during the C call)."""
    srv.script([{"delay": 0.4, "json": {"data": [], "provider_responses": []}}] * 2)
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        started = time.monotonic()
        threads = [threading.Thread(target=client.complete_deployed, kwargs={"project": "p"})
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert time.monotonic() - started < 0.75


def test_close_waits_for_calls_in_flight(srv):
    srv.script([{"delay": 0.3, "json": {"data": [], "provider_responses": []}}])
    client = Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0)
    results = []
    thread = threading.Thread(target=lambda: results.append(client.complete_deployed(project="p")))
    thread.start()
    time.sleep(0.1)
    client.close()          # while the call is running: released when it returns
    thread.join()
    assert results[0].status == 200
    with pytest.raises(RuntimeError):
        client.complete_deployed(project="p")


def test_async_calls(srv):
    async def main():
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            results = await asyncio.gather(
                client.acomplete(model_config=MODEL_CONFIG, project="a"),
                client.acomplete_deployed(project="b", environment="prod"),
                client.acomplete_experiment(experiment_id="e"),
                client.acomplete_model_configuration(model_config_id="c"),
                client.completions.acreate(model_config=MODEL_CONFIG),
            )
            srv.script([{"status": 422, "json": {"detail": []}}])
            with pytest.raises(ApiException) as info:
                await client.acomplete(model_config=MODEL_CONFIG)
            with pytest.raises(InvalidRequestError):
                await client.acomplete(model_config={"model": "m"})
            with pytest.raises(TypeError):
                await client.acomplete(model_config=MODEL_CONFIG, nope=1)
            return results, info.value

    results, error = asyncio.run(main())
    assert all(isinstance(r, ApiResponse) and r.status == 200 for r in results)
    assert error.status == 422 and error.body == {"detail": []}
    assert sorted(r["path"] for r in srv.requests()) == sorted([
        "/v4/completion", "/v4/completion-deployed", "/v4/completion-experiment",
        "/v4/completion-model-config", "/v4/completion", "/v4/completion"])


def test_async_calls_do_not_block_the_loop(srv):
    srv.script([{"delay": 0.4, "json": {"data": [], "provider_responses": []}}])

    async def main():
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            ticks = 0
            task = asyncio.ensure_future(client.acomplete_deployed(project="p"))
            while not task.done():
                ticks += 1
                await asyncio.sleep(0.02)
            return ticks, task.result()

    ticks, response = asyncio.run(main())
    assert ticks >= 5 and response.status == 200


def test_async_streams(srv):
    srv.script([{"stream": {"events": [event("a"), event("b", "stop")]}}])

    async def main():
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            stream = client.acomplete_stream(model_config=MODEL_CONFIG)
            assert isinstance(stream, AsyncCompletionStream)
            first = [e async for e in stream]
            awaited = await client.acomplete_deployed_stream(project="p")  # SDK style: awaited
            async with awaited:
                second = [e["data"][0]["output"] async for e in awaited]
            async with client.acomplete_experiment_stream(experiment_id="e") as third:
                async for _ in third:
                    break
            assert third.closed
            fourth = [e async for e in client.acomplete_model_config_stream(model_config_id="c")]
            return stream, first, second, fourth

    stream, first, second, fourth = asyncio.run(main())
    assert first == [event("a"), event("b", "stop")]
    assert stream.status == 200 and stream.done and stream.headers["content-type"] == "text/event-stream"
    assert len(second) == 4 and len(fourth) == 4
