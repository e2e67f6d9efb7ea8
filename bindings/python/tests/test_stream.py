"""Streaming iterators: events in order, terminal attributes, closing, errors."""

import gc
import json
import threading

import pytest

from humanloop_native import (
    ApiConnectionError,
    ApiException,
    ApiStreamingException,
    ApiTimeoutError,
    CompletionStream,
    Humanloop,
    InvalidRequestError,
)
from hlpy_support import API_KEY, MODEL_CONFIG, event, only_request, wait_for

STREAM_METHODS = [
    ("complete_stream", "/v4/completion", {"model_config": MODEL_CONFIG}),
    ("complete_deployed_stream", "/v4/completion-deployed", {"project": "p", "environment": "prod"}),
    ("complete_experiment_stream", "/v4/completion-experiment", {"experiment_id": "exp"}),
    ("complete_model_config_stream", "/v4/completion-model-config", {"model_config_id": "cfg"}),
]


@pytest.mark.parametrize("method,path,kwargs", STREAM_METHODS, ids=[m[0] for m in STREAM_METHODS])
def test_default_stream_events_in_order(client, srv, method, path, kwargs):
    stream = getattr(client, method)(**kwargs)
    assert isinstance(stream, CompletionStream)
    assert stream.status is None and stream.headers is None
    events = list(stream)
    outputs = [e["data"][0]["output"] for e in events]
    assert outputs == ["Llamas", " are friendly", " and curious; here is the data: they", " like people."]
    assert [e["data"][0]["finish_reason"] for e in events] == [None, None, None, "stop"]
    assert events[0]["project_id"] == "pr_3usCu3Zed2ekbUbCuUbq8"
    assert events[0]["data"][0]["index"] == 0
    assert stream.done and stream.closed
    assert stream.status == 200
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert isinstance(stream.round_trip_time, float) and stream.round_trip_time > 0
    assert stream.event_count == 4 and stream.attempts == 1
    assert list(stream) == []  # exhausted

    record = only_request(srv)
    assert record["path"] == path
    assert json.loads(record["body"]) == {**kwargs, "stream": True, "provider_api_keys": {}}


def test_stream_argument_ignored(client, srv):
    events = list(client.complete_stream(model_config=MODEL_CONFIG, stream=False))
    assert len(events) == 4
    assert json.loads(only_request(srv)["body"])["stream"] is True


def test_scripted_events_whole_and_multi_sample(client, srv):
    sent = [event("a", index=0, id="x0"), event("b", index=1, id="x1"),
            {**event("c", "length", index=0, id="x0"), "usage": {"total_tokens": 3}},
            event("d", "stop", index=1, id="x1")]
    srv.script([{"stream": {"events": sent, "line_ending": "\r\n", "comments": True, "done": True}}])
    with client.complete_stream(model_config=MODEL_CONFIG, num_samples=2) as stream:
        received = list(stream)
    assert received == sent
    assert stream.closed


def test_early_break_closes_connection(fresh_server):
    fresh_server.script([{"stream": {"events": [event("tick")], "forever": True, "delay": 0.02}}])
    with Humanloop(api_key=API_KEY, host=fresh_server.base_url) as client:
        count = 0
        for item in client.complete_stream(model_config=MODEL_CONFIG):
            count += 1
            if count == 1:
                assert fresh_server.stats()["connections_open"] == 1
            if count == 3:
                break
        # the unreferenced iterator was freed at the break: the connection is gone
        assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)
        assert count == 3


def test_close_and_gc_close_connection(fresh_server):
    fresh_server.script([{"stream": {"events": [event("tick")], "forever": True, "delay": 0.02}}] * 2)
    with Humanloop(api_key=API_KEY, host=fresh_server.base_url) as client:
        stream = client.complete_stream(model_config=MODEL_CONFIG)
        next(stream)
        assert fresh_server.stats()["connections_open"] == 1
        stream.close()
        stream.close()
        assert stream.closed and not stream.done
        assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)
        with pytest.raises(StopIteration):
            next(stream)

        stream = client.complete_stream(model_config=MODEL_CONFIG)
        next(stream)
        next(stream)
        assert wait_for(lambda: fresh_server.stats()["connections_open"] == 1)
        del stream
        gc.collect()
        assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_stream_context_manager_closes(fresh_server):
    fresh_server.script([{"stream": {"events": [event("tick")], "forever": True, "delay": 0.02}}])
    with Humanloop(api_key=API_KEY, host=fresh_server.base_url) as client:
        with client.complete_stream(model_config=MODEL_CONFIG) as stream:
            assert next(stream)["data"][0]["output"] == "tick"
        assert stream.closed
        assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_error_mid_stream_is_raised(client, srv):
    srv.script([{"stream": {"events": [event("a"), event("b"), event("c", "stop")], "cut_after": 2}}])
    stream = client.complete_stream(model_config=MODEL_CONFIG)
    received = []
    with pytest.raises(ApiConnectionError) as info:
        for item in stream:
            received.append(item["data"][0]["output"])
    assert received == ["a", "b"]
    assert info.value.attempts >= 1
    assert stream.closed and not stream.done and stream.error is info.value
    assert list(stream) == []


@pytest.mark.parametrize("delay", [0, 0.05])
def test_invalid_event_mid_stream(client, srv, delay):
    # delay 0: both events arrive in one read; the good one must still come first
    srv.script([{"stream": {"events": [event("a"), {"raw": "{not json"}], "delay": delay}}])
    received = []
    with pytest.raises(Exception) as info:
        for item in client.complete_stream(model_config=MODEL_CONFIG):
            received.append(item)
    assert received == [event("a")]
    assert info.value.type == "invalid_response"


def test_non_2xx_stream(client, srv):
    srv.script([{"status": 429, "json": {"detail": "slow down"}, "headers": {"Retry-After": "0"}}])
    stream = client.complete_stream(model_config=MODEL_CONFIG)
    with pytest.raises(ApiStreamingException) as info:
        next(stream)
    e = info.value
    assert isinstance(e, ApiException)
    assert (e.status, e.reason, e.body) == (429, "Too Many Requests", {"detail": "slow down"})
    assert e.headers["retry-after"] == "0"


def test_stream_timeout(srv):
    # After the first event only low_speed_timeout bounds a stream (timeout: its head and first event).
    srv.script([{"stream": {"events": [event("a"), event("b")], "hold_after": 1, "hold": 3}}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, timeout=30, low_speed_timeout=0.5, max_retries=0) as client:
        stream = client.complete_stream(model_config=MODEL_CONFIG)
        assert next(stream) == event("a")
        with pytest.raises(ApiTimeoutError):
            next(stream)


def test_invalid_request_raised_at_once_or_first_next(client, srv):
    with pytest.raises(InvalidRequestError) as info:
        list(client.complete_stream(model_config={"model": "m"}))
    assert info.value.path == "model_config.prompt_template"
    with pytest.raises(InvalidRequestError):
        client.complete_stream(model_config={**MODEL_CONFIG, "top_p": float("nan")})
    assert srv.requests() == []


def test_stream_outlives_closed_client(srv):
    client = Humanloop(api_key=API_KEY, host=srv.base_url)
    stream = client.complete_stream(model_config=MODEL_CONFIG)
    client.close()
    assert len(list(stream)) == 4 and stream.status == 200


def test_streams_in_parallel_threads(client, srv):
    results = []

    def worker():
        results.append(len(list(client.complete_deployed_stream(project="p"))))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [4, 4, 4, 4]
