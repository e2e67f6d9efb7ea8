"""A stream's timeout bounds its head and first event, not its length: a healthy
stream that outlasts ``timeout`` completes, sync and async; a stall longer than
``low_speed_timeout`` still ends it with ApiTimeoutError."""

import asyncio

import pytest

from humanloop_native import ApiTimeoutError, Humanloop
from hlpy_support import API_KEY, MODEL_CONFIG, event


def slow_stream(count, delay):
    return {"stream": {"events": [event("t%d" % i) for i in range(count)], "delay": delay}}


def test_a_stream_longer_than_timeout_completes(srv):
    srv.script([slow_stream(15, 0.1), slow_stream(15, 0.1)])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        quick = client.with_options(timeout=0.5, low_speed_timeout=1)
        assert len(list(quick.complete_stream(model_config=MODEL_CONFIG))) == 15

        async def consume():
            return [e async for e in quick.acomplete_stream(model_config=MODEL_CONFIG)]

        assert len(asyncio.run(consume())) == 15


def test_a_stalled_stream_still_times_out(srv):
    srv.script([{"stream": {"events": [event("a"), event("b"), event("c")], "hold_after": 1, "hold": 3}}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, timeout=0.5, low_speed_timeout=0.4) as client:
        received = []
        with pytest.raises(ApiTimeoutError) as caught:
            for item in client.complete_stream(model_config=MODEL_CONFIG):
                received.append(item)
    assert len(received) == 1
    assert "low_speed_timeout" in str(caught.value)
