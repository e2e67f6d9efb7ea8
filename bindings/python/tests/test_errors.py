"""Every exception type and its attributes."""

import pickle
import time

import pytest

from humanloop_native import (
    ApiConnectionError,
    ApiException,
    ApiStreamingException,
    ApiTimeoutError,
    ClientConfigurationError,
    Humanloop,
    HumanloopError,
    InvalidConfigError,
    InvalidRequestError,
    InvalidResponseError,
)
from hlpy_support import API_KEY, MODEL_CONFIG, closed_port

DETAIL = [{"loc": ["body", "model_config", "temperature"], "msg": "value is not a valid float",
           "type": "type_error.float"}]


def test_422_with_detail(client, srv):
    srv.script([{"status": 422, "json": {"detail": DETAIL}, "headers": {"X-Request-Id": "req-1"}}])
    with pytest.raises(ApiException) as info:
        client.complete(model_config=MODEL_CONFIG)
    e = info.value
    assert isinstance(e, HumanloopError)
    assert type(e) is ApiException
    assert e.status == 422
    assert e.reason == "Unprocessable Entity"
    assert e.body == {"detail": DETAIL}
    assert e.body["detail"][0]["loc"] == ["body", "model_config", "temperature"]
    assert e.headers["x-request-id"] == "req-1"
    assert e.headers["X-Request-Id"] == "req-1"
    assert e.headers["content-type"] == "application/json"
    assert isinstance(e.round_trip_time, float) and e.round_trip_time > 0
    assert e.attempts == 1
    assert e.type == "api_error" and e.error["status"] == 422
    assert "Status Code: 422" in str(e) and "Unprocessable Entity" in str(e)


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
