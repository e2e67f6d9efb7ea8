"""Tests of the test server (Tests/server/hl_test_server.py, protocol in PROTOCOL.md).

    python3 -m pytest -q Tests/server
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from hl_test_server import DEFAULT_STREAM_EVENTS, TestServer  # noqa: E402

SERVER_PY = os.path.join(HERE, "hl_test_server.py")
# The example stream of docs/api.md: the server's default stream, byte for byte.
DOCS_SSE = os.path.join(HERE, "..", "..", "docs", "examples", "completion.stream.sse")

KEY = "sk-test"
ENDPOINTS = ["/v4/completion", "/v4/completion-deployed", "/v4/completion-experiment",
             "/v4/completion-model-config"]
MC = {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{question}}"}
MINIMAL = {
    "/v4/completion": {"model_config": MC},
    "/v4/completion-deployed": {"project": "sdk-example"},
    "/v4/completion-experiment": {"experiment_id": "exp_1"},
    "/v4/completion-model-config": {"model_config_id": "config_1"},
}
E1 = '{"data":[{"id":"d1","index":0,"output":"one","finish_reason":null}],"project_id":"pr_s"}'
E2 = '{"data":[{"id":"d1","index":0,"output":" two: data: x","finish_reason":null}],"project_id":"pr_s"}'
E3 = '{"data":[{"id":"d1","index":0,"output":" three","finish_reason":"stop"}],"project_id":"pr_s"}'
EVENTS = [json.loads(E1), json.loads(E2), json.loads(E3)]


# ---- fixtures and helpers ------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv():
    with TestServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(request):
    for name in ("srv", "tls_srv"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
    yield


def wait_for(cond, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def call(srv, path="/v4/completion", body=None, key=KEY, method="POST", headers=None, conn=None):
    """One request with http.client; returns (response, body bytes)."""
    c = conn or http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    h = {"Content-Type": "application/json"}
    if key is not None:
        h["X-API-KEY"] = key
    h.update(headers or {})
    if body is None:
        body = MINIMAL.get(path, {})
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r, data


def raw_request(path="/v4/completion", body=b"{}", key=KEY, extra=b""):
    if isinstance(body, str):
        body = body.encode()
    h = b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    if key:
        h += b"X-API-KEY: " + key.encode() + b"\r\n"
    return h + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def connect(srv, timeout=5.0):
    return socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)


def read_until_close(s, timeout=5.0):
    """All bytes until EOF; returns (data, how) with how "eof", "reset" or "timeout"."""
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        except socket.timeout:
            return data, "timeout"
        if not d:
            return data, "eof"
        data += d


def read_for(s, seconds):
    """Whatever arrives within `seconds`; returns (data, closed)."""
    deadline = time.monotonic() + seconds
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            d = s.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not d:
            return data, True
        data += d


def read_response(s, timeout=5.0):
    """One complete response framed by Content-Length or chunked encoding (connection kept)."""
    s.settimeout(timeout)
    data = b""
    while True:
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            lower = head.lower()
            if b"transfer-encoding: chunked" in lower:
                if body.endswith(b"\r\n0\r\n\r\n") or body == b"0\r\n\r\n":
                    return data
            else:
                n = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        n = int(value)
                if len(body) >= n:
                    return data
        d = s.recv(65536)
        if not d:
            return data
        data += d


def split_response(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, data[:200]
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
    return status, lines[0], headers, body


def hget(headers, name):
    vals = [v for n, v in headers if n.lower() == name.lower()]
    return vals[0] if vals else None


def stream_bytes(srv, stream_opts, extra_r=None, timeout=5.0):
    """Script one stream answer, request it over a raw socket; returns (head headers, body, how)
    where how is "eof", "reset" or (a chunked answer read to its end) "kept"."""
    r = {"stream": stream_opts}
    r.update(extra_r or {})
    srv.script([r])
    s = connect(srv)
    s.sendall(raw_request(body=b'{"stream":true}'))
    if r.get("chunked"):
        data, how = read_response(s, timeout), "kept"
    else:
        data, how = read_until_close(s, timeout)
    s.close()
    status, _, headers, body = split_response(data)
    return status, headers, body, how


def dechunk(body):
    """Decode a chunked body; returns (list of chunk payloads, rest after the last chunk)."""
    chunks = []
    while True:
        line, _, body = body.partition(b"\r\n")
        size = int(line, 16)
        if size == 0:
            return chunks, body
        chunks.append(body[:size])
        assert body[size:size + 2] == b"\r\n"
        body = body[size + 2:]


def conn_threads():
    return [t for t in threading.enumerate() if t.name.startswith("hl-conn-")]


# ---- default answers ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ENDPOINTS)
def test_default_200_shape_each_endpoint(srv, path):
    r, data = call(srv, path)
    assert r.status == 200 and r.reason == "OK"
    assert r.getheader("Content-Type") == "application/json"
    assert int(r.getheader("Content-Length")) == len(data)
    body = json.loads(data)
    assert list(body) == (["data", "provider_responses"] + (["project_id"] if path.endswith("deployed") else [])
                          + ["num_samples", "usage"])
    assert body["num_samples"] == 1
    assert body["data"] == [{
        "id": "data_0", "index": 0, "output": "Hello from the test server",
        "raw_output": " Hello from the test server\n", "inputs": {}, "model_config_id": "config_test",
        "finish_reason": "stop"}]
    assert len(body["provider_responses"]) == 1 and isinstance(body["provider_responses"][0], dict)
    assert body["usage"] == {"prompt_tokens": 7, "generation_tokens": 6, "total_tokens": 13}
    if path.endswith("deployed"):
        assert body["project_id"] == "pr_test"


def test_default_200_built_from_request(srv):
    req = ('{"model_config":{"model":"m","prompt_template":"p"},"project_id":"pr_x","num_samples":3,'
           '"inputs":{"q":"caf\u00e9","n":[1,2]},"logprobs":2,"suffix":"\\n--","user":"u@x",'
           '"metadata":{"x":0.70,"tiny":1e-7,"big":123456789012345678901234567890}}')
    r, data = call(srv, body=req.encode())
    assert r.status == 200
    body = json.loads(data)
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    assert [d["id"] for d in body["data"]] == ["data_0", "data_1", "data_2"]
    assert all(d["inputs"] == {"q": "caf\u00e9", "n": [1, 2]} for d in body["data"])
    assert len(body["provider_responses"]) == 3
    assert body["provider_responses"][0]["model"] == "m"
    assert body["project_id"] == "pr_test" and body["num_samples"] == 3
    assert body["logprobs"] == 2 and body["suffix"] == "\n--" and body["user"] == "u@x"
    assert body["usage"]["generation_tokens"] == 18
    # numbers echoed as written, non-ASCII as raw UTF-8
    assert b'"metadata":{"x":0.70,"tiny":1e-7,"big":123456789012345678901234567890}' in data
    assert "caf\u00e9".encode() in data


def test_default_401_without_api_key(srv):
    for path in ENDPOINTS:
        r, data = call(srv, path, key=None)
        assert r.status == 401 and r.reason == "Unauthorized"
        assert json.loads(data) == {"detail": "Missing API key"}
    # scripted responses win over the default 401
    srv.script([{"json": {"ok": 1}}])
    r, data = call(srv, key=None)
    assert r.status == 200 and json.loads(data) == {"ok": 1}


@pytest.mark.parametrize("body,kind", [
    (b"not json", "value_error.jsondecode"), (b"", "value_error.jsondecode"),
    (b'{"a":', "value_error.jsondecode"), (b"\xff\xfe", "value_error.jsondecode"),
    (b"[1,2]", "type_error.dict"), (b'"s"', "type_error.dict"), (b"null", "type_error.dict"),
])
def test_default_422_body_not_an_object(srv, body, kind):
    r, data = call(srv, "/v4/completion-deployed", body=body)
    assert r.status == 422 and r.reason == "Unprocessable Entity"
    assert r.getheader("Content-Type") == "application/json"
    detail = json.loads(data)["detail"]
    assert len(detail) == 1 and detail[0]["loc"] == ["body"] and detail[0]["type"] == kind
    assert isinstance(detail[0]["msg"], str) and detail[0]["msg"]


def test_default_404_and_405(srv):
    for method, path in [("POST", "/v4/other"), ("GET", "/"), ("POST", "/v3/completion"),
                         ("POST", "/v4/completion/"), ("GET", "/v4")]:
        r, data = call(srv, path, body=b"{}", method=method)
        assert r.status == 404, path
        assert json.loads(data) == {"detail": "Not Found"}
    r, data = call(srv, "/v4/completion", body=b"", method="GET")
    assert r.status == 405 and r.getheader("Allow") == "POST"
    # a query string does not change the route
    r, _ = call(srv, "/v4/completion?x=1")
    assert r.status == 200
    assert srv.requests()[-1]["path"] == "/v4/completion?x=1"


def test_deep_nesting_and_large_bodies(srv):
    for depth in (100, 1000, 100000):
        req = '{"project":"p","metadata":{"x":' + "[" * depth + "]" * depth + '},"user":"u"}'
        r, data = call(srv, "/v4/completion-deployed", body=req.encode())
        assert r.status == 200, depth
        body = json.loads(data)
        assert body["project_id"] == "pr_test" and body["user"] == "u"
        assert ("metadata" in body) == (depth == 100)
    r, _ = call(srv, "/v4/completion-deployed", body=b'{"metadata":' + b"[" * 5000 + b"}")
    assert r.status == 422
    big = b'{"model_config":{"model":"m","prompt_template":"' + b"x" * (4 << 20) + b'"}}'
    r, _ = call(srv, body=big)
    assert r.status == 200
    assert srv.requests()[-1]["body"].encode() == big


# ---- recording -----------------------------------------------------------------------------------

def test_recording_method_path_headers_body(srv):
    body = '  {"model_config" : {"model":"m","prompt_template":"p\\u00e9 \u65e5"},\n "x": 0.70 }  '
    s = connect(srv)
    s.sendall(b"POST /v4/completion HTTP/1.1\r\nHost: h\r\nX-API-KEY: " + KEY.encode() + b"\r\n"
              b"x-lower: v1\r\nX-Dup: a\r\nX-Dup:  b  \r\nUser-Agent: ua/1 (+x)\r\nContent-Length: "
              + str(len(body.encode())).encode() + b"\r\n\r\n" + body.encode())
    data = read_response(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    reqs = srv.requests()
    assert len(reqs) == 1
    r = reqs[0]
    assert r["method"] == "POST" and r["path"] == "/v4/completion"
    assert r["headers"] == [["Host", "h"], ["X-API-KEY", KEY], ["x-lower", "v1"], ["X-Dup", "a"], ["X-Dup", "b"],
                            ["User-Agent", "ua/1 (+x)"], ["Content-Length", str(len(body.encode()))]]
    assert r["body"] == body
    assert "body_b64" not in r
    assert isinstance(r["connection"], int) and isinstance(r["time"], float)


def test_recording_invalid_utf8_and_chunked_request(srv):
    call(srv, body=b'{"a":"\xff"}')
    r = srv.requests()[-1]
    assert base64.b64decode(r["body_b64"]) == b'{"a":"\xff"}'
    assert r["body"] == '{"a":"\ufffd"}'
    # a chunked request body is recorded de-chunked
    s = connect(srv)
    s.sendall(b"POST /v4/completion-deployed HTTP/1.1\r\nHost: h\r\nX-API-KEY: k\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\n{\"pro\r\nA;ext=1\r\nject\":\"p\"}\r\n0\r\n\r\n")
    data = read_response(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 200 ")
    assert srv.requests()[-1]["body"] == '{"project":"p"}'


def test_expect_100_continue(srv):
    s = connect(srv)
    s.sendall(b"POST /v4/completion-deployed HTTP/1.1\r\nHost: h\r\nX-API-KEY: k\r\nExpect: 100-continue\r\n"
              b"Content-Length: 2\r\n\r\n")
    data, _ = read_for(s, 0.3)
    assert data == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(b"{}")
    data = read_response(s)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    s.close()


def test_keep_alive_connection_ids(srv):
    c1 = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    for path in ENDPOINTS:
        r, _ = call(srv, path, conn=c1)
        assert r.status == 200
    # errors with a body keep the connection too
    srv.script([{"status": 422, "json": {"detail": []}}, {"status": 500, "body": "x"}])
    assert call(srv, conn=c1)[0].status == 422
    assert call(srv, conn=c1)[0].status == 500
    assert call(srv, conn=c1, key=None)[0].status == 401
    c2 = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    call(srv, conn=c2)
    c1.close()
    c2.close()
    ids = [r["connection"] for r in srv.requests()]
    assert len(ids) == 8
    assert len(set(ids[:7])) == 1 and ids[7] != ids[0]
    st = srv.stats()
    assert st["connections_opened"] == 2 and st["requests"] == 8


def test_http10_and_connection_close(srv):
    s = connect(srv)
    s.sendall(b"POST /v4/completion-deployed HTTP/1.0\r\nX-API-KEY: k\r\nContent-Length: 2\r\n\r\n{}")
    data, how = read_until_close(s)
    s.close()
    status, _, headers, body = split_response(data)
    assert status == 200 and how == "eof" and hget(headers, "Connection") == "close"
    assert len(body) == int(hget(headers, "Content-Length"))
    s = connect(srv)
    s.sendall(raw_request(extra=b"Connection: close\r\n"))
    data, how = read_until_close(s)
    s.close()
    assert how == "eof" and data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_malformed_request_gets_400(srv):
    s = connect(srv)
    s.sendall(b"GARBAGE\r\n\r\n")
    data, how = read_until_close(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 400 ") and how == "eof"
    assert srv.requests() == []


# ---- control routes over HTTP --------------------------------------------------------------------

def test_control_routes_over_http(srv):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    c.request("POST", "/_control/script", body=json.dumps({"responses": [{"status": 503, "body": "busy"},
                                                                         {"json": [1]}]}))
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read()) == {"queued": 2, "pending": 2}
    assert call(srv)[0].status == 503
    assert wait_for(lambda: srv.stats()["connections_open"] == 0)
    c.request("GET", "/_control/stats")
    st = json.loads(c.getresponse().read())
    assert st == {"connections_opened": 1, "connections_open": 0, "requests_in_flight_max": 1,
                  "requests": 1, "pending": 1, "rate_limited": 0}
    c.request("GET", "/_control/requests")
    reqs = json.loads(c.getresponse().read())["requests"]
    assert [r["path"] for r in reqs] == ["/v4/completion"]  # control requests are not recorded
    for bad in [b"nope", b"{}", b'{"responses":[{"stauts":200}]}', b'{"responses":[{"stream":{"evnets":[]}}]}',
                b'{"responses":[{"fault":"explode"}]}', b'{"responses":[{"json":1,"body":"x"}]}',
                b'{"responses":[{"stream":{"line_ending":"\\t"}}]}', b'{"responses":[{"body_b64":"!!"}]}',
                b'{"responses":[{"status":"200"}]}', b'{"responses":[{"delay":-1}]}']:
        c.request("POST", "/_control/script", body=bad)
        r = c.getresponse()
        assert r.status == 400, bad
        assert json.loads(r.read())["detail"]
    c.request("POST", "/_control/reset", body=b"{}")
    assert c.getresponse().read() and srv.stats()["pending"] == 0 and srv.requests() == []
    # numbers in "json" and stream events keep their written form when scripted as JSON text
    c.request("POST", "/_control/script", body=b'{"responses":[{"json":{"x":0.70,"t":1e-7,"b":123456789012345678901234567890}},'
              b'{"stream":{"events":[{"n":1.50}]}}]}')
    assert c.getresponse().read()
    assert call(srv)[1] == b'{"x":0.70,"t":1e-7,"b":123456789012345678901234567890}'
    assert call(srv, body={"stream": True})[1] == b'data: {"n":1.50}\n\n'
    c.request("GET", "/_control/nothing")
    assert c.getresponse().status == 404
    c.close()
    with pytest.raises(ValueError):
        srv.script([{"stauts": 200}])


def test_scripted_fifo_then_default(srv):
    srv.script([
        {"status": 201, "json": {"n": 1, "x": 0.7}},
        {"status": 404, "reason": "Nothing Here", "body": ""},
        {"status": 500, "headers": [["X-Multi", "a"], ["X-Multi", "b"], ["X-CamelCase", "v"]],
         "body": "Internal oops: <b>not json</b>\n"},
        {"body_b64": base64.b64encode(b"\x00\xff bin").decode(), "headers": {"Content-Type": "x/y"}},
        {"status": 502},
        {"delay": 0.3, "headers": {"X-Extra": "1"}},
    ])
    r, data = call(srv)
    assert (r.status, r.reason, data) == (201, "Created", b'{"n":1,"x":0.7}')
    assert r.getheader("Content-Type") == "application/json"
    r, data = call(srv)
    assert (r.status, r.reason, data) == (404, "Nothing Here", b"")
    r, data = call(srv)
    assert r.status == 500 and r.reason == "Internal Server Error"
    assert r.headers.get_all("X-Multi") == ["a", "b"] and r.getheader("X-CamelCase") == "v"
    assert r.getheader("Content-Type").startswith("text/plain")
    assert data == b"Internal oops: <b>not json</b>\n"
    r, data = call(srv)
    assert data == b"\x00\xff bin" and r.getheader("Content-Type") == "x/y"
    r, data = call(srv)
    assert (r.status, data, r.getheader("Content-Length")) == (502, b"", "0")
    t0 = time.monotonic()
    r, data = call(srv)  # delay only: the default answer, later, with the extra header
    assert time.monotonic() - t0 >= 0.28
    assert r.status == 200 and r.getheader("X-Extra") == "1" and json.loads(data)["data"][0]["index"] == 0
    r, data = call(srv)  # queue empty: default again
    assert r.status == 200 and r.getheader("X-Extra") is None
    assert srv.stats()["pending"] == 0


def test_body_repeat_large_and_chunked(srv):
    srv.script([{"body_repeat": {"text": "a", "times": 11000000}},
                {"body_repeat": {"text": "xyz", "times": 100001}, "chunked": True}])
    r, data = call(srv)
    assert r.getheader("Content-Length") == "11000000"
    assert len(data) == 11000000 and data.count(b"a") == 11000000
    s = connect(srv)
    s.sendall(raw_request())
    data = read_response(s)
    s.close()
    status, _, headers, body = split_response(data)
    assert hget(headers, "Transfer-Encoding") == "chunked" and hget(headers, "Content-Length") is None
    chunks, rest = dechunk(body)
    assert b"".join(chunks) == b"xyz" * 100001 and rest == b"\r\n"


def test_chunked_json_response_and_keep_alive(srv):
    srv.script([{"json": {"a": [1, 2]}, "chunked": True}])
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    r, data = call(srv, conn=c)
    assert r.getheader("Transfer-Encoding") == "chunked" and data == b'{"a":[1,2]}'
    call(srv, conn=c)
    c.close()
    reqs = srv.requests()
    assert reqs[0]["connection"] == reqs[1]["connection"]


def test_delay_before_answer(srv):
    srv.script([{"delay": 0.4, "json": {}}])
    t0 = time.monotonic()
    r, _ = call(srv)
    assert 0.38 <= time.monotonic() - t0 < 2.0


def test_delay_ends_when_client_leaves(srv):
    srv.script([{"delay": 30, "json": {}}])
    s = connect(srv)
    s.sendall(raw_request())
    assert wait_for(lambda: srv.stats()["connections_open"] == 1)
    time.sleep(0.1)
    s.close()
    assert wait_for(lambda: srv.stats()["connections_open"] == 0, 2.0)


# ---- faults --------------------------------------------------------------------------------------

def fault_socket(srv, fault, **extra):
    r = {"fault": fault}
    r.update(extra)
    srv.script([r])
    s = connect(srv)
    s.sendall(raw_request())
    return s


def test_fault_no_answer(srv):
    s = fault_socket(srv, "no_answer")
    data, closed = read_for(s, 0.5)
    assert data == b"" and not closed
    assert len(srv.requests()) == 1 and srv.stats()["connections_open"] == 1
    s.close()  # the stall ends when the client leaves
    assert wait_for(lambda: srv.stats()["connections_open"] == 0, 2.0)


def test_fault_close_immediately(srv):
    s = fault_socket(srv, "close_immediately")
    data, how = read_until_close(s, 2.0)
    s.close()
    assert (data, how) == (b"", "eof")


def test_fault_close_mid_headers(srv):
    s = fault_socket(srv, "close_mid_headers")
    data, how = read_until_close(s, 2.0)
    s.close()
    assert how == "eof" and data.startswith(b"HTTP/1") and b"\r\n\r\n" not in data


def test_fault_stall_after_headers(srv):
    s = fault_socket(srv, "stall_after_headers", json={"a": 1})
    data, closed = read_for(s, 0.5)
    assert not closed and data.endswith(b"\r\n\r\n")
    status, _, headers, body = split_response(data)
    assert status == 200 and hget(headers, "Content-Length") == "7" and body == b""
    s.close()
    assert wait_for(lambda: srv.stats()["connections_open"] == 0, 2.0)


def test_fault_close_mid_body(srv):
    s = fault_socket(srv, "close_mid_body", body="0123456789" * 10)
    data, how = read_until_close(s, 2.0)
    s.close()
    _, _, headers, body = split_response(data)
    assert how == "eof" and hget(headers, "Content-Length") == "100"
    assert body == b"0123456789" * 5


def test_fault_stall_mid_body(srv):
    s = fault_socket(srv, "stall_mid_body")  # no body given: the default answer's body
    data, closed = read_for(s, 0.5)
    assert not closed
    status, _, headers, body = split_response(data)
    n = int(hget(headers, "Content-Length"))
    assert status == 200 and 0 < len(body) < n and hget(headers, "Content-Type") == "application/json"
    s.close()
    assert wait_for(lambda: srv.stats()["connections_open"] == 0, 2.0)


def test_fault_wrong_content_length(srv):
    s = fault_socket(srv, "wrong_content_length", json={"data": [], "provider_responses": []})
    data, how = read_until_close(s, 2.0)
    s.close()
    _, _, headers, body = split_response(data)
    assert how == "eof" and body == b'{"data":[],"provider_responses":[]}'
    assert int(hget(headers, "Content-Length")) > len(body)


def test_fault_bad_chunked(srv):
    s = fault_socket(srv, "bad_chunked", body="0123456789")
    data, how = read_until_close(s, 2.0)
    s.close()
    _, _, headers, body = split_response(data)
    assert how == "eof" and hget(headers, "Transfer-Encoding") == "chunked"
    assert body == b"5\r\n01234\r\nzz-not-a-chunk-size\r\n"
    srv.script([{"fault": "bad_chunked"}])
    with pytest.raises((ValueError, http.client.HTTPException)):
        call(srv)


def test_fault_with_status_and_delay(srv):
    srv.script([{"fault": "close_mid_body", "status": 503, "delay": 0.2, "body": "abcdef"}])
    s = connect(srv)
    t0 = time.monotonic()
    s.sendall(raw_request())
    data, how = read_until_close(s, 2.0)
    s.close()
    assert time.monotonic() - t0 >= 0.18
    assert data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and data.endswith(b"\r\n\r\nabc")


# ---- event streams -------------------------------------------------------------------------------

def test_default_stream_exact_bytes(srv):
    expected = b"".join(b"data: " + e.encode() + b"\n\n" for e in DEFAULT_STREAM_EVENTS)
    with open(DOCS_SSE, "rb") as f:
        assert f.read() == expected
    for path in ENDPOINTS:
        body = dict(MINIMAL[path], stream=True)
        s = connect(srv)
        s.sendall(raw_request(path, json.dumps(body)))
        data, how = read_until_close(s)
        s.close()
        status, line, headers, got = split_response(data)
        assert line == "HTTP/1.1 200 OK" and how == "eof"
        assert hget(headers, "Content-Type") == "text/event-stream"
        assert hget(headers, "Connection") == "close"
        assert hget(headers, "Content-Length") is None and hget(headers, "Transfer-Encoding") is None
        assert got == expected
    # "stream": false is not a stream
    r, data = call(srv, body={"model_config": MC, "stream": False})
    assert r.getheader("Content-Type") == "application/json"


def test_default_stream_num_samples(srv):
    s = connect(srv)
    s.sendall(raw_request(body=b'{"stream":true,"num_samples":3}'))
    data, _ = read_until_close(s)
    s.close()
    _, _, _, body = split_response(data)
    events = [json.loads(x[len(b"data: "):]) for x in body.split(b"\n\n") if x]
    assert len(events) == 12
    assert [e["data"][0]["index"] for e in events] == [0, 1, 2] * 4
    assert [e["data"][0]["id"] for e in events[:3]] == [
        "data_9dJz3WqkT2uYvX8pLmN4c", "data_9dJz3WqkT2uYvX8pLmN4c_1", "data_9dJz3WqkT2uYvX8pLmN4c_2"]
    assert "".join(e["data"][0]["output"] for e in events if e["data"][0]["index"] == 2) == \
        "Llamas are friendly and curious; here is the data: they like people."
    assert [e["data"][0]["finish_reason"] for e in events[-3:]] == ["stop"] * 3


@pytest.mark.parametrize("opts,expected", [
    ({}, "data: E1\n\ndata: E2\n\ndata: E3\n\n"),
    ({"line_ending": "\r\n"}, "data: E1\r\n\r\ndata: E2\r\n\r\ndata: E3\r\n\r\n"),
    ({"line_ending": "\r"}, "data: E1\r\rdata: E2\r\rdata: E3\r\r"),
    ({"no_space": True}, "data:E1\n\ndata:E2\n\ndata:E3\n\n"),
    ({"done": True}, "data: E1\n\ndata: E2\n\ndata: E3\n\ndata: [DONE]\n\n"),
    ({"comments": True}, ": ping\ndata: E1\n\n: ping\ndata: E2\n\n: ping\ndata: E3\n\n"),
    ({"no_trailing_blank_line": True}, "data: E1\n\ndata: E2\n\ndata: E3\n"),
    ({"no_trailing_blank_line": True, "line_ending": "\r\n", "done": True},
     "data: E1\r\n\r\ndata: E2\r\n\r\ndata: E3\r\n\r\ndata: [DONE]\r\n"),
    ({"comments": True, "done": True, "no_space": True},
     ": ping\ndata:E1\n\n: ping\ndata:E2\n\n: ping\ndata:E3\n\n: ping\ndata:[DONE]\n\n"),
    ({"chunk_size": 1, "line_ending": "\r\n"}, "data: E1\r\n\r\ndata: E2\r\n\r\ndata: E3\r\n\r\n"),
    ({"chunk_size": 7, "delay": 0.01}, "data: E1\n\ndata: E2\n\ndata: E3\n\n"),
])
def test_stream_options_exact_bytes(srv, opts, expected):
    status, headers, body, how = stream_bytes(srv, dict(opts, events=EVENTS))
    assert status == 200 and how == "eof"
    assert hget(headers, "Content-Type") == "text/event-stream"
    assert body == expected.replace("E1", E1).replace("E2", E2).replace("E3", E3).encode()


def test_stream_raw_events_and_raw_body(srv):
    ev = [{"raw": '{"n":0.70,"big":123456789012345678901234567890,"u":"caf\\u00e9"}'},
          {"raw": "{not json"}, {"raw": "line1\nline2"}, {"a": 1.5, "b": "\u65e5"}, {"raw": "x", "y": 1}]
    _, _, body, _ = stream_bytes(srv, {"events": ev})
    assert body == ('data: {"n":0.70,"big":123456789012345678901234567890,"u":"caf\\u00e9"}\n\n'
                    "data: {not json\n\ndata: line1\ndata: line2\n\n"
                    'data: {"a":1.5,"b":"\u65e5"}\n\ndata: {"raw":"x","y":1}\n\n').encode()
    raw = "\n\r\n\rdata: {\"a\":1}\r\n\r\n: c\ndata: {\"z\":26}"
    _, _, body, how = stream_bytes(srv, {"raw": raw, "chunk_size": 2})
    assert body == raw.encode() and how == "eof"
    _, _, body, _ = stream_bytes(srv, {"raw": ""})
    assert body == b""
    _, _, body, _ = stream_bytes(srv, {})  # no events given: the default events
    assert body == b"".join(b"data: " + e.encode() + b"\n\n" for e in DEFAULT_STREAM_EVENTS)


def test_stream_chunk_size_writes(srv):
    # with "chunked": true each write is one HTTP chunk, so the write sizes can be seen
    status, headers, body, how = stream_bytes(srv, {"events": EVENTS, "chunk_size": 1, "done": True},
                                              {"chunked": True})
    assert hget(headers, "Transfer-Encoding") == "chunked" and hget(headers, "Connection") is None
    assert how == "kept"
    chunks, rest = dechunk(body)
    assert all(len(c) == 1 for c in chunks) and rest == b"\r\n"
    assert b"".join(chunks) == ("data: %s\n\ndata: %s\n\ndata: %s\n\ndata: [DONE]\n\n" % (E1, E2, E3)).encode()
    _, _, body, _ = stream_bytes(srv, {"events": EVENTS, "chunk_size": 5}, {"chunked": True})
    chunks, _ = dechunk(body)
    # each event is written in pieces of 5 bytes (the last piece of an event may be shorter)
    assert all(0 < len(c) <= 5 for c in chunks) and [len(c) for c in chunks].count(5) >= len(chunks) - 3


def test_stream_chunked_keeps_connection(srv):
    srv.script([{"stream": {"events": EVENTS}, "chunked": True}])
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    r, data = call(srv, body={"stream": True}, conn=c)
    assert data == ("data: %s\n\ndata: %s\n\ndata: %s\n\n" % (E1, E2, E3)).encode()
    call(srv, conn=c)
    c.close()
    reqs = srv.requests()
    assert reqs[0]["connection"] == reqs[1]["connection"]


def test_stream_status_and_headers(srv):
    status, headers, body, _ = stream_bytes(srv, {"events": [EVENTS[0]]},
                                            {"status": 503, "headers": {"X-Why": "because"}})
    assert status == 503 and hget(headers, "X-Why") == "because"
    assert hget(headers, "Content-Type") == "text/event-stream"
    assert body == ("data: %s\n\n" % E1).encode()


def test_stream_shorthand_and_header_overrides(srv):
    status, headers, body, _ = stream_bytes(srv, True, {"headers": {"Content-Type": "text/plain", "X-N": 5}})
    assert hget(headers, "Content-Type") == "text/plain" and hget(headers, "X-N") == "5"
    assert body == b"".join(b"data: " + e.encode() + b"\n\n" for e in DEFAULT_STREAM_EVENTS)
    # a Content-Length of the script replaces the automatic one (here: a lie)
    srv.script([{"body": "abc", "headers": {"Content-Length": "2"}}])
    s = connect(srv)
    s.sendall(raw_request())
    data, _ = read_for(s, 0.3)
    s.close()
    _, _, headers, body = split_response(data)
    assert [v for n, v in headers if n == "Content-Length"] == ["2"] and body == b"abc"


@pytest.mark.parametrize("k", [0, 2, 3])
def test_stream_cut_after(srv, k):
    srv.script([{"stream": {"events": EVENTS, "cut_after": k, "done": True}}])
    s = connect(srv)
    s.sendall(raw_request(body=b'{"stream":true}'))
    data, how = read_until_close(s)
    s.close()
    _, _, _, body = split_response(data)
    assert how == "reset"  # abrupt close (RST), not a clean end of body
    assert body == "".join("data: %s\n\n" % e for e in [E1, E2, E3][:k]).encode()


def test_stream_timing_first_delay_delay_hold(srv):
    srv.script([{"stream": {"events": EVENTS, "first_delay": 0.3, "hold_after": 1, "hold": 0.6, "delay": 0.1}}])
    s = connect(srv)
    t0 = time.monotonic()
    s.sendall(raw_request(body=b'{"stream":true}'))
    s.settimeout(5)
    head = s.recv(65536)
    t_head = time.monotonic() - t0
    assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")
    times, data = [], b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
        times.append((time.monotonic() - t0, data.count(b"\n\n")))
    s.close()
    assert t_head < 0.25
    assert data == ("data: %s\n\ndata: %s\n\ndata: %s\n\n" % (E1, E2, E3)).encode()
    first = next(t for t, n in times if n >= 1)
    second = next(t for t, n in times if n >= 2)
    third = next(t for t, n in times if n >= 3)
    assert 0.28 <= first < 0.6
    assert second - first >= 0.65  # delay 0.1 + hold 0.6
    assert third - second >= 0.08


def test_stream_forever_until_client_leaves(srv):
    srv.script([{"stream": {"events": [EVENTS[0], EVENTS[1]], "forever": True, "delay": 0.02}}])
    s = connect(srv)
    s.sendall(raw_request(body=b'{"stream":true}'))
    data = b""
    s.settimeout(5)
    while data.count(b"\n\n") < 12:
        data += s.recv(65536)
    assert srv.stats()["connections_open"] == 1
    s.close()
    _, _, _, body = split_response(data)
    units = body.split(b"\n\n")
    assert units[:4] == [b"data: " + E1.encode(), b"data: " + E2.encode()] * 2
    assert wait_for(lambda: srv.stats()["connections_open"] == 0, 2.0)


def test_stream_slow_stream_ends_when_client_leaves(srv):
    srv.script([{"stream": {"events": EVENTS * 3, "delay": 5}}])
    s = connect(srv)
    s.sendall(raw_request(body=b'{"stream":true}'))
    data, _ = read_for(s, 0.3)
    assert data.count(b"\n\n") == 1  # the first event only
    s.close()
    assert wait_for(lambda: srv.stats()["connections_open"] == 0, 2.0)


# ---- stats, reset, robustness, stopping ----------------------------------------------------------

def test_stats_and_reset(srv):
    assert srv.stats() == {"connections_opened": 0, "connections_open": 0, "requests_in_flight_max": 0, "requests": 0,
                           "pending": 0, "rate_limited": 0}
    idle = connect(srv)
    assert wait_for(lambda: srv.stats()["connections_open"] == 1)
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    call(srv, conn=c)
    call(srv, conn=c)
    st = srv.stats()
    assert st == {"connections_opened": 2, "connections_open": 2, "requests_in_flight_max": 1,
                  "requests": 2, "pending": 0, "rate_limited": 0}
    # control connections do not count
    c2 = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    c2.request("GET", "/_control/stats")
    assert json.loads(c2.getresponse().read())["connections_open"] == 2
    srv.script([{"json": 1}, {"json": 2}])
    srv.reset()  # clears queue, records, counters; open connections stay open and counted
    assert srv.stats() == {"connections_opened": 0, "connections_open": 2, "requests_in_flight_max": 0, "requests": 0, "pending": 0, "rate_limited": 0}
    assert srv.requests() == []
    r, data = call(srv, conn=c)
    assert json.loads(data)["data"]  # default answer: the queue was cleared
    c.close()
    idle.close()
    c2.close()
    assert wait_for(lambda: srv.stats()["connections_open"] == 0)
    assert srv.stats()["connections_opened"] == 0 and srv.stats()["requests"] == 1


def test_client_disconnects_never_hurt(srv, capfd):
    srv.script([{"body_repeat": {"text": "b", "times": 50000000}}])
    s = connect(srv)
    s.sendall(raw_request())
    s.recv(100000)
    s.close()
    for partial in [b"POST /v4/completion HTTP/1.1\r\nContent-Le", b"POST /v4/completion HTTP/1.1\r\n"
                    b"Content-Length: 100\r\n\r\n{\"a\"", b"POST /v4/comp"]:
        s = connect(srv)
        s.sendall(partial)
        s.close()
    s = connect(srv)
    s.sendall(raw_request(body=b'{"stream":true}'))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # reset
    assert wait_for(lambda: srv.stats()["connections_open"] == 0)
    r, _ = call(srv)
    assert r.status == 200
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_concurrent_clients(srv):
    errors = []

    def worker():
        try:
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            for i in range(25):
                r, data = call(srv, ENDPOINTS[i % 4], conn=c)
                assert r.status == 200 and json.loads(data)["data"]
            c.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    reqs = srv.requests()
    assert len(reqs) == 200 and len({r["connection"] for r in reqs}) == 8


def test_stop_closes_held_connections():
    before = set(conn_threads())
    srv = TestServer().start()
    srv.script([{"fault": "no_answer"}, {"fault": "stall_after_headers"}, {"fault": "stall_mid_body"},
                {"stream": {"events": EVENTS, "forever": True, "delay": 0.05}},
                {"stream": {"events": EVENTS, "hold_after": 1, "hold": 60}}, {"delay": 60},
                {"body_repeat": {"text": "c", "times": 100000000}}])
    socks = []
    for i in range(7):
        s = connect(srv)
        s.sendall(raw_request(body=b'{"stream":true}'))
        socks.append(s)
        assert wait_for(lambda: srv.stats()["requests"] == i + 1)
    socks.append(connect(srv))  # idle keep-alive connection, no request
    assert wait_for(lambda: srv.stats()["connections_open"] == 8)
    time.sleep(0.2)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2.0
    assert set(conn_threads()) - before == set()
    for s in socks:
        s.settimeout(5)
        try:
            while s.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
        s.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


# ---- command line --------------------------------------------------------------------------------

def start_cli(*args):
    p = subprocess.Popen([sys.executable, SERVER_PY, "--port", "0"] + list(args), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode()
    assert line.startswith("PORT=") and line.endswith("\n"), line
    return p, int(line[len("PORT="):])


def test_command_line_exit_on_stdin_eof():
    p, port = start_cli("--exit-on-stdin-eof")
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("POST", "/v4/completion-deployed", body=b'{"project":"p"}', headers={"X-API-KEY": "k"})
        r = c.getresponse()
        assert r.status == 200 and json.loads(r.read())["project_id"] == "pr_test"
        c.request("POST", "/_control/script", body=b'{"responses":[{"fault":"no_answer"}]}')
        assert c.getresponse().read()
        c.request("GET", "/_control/requests")
        assert len(json.loads(c.getresponse().read())["requests"]) == 1
        held = socket.create_connection(("127.0.0.1", port), timeout=5)
        held.sendall(raw_request())
        time.sleep(0.2)
        p.stdin.close()  # EOF: the server exits even with a stalled connection open
        assert p.wait(timeout=5) == 0
        held.close()
        c.close()
        assert p.stdout.read() == b"" and p.stderr.read() == b""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_command_line_sigterm():
    p, port = start_cli()
    try:
        r, _ = call(type("S", (), {"port": port})(), "/v4/completion-deployed")
        assert r.status == 200
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=5) == 0
        assert p.stderr.read() == b""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()
        p.stderr.close()


# ---- raw responses -------------------------------------------------------------------------------

def test_raw_response_exact_bytes_then_eof(srv):
    hostile = "HTTP/1.1 99999999999999999999 Big\r\nContent-Length: 2\r\n\r\n{}"
    weird = b"HTTP/1.1 200 \xff\xfe\r\nX: \x00\r\nContent-Length: 5\r\n\r\nabc"
    srv.script([{"raw_response": hostile},
                {"raw_response_b64": base64.b64encode(weird).decode(), "delay": 0.2},
                {"raw_response": ""},
                {"raw_response": "x" * 300000}])
    for expected, min_time in [(hostile.encode(), 0), (weird, 0.18), (b"", 0), (b"x" * 300000, 0)]:
        s = connect(srv)
        t0 = time.monotonic()
        # keep-alive request: the server closes anyway after a raw response
        s.sendall(raw_request())
        data, how = read_until_close(s)
        s.close()
        assert (data, how) == (expected, "eof")
        assert time.monotonic() - t0 >= min_time
    assert len(srv.requests()) == 4 and srv.stats()["pending"] == 0


def test_raw_response_is_a_body_source(srv):
    for bad in [{"raw_response": "x", "json": {}}, {"raw_response": "x", "body": "y"},
                {"raw_response_b64": "eA==", "stream": True}, {"raw_response": "x", "raw_response_b64": "eA=="},
                {"raw_response": "x", "status": 200}, {"raw_response": "x", "headers": {"A": "b"}},
                {"raw_response": "x", "fault": "close_immediately"}, {"raw_response": "x", "chunked": True},
                {"raw_response": 1}, {"raw_response_b64": "!!"}]:
        with pytest.raises(ValueError):
            srv.script([bad])
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        c.request("POST", "/_control/script", body=json.dumps({"responses": [bad]}))
        r = c.getresponse()
        assert r.status == 400 and json.loads(r.read())["detail"], bad
        c.close()
    assert srv.stats()["pending"] == 0


# ---- CONNECT (the server as an HTTP proxy) -------------------------------------------------------

CONNECT_REQ = (b"CONNECT api.example.invalid:443 HTTP/1.1\r\nHost: api.example.invalid:443\r\n"
               b"Proxy-Connection: Keep-Alive\r\n\r\n")


def test_connect_default_and_scripted(srv):
    s = connect(srv)
    s.sendall(CONNECT_REQ)
    data, how = read_until_close(s)
    s.close()
    status, line, headers, body = split_response(data)
    assert how == "eof" and line == "HTTP/1.1 403 Forbidden"
    assert hget(headers, "Connection") == "close" and body == b'{"detail":"CONNECT is not supported"}'
    srv.script([{"status": 403, "reason": "Forbidden", "body": "no tunnels here"},
                {"status": 200, "reason": "Connection established"}])
    for expected in [(403, b"no tunnels here"), (200, b"")]:
        s = connect(srv)
        s.sendall(CONNECT_REQ)
        data, how = read_until_close(s)  # closed after the answer, whatever it is
        s.close()
        status, _, headers, body = split_response(data)
        assert how == "eof" and (status, body) == expected and hget(headers, "Connection") == "close"
    reqs = srv.requests()
    assert [(r["method"], r["path"]) for r in reqs] == [("CONNECT", "api.example.invalid:443")] * 3
    assert reqs[0]["headers"][0] == ["Host", "api.example.invalid:443"]
    assert srv.stats()["requests"] == 3


@pytest.mark.skipif(shutil.which("curl") is None, reason="the curl command is needed")
def test_connect_with_curl_as_proxy_client(srv):
    srv.script([{"status": 403, "reason": "Forbidden", "body": "no tunnels here"}])
    # curl does not resolve the target name when it goes through a proxy: nothing leaves loopback
    p = subprocess.run(["curl", "-sv", "--max-time", "10", "--proxy", "http://127.0.0.1:%d" % srv.port,
                        "https://api.example.invalid/v4/completion", "-d", "{}"],
                       capture_output=True, timeout=30)
    err = p.stderr.decode("latin-1")
    assert p.returncode != 0
    assert "> CONNECT api.example.invalid:443 HTTP/1.1" in err and "< HTTP/1.1 403 Forbidden" in err, err
    assert [(r["method"], r["path"]) for r in srv.requests()] == [("CONNECT", "api.example.invalid:443")]


# ---- TLS -----------------------------------------------------------------------------------------

def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 and localhost (openssl CLI); (cert, key) paths."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=hl-test-server", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed")
    return make_certificate(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="module")
def tls_srv(tls_files):
    with TestServer(tls=tls_files) as s:
        yield s


def tls_connect(srv, timeout=5.0):
    """A TLS socket to srv that checks its certificate; a missing close_notify raises (so "eof"
    from read_until_close means a clean TLS end)."""
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    return srv.client_ssl_context().wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False)


def tls_read_all(s, timeout=5.0):
    """read_until_close for tls_connect sockets: how is "eof" (a clean end: close_notify), "reset"
    or "unclean" (the connection ended without close_notify; Python's ssl reports a TCP reset
    under TLS as such an EOF), or "timeout"."""
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        except ssl.SSLEOFError:
            return data, "unclean"
        except socket.timeout:
            return data, "timeout"
        if not d:
            return data, "eof"
        data += d


def https(srv, timeout=10):
    return http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=timeout, context=srv.client_ssl_context())


def test_tls_default_answer_and_recording(tls_srv):
    assert tls_srv.base_url == "https://127.0.0.1:%d/v4" % tls_srv.port
    assert tls_srv.url("/_control/stats").startswith("https://")
    c = https(tls_srv)
    for path in ENDPOINTS:
        r, data = call(tls_srv, path, conn=c)  # keep-alive over one TLS connection
        assert r.status == 200 and json.loads(data)["data"][0]["output"] == "Hello from the test server"
    r, data = call(tls_srv, key=None, conn=c)
    assert r.status == 401
    c.close()
    reqs = tls_srv.requests()
    assert [r["path"] for r in reqs] == ENDPOINTS + ["/v4/completion"]
    assert len({r["connection"] for r in reqs}) == 1
    assert wait_for(lambda: tls_srv.stats() == {"connections_opened": 1, "connections_open": 0,
                                                "requests_in_flight_max": 1, "requests": 5, "pending": 0, "rate_limited": 0})


def test_tls_script_and_control_routes(tls_srv):
    # in-process helpers
    tls_srv.script([{"status": 503, "body": "busy"}])
    r, data = call(tls_srv, conn=https(tls_srv))
    assert (r.status, data) == (503, b"busy")
    # the control routes over HTTPS
    c = https(tls_srv)
    c.request("POST", "/_control/script", body=b'{"responses":[{"json":{"x":0.70}},{"raw_response":"HTTP/1.1 '
              b'200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi"}]}')
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read()) == {"queued": 2, "pending": 2}
    assert call(tls_srv, conn=https(tls_srv))[1] == b'{"x":0.70}'
    s = tls_connect(tls_srv)
    s.sendall(raw_request())
    assert read_until_close(s) == (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", "eof")
    s.close()
    c.request("GET", "/_control/requests")
    assert len(json.loads(c.getresponse().read())["requests"]) == 3
    assert wait_for(lambda: tls_srv.stats()["connections_open"] == 0)
    c.request("GET", "/_control/stats")
    assert json.loads(c.getresponse().read()) == {"connections_opened": 3, "connections_open": 0,
                                                  "requests_in_flight_max": 1, "requests": 3, "pending": 0,
                                                      "rate_limited": 0}
    c.request("POST", "/_control/reset", body=b"{}")
    assert json.loads(c.getresponse().read()) == {"reset": True}
    assert tls_srv.requests() == [] and tls_srv.stats()["requests"] == 0
    c.close()


def test_tls_streams(tls_srv):
    tls_srv.script([{"stream": {"events": EVENTS, "done": True, "chunk_size": 7}},
                    {"stream": {"events": EVENTS}, "chunked": True}])
    s = tls_connect(tls_srv)
    s.sendall(raw_request(body=b'{"stream":true}'))
    data, how = read_until_close(s)
    s.close()
    status, _, headers, body = split_response(data)
    assert how == "eof" and status == 200 and hget(headers, "Content-Type") == "text/event-stream"
    assert body == ("data: %s\n\ndata: %s\n\ndata: %s\n\ndata: [DONE]\n\n" % (E1, E2, E3)).encode()
    s = tls_connect(tls_srv)
    s.sendall(raw_request(body=b'{"stream":true}'))
    data = read_response(s)  # chunked: the connection is kept
    chunks, rest = dechunk(split_response(data)[3])
    assert b"".join(chunks) == ("data: %s\n\ndata: %s\n\ndata: %s\n\n" % (E1, E2, E3)).encode()
    # the default stream on the same connection, default framing: the end of the body is a
    # clean close (close_notify, then FIN)
    s.sendall(raw_request(body=b'{"stream":true}'))
    data, how = read_until_close(s)
    s.close()
    expected = b"".join(b"data: " + e.encode() + b"\n\n" for e in DEFAULT_STREAM_EVENTS)
    assert how == "eof" and split_response(data)[3] == expected


def test_tls_faults(tls_srv):
    tls_srv.script([{"fault": "close_mid_body", "body": "0123456789"},
                    {"stream": {"events": EVENTS, "cut_after": 2}},
                    {"fault": "close_immediately"}])
    s = tls_connect(tls_srv)
    s.sendall(raw_request())
    data, how = read_until_close(s)
    s.close()
    assert how == "eof" and split_response(data)[3] == b"01234"  # close_notify, then FIN
    s = tls_connect(tls_srv)
    s.sendall(raw_request(body=b'{"stream":true}'))
    data, how = tls_read_all(s)
    s.close()
    assert how in ("reset", "unclean")  # no close_notify: the raw socket is reset
    assert split_response(data)[3] == ("data: %s\n\ndata: %s\n\n" % (E1, E2)).encode()
    s = tls_connect(tls_srv)
    s.sendall(raw_request())
    assert read_until_close(s) == (b"", "eof")
    s.close()
    # waits end when the TLS client leaves (FIN, close_notify, a reset, a half-close)
    for leave in ("close", "unwrap", "reset", "half-close"):
        tls_srv.script([{"fault": "no_answer"}])
        s = tls_connect(tls_srv)
        s.sendall(raw_request())
        assert wait_for(lambda: tls_srv.stats()["requests"] >= 1)
        data, closed = read_for(s, 0.3)
        assert (data, closed) == (b"", False)
        if leave == "unwrap":
            s.settimeout(0.5)
            try:
                s.unwrap()
            except (OSError, ValueError):
                pass
        elif leave == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        elif leave == "half-close":
            socket.socket.shutdown(s, socket.SHUT_WR)  # the raw socket, no close_notify
            assert wait_for(lambda: tls_srv.stats()["connections_open"] == 0, 2.0), leave
        s.close()
        assert wait_for(lambda: tls_srv.stats()["connections_open"] == 0, 2.0), leave
        tls_srv.reset()
    tls_srv.script([{"delay": 30, "json": {}}])
    s = tls_connect(tls_srv)
    s.sendall(raw_request())
    assert wait_for(lambda: tls_srv.stats()["requests"] == 1)
    s.close()
    assert wait_for(lambda: tls_srv.stats()["connections_open"] == 0, 2.0)


def test_tls_pipelined_requests_survive_waits(tls_srv):
    # a second request that arrives while the first one is delayed is not lost
    tls_srv.script([{"delay": 0.3, "json": 1}, {"json": 2}])
    s = tls_connect(tls_srv)
    s.sendall(raw_request() + raw_request())
    first = read_response(s)
    second = read_response(s)
    s.close()
    assert split_response(first)[3] == b"1" and split_response(second)[3] == b"2"


def test_tls_large_bodies_and_clients_leaving(tls_srv, capfd):
    tls_srv.script([{"body_repeat": {"text": "ab", "times": 3000000}, "chunked": True},
                    {"body_repeat": {"text": "b", "times": 50000000}}])
    r, data = call(tls_srv, conn=https(tls_srv))
    assert r.status == 200 and data == b"ab" * 3000000
    s = tls_connect(tls_srv)
    s.sendall(raw_request())
    s.recv(100000)
    s.close()  # leaves in the middle of a large body
    for partial in [b"POST /v4/completion HTTP/1.1\r\nContent-Le", b"POST /v4/comp"]:
        s = tls_connect(tls_srv)
        s.sendall(partial)
        s.close()
    s = connect(tls_srv)
    s.sendall(b"\x16\x03\x01\x00\x05hello")  # not a real ClientHello
    s.close()
    assert wait_for(lambda: tls_srv.stats()["connections_open"] == 0)
    r, _ = call(tls_srv, conn=https(tls_srv))
    assert r.status == 200
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_tls_plain_http_and_silent_clients_do_not_hang_it(tls_files):
    with TestServer(tls=tls_files, handshake_timeout=0.5) as tls_srv:
        c = http.client.HTTPConnection("127.0.0.1", tls_srv.port, timeout=5)
        t0 = time.monotonic()
        with pytest.raises((http.client.HTTPException, OSError)):
            c.request("POST", "/v4/completion", body=b"{}", headers={"X-API-KEY": KEY})
            c.getresponse().read()
        c.close()
        assert time.monotonic() - t0 < 2.0
        s = connect(tls_srv)
        s.sendall(raw_request())
        data, how = read_until_close(s)
        s.close()
        assert how in ("eof", "reset") and not data.startswith(b"HTTP/")
        silent = connect(tls_srv)  # never starts a handshake
        assert wait_for(lambda: tls_srv.stats()["connections_open"] == 1)
        t0 = time.monotonic()
        r, _ = call(tls_srv, conn=https(tls_srv))
        assert r.status == 200 and time.monotonic() - t0 < 0.4
        data, how = read_until_close(silent, 3.0)  # closed after the handshake timeout
        silent.close()
        assert data == b"" and how in ("eof", "reset")
        assert wait_for(lambda: tls_srv.stats()["connections_open"] == 0)
        assert tls_srv.stats()["requests"] == 1  # handshake failures are not requests
        assert len(tls_srv.requests()) == 1


def test_tls_stop_closes_everything(tls_files):
    before = set(conn_threads())
    srv = TestServer(tls=tls_files).start()
    silent = connect(srv)
    srv.script([{"fault": "no_answer"}, {"stream": {"events": EVENTS, "forever": True, "delay": 0.05}}])
    socks = [silent]
    for i in range(2):
        s = tls_connect(srv)
        s.sendall(raw_request(body=b'{"stream":true}'))
        socks.append(s)
        assert wait_for(lambda: srv.stats()["requests"] == i + 1)
    assert wait_for(lambda: srv.stats()["connections_open"] == 3)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2.0
    assert set(conn_threads()) - before == set()
    for s in socks:
        s.close()


def test_tls_command_line(tls_files):
    cert, key = tls_files
    p, port = start_cli("--exit-on-stdin-eof", "--tls-cert", cert, "--tls-key", key)
    try:
        fake = type("S", (), {"port": port, "client_ssl_context": lambda self: ssl.create_default_context(cafile=cert)})()
        c = https(fake)
        r, data = call(fake, "/v4/completion-deployed", conn=c)
        assert r.status == 200 and json.loads(data)["project_id"] == "pr_test"
        c.request("GET", "/_control/stats")
        assert json.loads(c.getresponse().read())["requests"] == 1
        c.close()
        p.stdin.close()
        assert p.wait(timeout=5) == 0
        assert p.stdout.read() == b"" and p.stderr.read() == b""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    for args, status in [(["--tls-cert", cert], 2), (["--tls-cert", cert, "--tls-key", cert + ".missing"], 1)]:
        p = subprocess.run([sys.executable, SERVER_PY, "--port", "0"] + args, capture_output=True, timeout=10)
        assert p.returncode == status and p.stdout == b"" and p.stderr, args


# ---- per-request delay, answers that name their request, rate limit ---------------------------

def test_per_request_delay_from_metadata(srv):
    """metadata.hl_test_delay delays that request's answer, whatever its place in the order; the
    answer echoes metadata, so each answer names its request."""
    results = {}

    def one(name, delay):
        meta = {"name": name} if delay is None else {"name": name, "hl_test_delay": delay}
        t = time.monotonic()
        resp, body = call(srv, body={"model_config": MC, "metadata": meta})
        results[name] = (time.monotonic() - t, resp.status, json.loads(body))

    threads = [threading.Thread(target=one, args=a) for a in (("slow", 0.6), ("quick", None), ("zero", 0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results["slow"][0] >= 0.6 and results["quick"][0] < 0.5 and results["zero"][0] < 0.5
    for name, (_, status, body) in results.items():
        assert status == 200 and body["metadata"]["name"] == name
    # not a number, negative, a boolean: no delay; also with a scripted answer (delays add up)
    for bad in ("1", -1, True, None):
        t = time.monotonic()
        assert call(srv, body={"model_config": MC, "metadata": {"hl_test_delay": bad}})[0].status == 200
        assert time.monotonic() - t < 0.5
    srv.script([{"status": 503, "body": "busy", "delay": 0.2}])
    t = time.monotonic()
    assert call(srv, body={"metadata": {"hl_test_delay": 0.3}})[0].status == 503
    assert time.monotonic() - t >= 0.5


def test_rate_limit_answers_429_with_retry_after(srv):
    srv.rate_limit(3, retry_after=2)
    srv.script([{"status": 201, "body": "scripted"}])
    got = [call(srv, body={"model_config": MC}) for _ in range(5)]
    assert [r.status for r, _ in got] == [201, 200, 200, 429, 429]
    assert hget(got[3][0].getheaders(), "Retry-After") == "2"
    assert json.loads(got[4][1])["detail"]
    recs = srv.requests()
    assert len(recs) == 5 and [bool(r.get("rate_limited")) for r in recs] == [False] * 3 + [True] * 2
    assert srv.stats()["rate_limited"] == 2
    time.sleep(1.05)                                   # a new window
    assert call(srv, body={"model_config": MC})[0].status == 200
    srv.reset()                                        # reset: no limit
    assert all(call(srv, body={"model_config": MC})[0].status == 200 for _ in range(5))
    assert srv.stats()["rate_limited"] == 0


def test_rate_limit_control_route(srv):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    c.request("POST", "/_control/ratelimit", body=json.dumps({"per_second": 1, "retry_after": 0.5}))
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read()) == {"per_second": 1, "retry_after": 0.5}
    statuses = [call(srv, body={"model_config": MC})[0] for _ in range(2)]
    assert [s.status for s in statuses] == [200, 429]
    assert hget(statuses[1].getheaders(), "Retry-After") == "0.5"
    for bad in (b"nope", b'{"per_second": 0}', b'{"per_second": "1"}', b'{"per_second": 1, "retry_after": -1}',
                b'{"per_sec": 1}', b"[]"):
        c.request("POST", "/_control/ratelimit", body=bad)
        r = c.getresponse()
        assert r.status == 400, bad
        assert json.loads(r.read())["detail"]
    c.request("GET", "/_control/ratelimit")
    assert c.getresponse().status == 405
    c.close()
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    c.request("POST", "/_control/ratelimit", body=b'{"per_second": null}')
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read()) == {"per_second": None}
    c.close()
    assert all(call(srv, body={"model_config": MC})[0].status == 200 for _ in range(3))
