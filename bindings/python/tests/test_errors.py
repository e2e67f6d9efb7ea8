"""Every exception type and its attributes; the class of each status (blocking, async, stream,
batch); the one-line str and the SDK's text."""

import asyncio
import pickle
import re
import time

import pytest

import humanloop_native
from humanloop_native import (
    ApiConnectionError,
    ApiException,
    ApiStreamingException,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientConfigurationError,
    ConflictError,
    Humanloop,
    HumanloopError,
    InternalServerError,
    InvalidConfigError,
    InvalidRequestError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from humanloop_native._errors import api_exception_class
from hlpy_support import API_KEY, MODEL_CONFIG, closed_port

DETAIL = [{"loc": ["body", "model_config", "temperature"], "msg": "value is not a valid float",
           "type": "type_error.float"}]


def test_422_with_detail(client, srv):
    srv.script([{"status": 422, "json": {"detail": DETAIL}, "headers": {"X-Request-Id": "req-1"}}])
    with pytest.raises(ApiException) as info:
        client.complete(model_config=MODEL_CONFIG)
    e = info.value
    assert isinstance(e, HumanloopError)
    assert type(e) is UnprocessableEntityError and isinstance(e, ApiException)
    assert e.status == 422 and e.status_code == 422
    assert e.reason == "Unprocessable Entity"
    assert e.body == {"detail": DETAIL}
    assert e.body["detail"][0]["loc"] == ["body", "model_config", "temperature"]
    assert e.headers["x-request-id"] == "req-1"
    assert e.headers["X-Request-Id"] == "req-1"
    assert e.headers["content-type"] == "application/json"
    assert isinstance(e.round_trip_time, float) and e.round_trip_time > 0
    assert e.attempts == 1
    assert e.type == "api_error" and e.error["status"] == 422
    assert str(e) == ("UnprocessableEntityError: 422 Unprocessable Entity: "
                      "model_config.temperature: value is not a valid float")
    assert "Status Code: 422" in e.sdk_text and "Unprocessable Entity" in e.sdk_text


def test_500_text_body(client, srv):
    srv.script([{"status": 500, "body": "internal oops"}])
    with pytest.raises(ApiException) as info:
        client.complete_deployed(project="p")
    e = info.value
    assert (e.status, e.reason, e.body) == (500, "Internal Server Error", "internal oops")
    assert e.attempts == 1


def test_500_retried_then_reported(srv):
    srv.script([{"status": 500, "json": {"detail": "a"}}, {"status": 503, "json": {"detail": "b"}}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=1, retry_base_delay=0.01,
                   retry_max_delay=0.02) as client:
        with pytest.raises(ApiException) as info:
            client.complete_experiment(experiment_id="e")
    assert info.value.status == 503
    assert info.value.body == {"detail": "b"}
    assert info.value.attempts == 2
    assert len(srv.requests()) == 2


def test_retry_then_success(srv):
    srv.script([{"status": 503, "json": {"detail": "busy"}}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=2, retry_base_delay=0.01,
                   retry_max_delay=0.02) as client:
        response = client.complete_model_configuration(model_config_id="c")
    assert response.status == 200 and response.attempts == 2


def test_connection_refused(srv):
    port = closed_port()
    with Humanloop(api_key=API_KEY, host=f"http://127.0.0.1:{port}/v4", max_retries=0) as client:
        with pytest.raises(ApiConnectionError) as info:
            client.complete(model_config=MODEL_CONFIG)
    e = info.value
    assert isinstance(e, HumanloopError) and isinstance(e, ConnectionError)
    assert e.type == "connection_error"
    assert e.attempts == 1
    assert API_KEY not in str(e)
    assert str(port) in str(e)


def test_timeout(srv):
    srv.script([{"delay": 3, "json": {"data": [], "provider_responses": []}}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, timeout=0.5, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(ApiTimeoutError) as info:
            client.complete(model_config=MODEL_CONFIG)
        elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 2.5
    e = info.value
    assert isinstance(e, HumanloopError) and isinstance(e, TimeoutError)
    assert not isinstance(e, ConnectionError)
    assert e.type == "timeout" and e.attempts == 1


def test_invalid_response(client, srv):
    srv.script([{"status": 200, "body": "<html>not json</html>", "headers": {"Content-Type": "text/html"}}])
    with pytest.raises(InvalidResponseError) as info:
        client.complete(model_config=MODEL_CONFIG)
    e = info.value
    assert isinstance(e, HumanloopError) and not isinstance(e, ApiException)
    assert e.status == 200 and e.body == "<html>not json</html>"
    assert e.type == "invalid_response" and e.attempts == 1


def test_invalid_request_from_the_library(client, srv):
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config={"model": "m", "prompt_template": "p", "temperature": "hot",
                                      "provider": "nobody"}, num_samples="two")
    e = info.value
    assert isinstance(e, ValueError) and isinstance(e, HumanloopError)
    assert e.path == "model_config.temperature"
    paths = [item["path"] for item in e.errors]
    assert paths == ["model_config.temperature", "model_config.provider", "num_samples"]
    assert all(item["message"] for item in e.errors)
    assert e.attempts == 0
    assert srv.requests() == []  # nothing sent


def test_invalid_request_missing_required(client, srv):
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config={"model": "m"})
    assert info.value.path == "model_config.prompt_template"
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config={**MODEL_CONFIG, "stop": ["ok", 3]})
    assert info.value.path == "model_config.stop[1]"
    assert srv.requests() == []


def test_invalid_request_from_python_values(client, srv):
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config={**MODEL_CONFIG, "temperature": float("nan")})
    assert info.value.path == "model_config.temperature"
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config=MODEL_CONFIG, metadata={"when": object()})
    assert info.value.path == "metadata.when"
    with pytest.raises(ValueError):
        client.complete(model_config=MODEL_CONFIG, inputs={"x": [1, float("inf")]})
    assert srv.requests() == []


def test_invalid_request_circular_or_too_deep(client, srv):
    """A value that contains itself, or nesting deeper than Python's recursion limit: an
    InvalidRequestError that says where, not a RecursionError."""
    loop = {"q": "x"}
    loop["self"] = loop
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config=MODEL_CONFIG, inputs=loop)
    assert info.value.path == "inputs.self" and "contains itself" in str(info.value)
    items = [1]
    items.append(items)
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config=MODEL_CONFIG, metadata={"a": items})
    assert info.value.path == "metadata.a[1]"
    deep = inner = []
    for _ in range(100_000):
        inner.append([])
        inner = inner[0]
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config=MODEL_CONFIG, metadata={"deep": deep})
    assert info.value.path == "metadata" and "too deep" in str(info.value)
    # a value seen twice side by side is not a loop
    shared = {"k": [1, 2]}
    client.complete(model_config=MODEL_CONFIG, metadata={"a": shared, "b": shared})
    assert len(srv.requests()) == 1


@pytest.mark.parametrize("kwargs,fragment", [
    ({"host": "ftp://example.com"}, "host"),
    ({"timeout": -1}, "timeout"),
    ({"max_retries": -3}, "max_retries"),
    ({"user_agent": "bad\r\nX-Injected: 1"}, "user_agent"),
])
def test_invalid_config(kwargs, fragment):
    with pytest.raises(InvalidConfigError) as info:
        Humanloop(api_key=API_KEY, **kwargs)
    e = info.value
    assert isinstance(e, ValueError) and isinstance(e, HumanloopError)
    assert e.type == "invalid_config" and e.attempts == 0
    assert fragment in str(e)
    assert ClientConfigurationError is InvalidConfigError


def test_invalid_config_lists_every_problem():
    with pytest.raises(InvalidConfigError) as info:
        Humanloop(api_key=API_KEY, timeout=-1, max_retries=-3, user_agent="bad\r\nX: 1")
    e = info.value
    assert sorted(problem["path"] for problem in e.errors) == ["max_retries", "timeout", "user_agent"]
    assert e.path == e.errors[0]["path"]
    assert "(and 2 more problems)" in str(e)


def test_missing_api_key(monkeypatch):
    monkeypatch.delenv("HUMANLOOP_API_KEY", raising=False)
    with pytest.raises(InvalidConfigError) as info:
        Humanloop()
    assert str(info.value) == "no API key: pass api_key=... or set HUMANLOOP_API_KEY"


def test_configuration_errors_speak_python():
    with pytest.raises(InvalidConfigError) as info:
        Humanloop(api_key=API_KEY, timeout=-1, max_retries=1.5)
    messages = [problem["message"] for problem in info.value.errors]
    assert any(m.startswith("timeout= must be greater than 0") for m in messages), messages
    assert any(m.startswith("max_retries= must be an integer") for m in messages), messages
    assert "configuration key" not in str(info.value)


def test_unknown_constructor_kwarg():
    with pytest.raises(TypeError):
        Humanloop(api_key=API_KEY, api_host="x")


def test_api_key_never_in_messages(srv):
    secret = "sk-very-secret-key"
    with Humanloop(api_key=secret, host=f"http://127.0.0.1:{closed_port()}/v4", max_retries=0) as client:
        with pytest.raises(HumanloopError) as info:
            client.complete(model_config=MODEL_CONFIG)
    assert secret not in str(info.value) and secret not in repr(info.value.error)


def test_exceptions_pickle():
    e = ApiException("m", status=422, reason="Unprocessable Entity", body={"detail": []},
                     headers={"A": "b"}, round_trip_time=0.1, attempts=2)
    copy = pickle.loads(pickle.dumps(e))
    assert (copy.status, copy.reason, copy.body, copy.headers["a"], copy.attempts) == \
        (422, "Unprocessable Entity", {"detail": []}, "b", 2)
    r = pickle.loads(pickle.dumps(InvalidRequestError("bad", path="x.y")))
    assert r.path == "x.y" and r.errors == [{"path": "x.y", "message": "bad"}]
    c = pickle.loads(pickle.dumps(ApiConnectionError("gone", attempts=3)))
    assert isinstance(c, ConnectionError) and c.attempts == 3 and str(c) == "gone"


def test_hierarchy():
    for cls in (ApiException, ApiStreamingException, InvalidRequestError, InvalidConfigError,
                ApiConnectionError, ApiTimeoutError, InvalidResponseError):
        assert issubclass(cls, HumanloopError)
    assert issubclass(ApiStreamingException, ApiException)
    for cls in (BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError, ConflictError,
                UnprocessableEntityError, RateLimitError, InternalServerError):
        assert issubclass(cls, ApiException) and not issubclass(cls, ApiStreamingException)
        status = next(s for s, c in STATUS_CLASSES if c is cls)
        assert api_exception_class(status) is cls
        streaming = api_exception_class(status, streaming=True)
        assert issubclass(streaming, cls) and issubclass(streaming, ApiStreamingException)


# -- one class per status (openai-python's names), the same for every kind of call ------------

STATUS_CLASSES = [
    (400, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError),
    (404, NotFoundError), (409, ConflictError), (422, UnprocessableEntityError),
    (429, RateLimitError), (500, InternalServerError), (503, InternalServerError),
    (599, InternalServerError), (408, ApiException), (418, ApiException),
]


def error_answer(status):
    return {"status": status, "json": {"detail": f"said with {status}"}, "headers": {"X-Request-Id": f"r{status}"}}


def old_sdk_text(e):
    """ApiException.__str__ before the one-line str (the official SDK's text)."""
    text = f"Status Code: {e.status}\nReason: {e.reason}\n"
    if e.headers:
        text += f"HTTP response headers: {dict(e.headers)}\n"
    if e.body is not None:
        text += f"HTTP response body: {e.body}\n"
    return text


def check_status_error(e, status, cls, streaming):
    assert isinstance(e, cls) and isinstance(e, ApiException) and isinstance(e, HumanloopError)
    if streaming:
        assert isinstance(e, ApiStreamingException)
        assert type(e) is (ApiStreamingException if cls is ApiException else api_exception_class(status, streaming=True))
    else:
        assert type(e) is cls and not isinstance(e, ApiStreamingException)
    for other in {c for _, c in STATUS_CLASSES} - {cls, ApiException}:
        assert not isinstance(e, other)
    assert e.status == status and e.status_code == status
    assert e.body == {"detail": f"said with {status}"}
    assert e.headers["X-Request-Id"] == f"r{status}"
    assert e.attempts == 1 and e.type == "api_error"
    text = str(e)
    assert "\n" not in text
    expected = f"{type(e).__name__}: {status} {e.reason}: said with {status}"
    if status == 404:  # the library's message names the request of a 404 (a wrong host or path)
        assert re.fullmatch(re.escape(expected) + r" \(POST http://127\.0\.0\.1:\d+/v4/completion[-a-z]*\)", text), text
    else:
        assert text == expected
    assert e.sdk_text == old_sdk_text(e) and e.sdk_text.count("\n") == 4


@pytest.mark.parametrize("status,cls", STATUS_CLASSES, ids=[str(s) for s, _ in STATUS_CLASSES])
def test_each_status_has_its_class_in_every_kind_of_call(client, srv, status, cls):
    # blocking
    srv.script([error_answer(status)])
    with pytest.raises(cls) as info:
        client.complete(model_config=MODEL_CONFIG)
    check_status_error(info.value, status, cls, streaming=False)

    # sync stream: the status class and ApiStreamingException at once
    srv.script([error_answer(status)])
    with pytest.raises(ApiStreamingException) as info:
        list(client.complete_deployed_stream(project="p"))
    check_status_error(info.value, status, cls, streaming=True)

    # asyncio: the call, the async stream, and the SDK's `await complete_stream(...)`
    async def main():
        errors = []
        for make in (lambda: client.acomplete_experiment(experiment_id="e"),
                     lambda: consume(client.acomplete_stream(model_config=MODEL_CONFIG)),
                     lambda: client.complete_model_config_stream(model_config_id="c")):
            srv.script([error_answer(status)])
            try:
                await make()
            except Exception as error:  # noqa: BLE001
                errors.append(error)
        return errors

    async def consume(stream):
        return [item async for item in stream]

    blocking_async, async_stream, awaited_stream = asyncio.run(main())
    check_status_error(blocking_async, status, cls, streaming=False)
    check_status_error(async_stream, status, cls, streaming=True)
    check_status_error(awaited_stream, status, cls, streaming=True)

    # a batch returns the same exception in its result list (not rate-aware: a rate-aware batch,
    # the default, requeues a 429'd request instead)
    srv.script([error_answer(status)])
    results = client.complete_batch([{"model_config": MODEL_CONFIG}], rate_aware=False)
    check_status_error(results[0], status, cls, streaming=False)


def test_stream_errors_are_caught_by_either_class(client, srv):
    srv.script([error_answer(404)])
    try:
        list(client.complete_stream(model_config=MODEL_CONFIG))
    except NotFoundError as e:
        caught = e
    assert isinstance(caught, ApiStreamingException)
    srv.script([error_answer(429)])
    try:
        list(client.complete_stream(model_config=MODEL_CONFIG))
    except ApiStreamingException as e:
        caught = e
    assert isinstance(caught, RateLimitError)
    # the streaming class of a status is made once
    assert api_exception_class(429, streaming=True) is type(caught)
    assert api_exception_class(503, streaming=True) is api_exception_class(500, streaming=True)
    assert api_exception_class(418, streaming=True) is ApiStreamingException
    assert api_exception_class(None) is ApiException


def test_str_is_one_line_with_what_the_server_said(client, srv):
    srv.script([{"status": 500, "body": "internal\noops\n"}])
    with pytest.raises(InternalServerError) as info:
        client.complete(model_config=MODEL_CONFIG)
    assert str(info.value) == "InternalServerError: 500 Internal Server Error: internal oops"
    assert info.value.sdk_text == ("Status Code: 500\nReason: Internal Server Error\n"
                                   f"HTTP response headers: {dict(info.value.headers)}\n"
                                   "HTTP response body: internal\noops\n\n")

    srv.script([{"status": 429, "json": {"error": {"message": "slow down", "type": "rate"}}}])
    with pytest.raises(RateLimitError) as info:
        client.complete(model_config=MODEL_CONFIG)
    assert str(info.value) == "RateLimitError: 429 Too Many Requests: slow down"

    many = [{"loc": ["body", "inputs", str(i)], "msg": f"bad {i}", "type": "t"} for i in range(5)]
    srv.script([{"status": 422, "json": {"detail": many}}])
    with pytest.raises(UnprocessableEntityError) as info:
        client.complete(model_config=MODEL_CONFIG)
    assert str(info.value) == ("UnprocessableEntityError: 422 Unprocessable Entity: "
                               "inputs.0: bad 0; inputs.1: bad 1; inputs.2: bad 2 (and 2 more)")

    srv.script([{"status": 418, "body": ""}])  # nothing said: the request, from the library's message
    with pytest.raises(ApiException) as info:
        client.complete(model_config=MODEL_CONFIG)
    assert str(info.value).startswith("ApiException: 418 ")
    assert "\n" not in str(info.value)

    srv.script([{"status": 403, "body": "x" * 5000}])
    with pytest.raises(PermissionDeniedError) as info:
        client.complete(model_config=MODEL_CONFIG)
    assert len(str(info.value)) <= 500 and str(info.value).endswith("...")

    # made by hand
    assert str(NotFoundError("gone", status=404, reason="Not Found")) == "NotFoundError: 404 Not Found: gone"
    assert str(ApiException("m")) == "ApiException: m"
    assert str(ApiException(status=400, reason="Bad Request")) == "ApiException: 400 Bad Request"


def test_status_classes_are_exported_and_pickle(client, srv):
    for _, cls in STATUS_CLASSES:
        assert cls.__name__ in humanloop_native.__all__
        assert getattr(humanloop_native, cls.__name__) is cls
        assert issubclass(cls, ApiException)
    srv.script([error_answer(422)])
    with pytest.raises(ApiStreamingException) as info:
        list(client.complete_stream(model_config=MODEL_CONFIG))
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is type(info.value)
    assert isinstance(copy, UnprocessableEntityError) and isinstance(copy, ApiStreamingException)
    assert (copy.status, copy.body, str(copy), copy.sdk_text) == \
        (422, {"detail": "said with 422"}, str(info.value), info.value.sdk_text)


@pytest.mark.parametrize("accelerated", [True, False])
def test_request_encoding_with_and_without_json_c_accelerator(monkeypatch, accelerated):
    """The body's encoder (json's C accelerator, made once) and the fallback (json.dumps, for an
    interpreter without it) write the same text and find the same problems."""
    from humanloop_native import _request
    if not accelerated:
        monkeypatch.setattr(_request, "_ENCODER", None)
    elif _request._ENCODER is None:
        pytest.skip("this interpreter has no C accelerator for json")
    body = {"project": "p", "inputs": {"q": "é \"x\" \u2028 \U0001F600", "n": 3, "t": 0.7, "l": (1, [True, None])},
            "model_config": None, "metadata": {"gen": iter([1, 2])}}
    assert _request.encode(body) == ('{"project":"p","inputs":{"q":"é \\"x\\" \u2028 \U0001F600","n":3,"t":0.7,'
                                     '"l":[1,[true,null]]},"metadata":{"gen":[1,2]}}').encode()
    loop = {}
    loop["again"] = [loop]
    for bad, path in [({"inputs": {"x": float("nan")}}, "inputs.x"), ({"inputs": {"x": object()}}, "inputs.x"),
                      ({"inputs": loop}, "inputs.again[0]"), ({"inputs": {(1, 2): "k"}}, "inputs")]:
        with pytest.raises(InvalidRequestError) as info:
            _request.encode(bad)
        assert info.value.path == path
