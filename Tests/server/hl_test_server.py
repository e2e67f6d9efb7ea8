#!/usr/bin/env python3
"""hl_test_server -- a Humanloop-compatible HTTP/1.1 server for tests (see PROTOCOL.md).

Python 3.11 standard library only. One daemon thread per TCP connection, HTTP/1.1 keep-alive,
binds 127.0.0.1 only. Scripted responses (FIFO), recorded requests, connection statistics,
socket-level faults and byte-exact event streams.

Command line:
    python3 hl_test_server.py [--port 0] [--exit-on-stdin-eof] [--verbose]
                              [--tls-cert FILE --tls-key FILE]
prints "PORT=<n>" (flushed) when ready; exits on SIGTERM/SIGINT, or at EOF on stdin with
--exit-on-stdin-eof. With --tls-cert/--tls-key it speaks HTTPS (TLS) instead of plain HTTP.

In-process:
    from hl_test_server import TestServer
    with TestServer() as srv:
        srv.script([{"status": 500, "body": "oops"}])
        ... talk to srv.base_url ...
        srv.requests(); srv.stats(); srv.reset()
    with TestServer(tls=("cert.pem", "key.pem")) as srv:   # HTTPS; srv.base_url is https://...
        ...
"""

import argparse
import base64
import binascii
import collections
import http
import json
import os
import re
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback

__all__ = ["TestServer", "main"]

API_PATHS = (
    "/v4/completion",
    "/v4/completion-deployed",
    "/v4/completion-experiment",
    "/v4/completion-model-config",
)
CONTROL_PREFIX = "/_control/"

OUTPUT = "Hello from the test server"
RAW_OUTPUT = " Hello from the test server\n"
MAX_SAMPLES = 100

# The four events of docs/examples/completion.stream.sse, byte for byte (the server is one
# standalone file, copied into packages and installs, so it keeps them here;
# Tests/server/test_hl_test_server.py checks that both agree).
DEFAULT_STREAM_EVENTS = (
    '{"data":[{"id":"data_9dJz3WqkT2uYvX8pLmN4c","index":0,"output":"Llamas","raw_output":"Llamas","inputs":{"text":"Llamas are curious animals that usually approach people easily."},"model_config_id":"config_Vd9w2a8eCkLzYb5qS1nHu","finish_reason":null}],"project_id":"pr_3usCu3Zed2ekbUbCuUbq8"}',
    '{"data":[{"id":"data_9dJz3WqkT2uYvX8pLmN4c","index":0,"output":" are friendly","raw_output":" are friendly","inputs":{"text":"Llamas are curious animals that usually approach people easily."},"model_config_id":"config_Vd9w2a8eCkLzYb5qS1nHu","finish_reason":null}],"project_id":"pr_3usCu3Zed2ekbUbCuUbq8"}',
    '{"data":[{"id":"data_9dJz3WqkT2uYvX8pLmN4c","index":0,"output":" and curious; here is the data: they","raw_output":" and curious; here is the data: they","inputs":{"text":"Llamas are curious animals that usually approach people easily."},"model_config_id":"config_Vd9w2a8eCkLzYb5qS1nHu","finish_reason":null}],"project_id":"pr_3usCu3Zed2ekbUbCuUbq8"}',
    '{"data":[{"id":"data_9dJz3WqkT2uYvX8pLmN4c","index":0,"output":" like people.","raw_output":" like people.","inputs":{"text":"Llamas are curious animals that usually approach people easily."},"model_config_id":"config_Vd9w2a8eCkLzYb5qS1nHu","finish_reason":"stop"}],"project_id":"pr_3usCu3Zed2ekbUbCuUbq8"}',
)

FAULTS = frozenset({
    "no_answer", "close_immediately", "close_mid_headers", "stall_after_headers",
    "close_mid_body", "stall_mid_body", "wrong_content_length", "bad_chunked",
})
R_KEYS = frozenset({
    "status", "reason", "headers", "json", "body", "body_b64", "body_repeat", "chunked",
    "delay", "stream", "fault", "raw_response", "raw_response_b64",
})
BODY_KEYS = ("json", "body", "body_b64", "body_repeat", "stream", "raw_response", "raw_response_b64")
RAW_RESPONSE_KEYS = ("raw_response", "raw_response_b64")
STREAM_KEYS = frozenset({
    "events", "line_ending", "no_space", "done", "comments", "delay", "first_delay",
    "hold_after", "hold", "chunk_size", "no_trailing_blank_line", "cut_after", "forever", "raw",
    "end_delay",
})

MAX_LINE = 1 << 20          # request line / header line
MAX_HEADERS = 1000
MAX_BODY = 256 << 20        # request body
POLL_SLICE = 0.05           # seconds between checks while waiting or stalling
HANDSHAKE_TIMEOUT = 10.0    # seconds a TLS client has to complete its handshake
WRITE_BLOCK = 64 * 1024


# ---- JSON that keeps numbers as written --------------------------------------------------

class RawNumber:
    """A JSON number kept as its source text (so 0.70, 1e-7, 30-digit integers survive)."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return "RawNumber(%r)" % self.text

    def __eq__(self, other):
        return isinstance(other, RawNumber) and other.text == self.text

    def __hash__(self):
        return hash(self.text)


def loads_raw(text):
    """json.loads, numbers kept as RawNumber."""
    return json.loads(text, parse_float=RawNumber, parse_int=RawNumber, parse_constant=RawNumber)


def _dump_str(s):
    try:
        s.encode("utf-8")
        return json.dumps(s, ensure_ascii=False)
    except UnicodeEncodeError:  # lone surrogates: escape them
        return json.dumps(s)


def dumps(value):
    """Compact JSON text (raw UTF-8, RawNumber written as is). RecursionError when too deep."""
    out = []
    _dump(value, out)
    return "".join(out)


def _dump(v, out):
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, str):
        out.append(_dump_str(v))
    elif isinstance(v, RawNumber):
        out.append(v.text)
    elif isinstance(v, int):
        out.append(int.__repr__(v))
    elif isinstance(v, float):
        out.append(json.dumps(v))
    elif isinstance(v, dict):
        out.append("{")
        first = True
        for k, x in v.items():
            if not first:
                out.append(",")
            first = False
            out.append(_dump_str(str(k)))
            out.append(":")
            _dump(x, out)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _dump(x, out)
        out.append("]")
    else:
        raise TypeError("not JSON: %r" % (v,))


def _as_int(v):
    """A JSON integer value (int or RawNumber of an integer) as int, else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, RawNumber) and re.fullmatch(r"-?\d{1,18}", v.text):
        return int(v.text)
    return None


# Iterative JSON scanner: used only when json.loads gives up on very deep nesting. It checks the
# whole text is one valid JSON object and returns its top-level members (each value parsed on
# its own; members that are themselves too deep are left out).
_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERAL = re.compile(r"true|false|null")


def _shallow_object(text):
    n = len(text)
    pos = _WS.match(text, 0).end()
    if pos >= n or text[pos] != "{":
        return None
    stack = []           # open containers, "{" or "["
    members = {}
    key = None
    value_start = 0
    state = "value"      # value, value_or_end, key, key_or_end, colon, comma_or_end
    while True:
        pos = _WS.match(text, pos).end()
        if pos >= n:
            return None
        c = text[pos]
        if c in "}]" and state in ("key_or_end", "value_or_end", "comma_or_end"):
            if (c == "}") != (stack[-1] == "{"):
                return None
            stack.pop()
            pos += 1
            if not stack:
                return members if _WS.match(text, pos).end() == n else None
            if len(stack) == 1:
                _add_member(members, key, text[value_start:pos])
            state = "comma_or_end"
        elif state in ("key", "key_or_end"):
            m = _STRING.match(text, pos)
            if not m:
                return None
            if len(stack) == 1:
                key = json.loads(m.group())
            pos = m.end()
            state = "colon"
        elif state == "colon":
            if c != ":":
                return None
            pos += 1
            state = "value"
        elif state == "comma_or_end":
            if c != ",":
                return None
            pos += 1
            state = "key" if stack[-1] == "{" else "value"
        else:  # a value
            if len(stack) == 1:
                value_start = pos
            if c == "{" or c == "[":
                stack.append(c)
                pos += 1
                state = "key_or_end" if c == "{" else "value_or_end"
                continue
            m = _STRING.match(text, pos) or _NUMBER.match(text, pos) or _LITERAL.match(text, pos)
            if not m:
                return None
            pos = m.end()
            if len(stack) == 1:
                _add_member(members, key, text[value_start:pos])
            state = "comma_or_end"


def _add_member(members, key, value_text):
    try:
        members[key] = loads_raw(value_text)
    except (RecursionError, ValueError):
        members.pop(key, None)


def parse_object(body_bytes):
    """(dict, None) when the body is a JSON object, else (None, (msg, type))."""
    try:
        text = body_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, ("Invalid UTF-8 in the request body: %s" % e, "value_error.jsondecode")
    try:
        obj = loads_raw(text)
    except RecursionError:
        obj = _shallow_object(text)
        if obj is None:
            return None, ("JSON too deeply nested or invalid", "value_error.jsondecode")
        return obj, None
    except json.JSONDecodeError as e:
        return None, (str(e), "value_error.jsondecode")
    except ValueError as e:  # e.g. an integer too long for int()
        return None, (str(e), "value_error.jsondecode")
    if not isinstance(obj, dict):
        return None, ("value is not a valid dict", "type_error.dict")
    return obj, None


# ---- default answers -------------------------------------------------------------------------

def _num_samples(obj):
    n = _as_int(obj.get("num_samples")) if isinstance(obj, dict) else None
    if n is None or n < 1:
        return 1
    return min(n, MAX_SAMPLES)


def _serializable(v):
    try:
        dumps(v)
        return True
    except (RecursionError, TypeError):
        return False


def default_completion(obj):
    """The default 200 CompletionResponse for a request object."""
    n = _num_samples(obj)
    inputs = obj.get("inputs")
    if not isinstance(inputs, dict) or not _serializable(inputs):
        inputs = {}
    mc = obj.get("model_config")
    model = mc.get("model") if isinstance(mc, dict) else None
    if not isinstance(model, str):
        model = "test-model"
    data = []
    providers = []
    for i in range(n):
        data.append({
            "id": "data_%d" % i, "index": i, "output": OUTPUT, "raw_output": RAW_OUTPUT,
            "inputs": inputs, "model_config_id": "config_test", "finish_reason": "stop",
        })
        providers.append({
            "id": "cmpl-test-%d" % i, "object": "text_completion", "created": 1697000000,
            "model": model,
            "choices": [{"text": RAW_OUTPUT, "index": 0, "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13},
        })
    resp = {"data": data, "provider_responses": providers}
    if "project" in obj or "project_id" in obj:
        resp["project_id"] = "pr_test"
    resp["num_samples"] = n
    for k in ("logprobs", "suffix", "user", "metadata"):
        if k in obj and _serializable(obj[k]):
            resp[k] = obj[k]
    resp["usage"] = {"prompt_tokens": 7, "generation_tokens": 6 * n, "total_tokens": 7 + 6 * n}
    return resp


_DEFAULT_EVENT_OBJS = tuple(json.loads(e) for e in DEFAULT_STREAM_EVENTS)


def default_stream_events(obj):
    """The default stream's events (JSON texts): the 4 example events; with num_samples n > 1,
    each step is sent once per sample index (step-major), ids suffixed "_<index>" for index>0."""
    n = _num_samples(obj)
    if n == 1:
        return list(DEFAULT_STREAM_EVENTS)
    out = []
    for ev in _DEFAULT_EVENT_OBJS:
        for i in range(n):
            e = json.loads(json.dumps(ev))
            d = e["data"][0]
            d["index"] = i
            if i:
                d["id"] = "%s_%d" % (d["id"], i)
            out.append(json.dumps(e, ensure_ascii=False, separators=(",", ":")))
    return out


# ---- script validation -----------------------------------------------------------------------

class ScriptError(ValueError):
    pass


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check(cond, msg):
    if not cond:
        raise ScriptError(msg)


def _safe_int(s):
    return int(s) if len(s) <= 4000 else float("inf")


def _event_text(item):
    if isinstance(item, dict) and list(item.keys()) == ["raw"] and isinstance(item["raw"], str):
        return item["raw"]
    return dumps(item)


def prepare_response(r, raw):
    """Validate one scripted response R (plain parse r, raw-number parse raw); returns the
    internal form. Raises ScriptError."""
    _check(isinstance(r, dict), "a response must be a JSON object")
    unknown = sorted(set(r) - R_KEYS)
    _check(not unknown, "unknown response key(s): %s" % ", ".join(unknown))
    bodies = [k for k in BODY_KEYS if k in r]
    _check(len(bodies) <= 1, "at most one of %s" % ", ".join(BODY_KEYS))
    p = {"has_body": bool(bodies)}
    if "status" in r:
        _check(isinstance(r["status"], int) and not isinstance(r["status"], bool)
               and 100 <= r["status"] <= 999, "status must be an integer 100..999")
        p["status"] = r["status"]
    if "reason" in r:
        _check(isinstance(r["reason"], str) and "\r" not in r["reason"] and "\n" not in r["reason"],
               "reason must be a one-line string")
        p["reason"] = r["reason"]
    headers = []
    if "headers" in r:
        h = r["headers"]
        if isinstance(h, dict):
            items = list(h.items())
        elif isinstance(h, list):
            items = []
            for pair in h:
                _check(isinstance(pair, list) and len(pair) == 2, "headers list items must be [name, value]")
                items.append((pair[0], pair[1]))
        else:
            raise ScriptError("headers must be an object or a list of [name, value]")
        for name, value in items:
            _check(isinstance(name, str) and name, "header names must be non-empty strings")
            _check(isinstance(value, (str, int, float)) and not isinstance(value, bool),
                   "header %s: value must be a string or number" % name)
            headers.append((name, value if isinstance(value, str) else json.dumps(value)))
    p["headers"] = headers
    if "json" in r:
        p["body"] = dumps(raw["json"]).encode("utf-8")
        p["content_type"] = "application/json"
    if "body" in r:
        _check(isinstance(r["body"], str), "body must be a string")
        p["body"] = r["body"].encode("utf-8", "surrogatepass")
        p["content_type"] = "text/plain; charset=utf-8"
    if "body_b64" in r:
        _check(isinstance(r["body_b64"], str), "body_b64 must be a string")
        try:
            p["body"] = base64.b64decode(r["body_b64"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise ScriptError("body_b64: %s" % e)
        p["content_type"] = "application/octet-stream"
    if "body_repeat" in r:
        br = r["body_repeat"]
        _check(isinstance(br, dict) and set(br) <= {"text", "times"} and isinstance(br.get("text"), str)
               and isinstance(br.get("times"), int) and not isinstance(br.get("times"), bool)
               and br["times"] >= 0, 'body_repeat must be {"text": string, "times": integer >= 0}')
        p["repeat"] = (br["text"].encode("utf-8"), br["times"])
        p["content_type"] = "text/plain; charset=utf-8"
    raws = [k for k in RAW_RESPONSE_KEYS if k in r]
    if raws:
        others = sorted(set(r) - set(BODY_KEYS) - {"delay"})
        _check(not others, "%s goes with delay only, not with %s" % (raws[0], ", ".join(others)))
    if "raw_response" in r:
        _check(isinstance(r["raw_response"], str), "raw_response must be a string")
        p["raw_response"] = r["raw_response"].encode("utf-8", "surrogatepass")
    if "raw_response_b64" in r:
        _check(isinstance(r["raw_response_b64"], str), "raw_response_b64 must be a string")
        try:
            p["raw_response"] = base64.b64decode(r["raw_response_b64"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise ScriptError("raw_response_b64: %s" % e)
    if "chunked" in r:
        _check(isinstance(r["chunked"], bool), "chunked must be a boolean")
        p["chunked"] = r["chunked"]
    if "delay" in r:
        _check(_is_num(r["delay"]) and r["delay"] >= 0, "delay must be a number >= 0")
        p["delay"] = float(r["delay"])
    if "fault" in r:
        _check(r["fault"] in FAULTS, "fault must be one of %s" % ", ".join(sorted(FAULTS)))
        p["fault"] = r["fault"]
    if "stream" in r:
        st = r["stream"]
        if st is True:
            st, rst = {}, {}
        else:
            rst = raw["stream"]
        _check(isinstance(st, dict), "stream must be an object (or true)")
        unknown = sorted(set(st) - STREAM_KEYS)
        _check(not unknown, "unknown stream key(s): %s" % ", ".join(unknown))
        s = {}
        if "events" in st:
            _check(isinstance(st["events"], list), "stream.events must be a list")
            s["events"] = [_event_text(e) for e in rst["events"]]
        if "raw" in st:
            _check(isinstance(st["raw"], str), "stream.raw must be a string")
            _check("events" not in st, "stream.raw and stream.events exclude each other")
            s["raw"] = st["raw"].encode("utf-8", "surrogatepass")
        le = st.get("line_ending", "\n")
        _check(le in ("\n", "\r\n", "\r"), 'stream.line_ending must be "\\n", "\\r\\n" or "\\r"')
        s["line_ending"] = le
        for k in ("no_space", "done", "comments", "no_trailing_blank_line", "forever"):
            v = st.get(k, False)
            _check(isinstance(v, bool), "stream.%s must be a boolean" % k)
            s[k] = v
        for k in ("delay", "first_delay", "hold", "end_delay"):
            v = st.get(k, 0)
            _check(_is_num(v) and v >= 0, "stream.%s must be a number >= 0" % k)
            s[k] = float(v)
        for k in ("hold_after", "cut_after", "chunk_size"):
            v = st.get(k)
            if v is None:
                s[k] = 0 if k == "chunk_size" else None
                continue
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                   "stream.%s must be an integer >= 0" % k)
            s[k] = v
        p["stream"] = s
    return p


DELAY_KEY = "hl_test_delay"
MAX_REQUEST_DELAY = 3600.0


def request_delay(body_bytes):
    """The per-request delay: seconds from the request body's metadata.hl_test_delay (a number
    >= 0, capped at an hour), else 0. See PROTOCOL.md."""
    if DELAY_KEY.encode() not in body_bytes:
        return 0.0
    try:
        obj = json.loads(body_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return 0.0
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    d = meta.get(DELAY_KEY) if isinstance(meta, dict) else None
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not d >= 0:
        return 0.0
    return min(float(d), MAX_REQUEST_DELAY)


def _rate_setting(per_second, retry_after):
    """(per_second, retry_after) of a rate limit, or None (no limit). Raises ScriptError."""
    if per_second is None:
        return None
    _check(isinstance(per_second, int) and not isinstance(per_second, bool) and per_second >= 1,
           "per_second must be an integer >= 1 (or null: no limit)")
    _check(_is_num(retry_after) and retry_after >= 0, "retry_after must be a number >= 0")
    return (per_second, retry_after)


def parse_script_body(body_bytes):
    """The body of POST /_control/script -> list of prepared responses. Raises ScriptError."""
    try:
        text = body_bytes.decode("utf-8")
        plain = json.loads(text, parse_int=_safe_int)
        raw = loads_raw(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ScriptError("the script is not valid JSON: %s" % e)
    _check(isinstance(plain, dict) and isinstance(plain.get("responses"), list),
           'the script must be {"responses": [R, ...]}')
    return [prepare_response(r, rr) for r, rr in zip(plain["responses"], raw["responses"])]


# ---- bodies ------------------------------------------------------------------------------------

class Body:
    """Response body bytes: literal, or a unit repeated (streamed without building it)."""

    def __init__(self, data=b"", repeat=None):
        self.data = data
        self.repeat = repeat

    def __len__(self):
        if self.repeat:
            unit, times = self.repeat
            return len(unit) * times
        return len(self.data)

    def chunks(self, limit=None):
        """Yield the body (or its first `limit` bytes) in blocks of about WRITE_BLOCK bytes."""
        total = len(self) if limit is None else min(limit, len(self))
        if not self.repeat:
            for i in range(0, total, WRITE_BLOCK):
                yield self.data[i:min(i + WRITE_BLOCK, total)]
            return
        unit, _ = self.repeat
        if not unit:
            return
        block = unit * max(1, WRITE_BLOCK // len(unit))
        left = total
        while left > 0:
            piece = block if left >= len(block) else block[:left]
            left -= len(piece)
            yield piece

    def bytes(self, limit=None):
        return b"".join(self.chunks(limit))


class ClientGone(Exception):
    """The client closed or reset the connection, or the server is stopping."""


class BadRequest(Exception):
    def __init__(self, status, msg):
        super().__init__(msg)
        self.status = status


class Request:
    __slots__ = ("method", "target", "path", "version", "headers", "body", "keep_alive", "in_flight")

    def header(self, name):
        name = name.lower()
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return None

    def tokens(self, name):
        name = name.lower()
        out = []
        for n, v in self.headers:
            if n.lower() == name:
                out.extend(t.strip().lower() for t in v.split(","))
        return out


def _decode_header(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def _reason(status, reason=None):
    if reason is not None:
        return reason
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# ---- connections -------------------------------------------------------------------------------

class _TLSReader:
    """readline/read over a TLS socket with a buffer of its own, so that Connection.gone() can
    read ahead (to see a close_notify or EOF) without losing what the client sent."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def feed(self, data):
        self.buf += data

    def _fill(self):
        if self.eof:
            return False
        data = self.sock.recv(WRITE_BLOCK)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def readline(self, limit):
        start = 0
        while True:
            i = self.buf.find(b"\n", start, limit)
            if i >= 0:
                n = i + 1
                break
            if len(self.buf) >= limit:
                n = limit
                break
            start = len(self.buf)
            if not self._fill():
                n = len(self.buf)
                break
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read(self, n):
        while len(self.buf) < n and self._fill():
            pass
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self):
        self.buf = bytearray()


class Connection:
    def __init__(self, server, sock, cid, epoch):
        self.server = server
        self.sock = sock
        self.id = cid
        self.epoch = epoch          # stats epoch it was counted in
        self.counted = True         # counted in the stats (not a control connection)
        self.requests = 0
        self.closed = False
        self.lock = threading.Lock()
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.tls_ready = False      # TLS handshake done
        self.aborted = False        # closing abruptly: no close_notify
        self.rfile = _TLSReader(sock) if self.tls else sock.makefile("rb")

    def handshake(self, timeout):
        """The TLS handshake (in the connection's own thread), at most `timeout` seconds.
        True when done; False when it failed (the caller closes the connection)."""
        try:
            self.sock.settimeout(timeout)
            self.sock.do_handshake()
            self.sock.settimeout(None)
        except (OSError, ValueError) as e:
            self.server._log("connection %d: TLS handshake failed (%s)", self.id, e)
            return False
        self.tls_ready = True
        return True

    # -- writing --
    def send(self, data):
        if not data:
            return
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ClientGone(str(e))

    # -- waiting --
    def gone(self, timeout):
        """Wait up to timeout for the client to close; True when it has (or on error)."""
        if self.tls:
            return self._tls_gone(timeout)
        try:
            if hasattr(select, "poll"):
                p = select.poll()
                p.register(self.sock, select.POLLIN | select.POLLPRI)
                ready = p.poll(timeout * 1000.0)
            else:
                r, _, x = select.select([self.sock], [], [self.sock], timeout)
                ready = r or x
        except (OSError, ValueError):
            return True
        if not ready:
            return False
        try:
            data = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if data == b"":
            return True
        time.sleep(timeout)  # the client sent more bytes: it is still there
        return False

    def _tls_gone(self, timeout):
        """gone() over TLS: the raw socket being readable may be a TLS record (data, an alert,
        a close_notify), so read through TLS without blocking; data is kept for the reader."""
        if self.rfile.buf or self.rfile.eof:
            if self.rfile.eof:
                return True
            time.sleep(timeout)  # the client sent more bytes: it is still there
            return False
        try:
            if self.sock.pending() == 0:
                p = select.poll()
                p.register(self.sock, select.POLLIN | select.POLLPRI)
                if not p.poll(timeout * 1000.0):
                    return False
            self.sock.setblocking(False)
            try:
                data = self.sock.recv(WRITE_BLOCK)
            finally:
                self.sock.setblocking(True)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False  # part of a record, or a TLS message without data
        except (OSError, ValueError):
            return True
        if not data:
            self.rfile.eof = True
            return True
        self.rfile.feed(data)
        return False

    def wait(self, seconds):
        """Sleep `seconds` (None: until the client leaves). False when the client left or the
        server is stopping, True when the time passed."""
        stopping = self.server._stopping
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if stopping.is_set():
                return False
            if deadline is None:
                step = POLL_SLICE
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                step = min(POLL_SLICE, left)
            if self.gone(step):
                return False

    # -- closing --
    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            if self.tls and self.tls_ready and not self.aborted:
                # a clean TLS end (close_notify) before the FIN; never waits for the client's
                try:
                    self.sock.settimeout(0)
                    self.sock.unwrap()
                except (OSError, ValueError):
                    pass
            for f in (self.rfile.close, self.sock.close):
                try:
                    f()
                except OSError:
                    pass

    def abort(self):
        """Close abruptly (RST) once what was written has left the send queue."""
        deadline = time.monotonic() + 2.0
        try:
            import fcntl
            import termios
            while time.monotonic() < deadline and not self.server._stopping.is_set():
                buf = fcntl.ioctl(self.sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
                if struct.unpack("i", buf)[0] == 0:
                    break
                time.sleep(0.005)
        except (ImportError, OSError, AttributeError):
            time.sleep(0.05)
        with self.lock:
            if self.closed:
                return
            self.aborted = True  # over TLS: no close_notify, the raw socket is reset
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.close()

    def shutdown(self):
        """From another thread (stop()): shut the raw socket down, which ends any blocking read,
        write or TLS handshake of the connection's thread."""
        with self.lock:
            if self.closed:
                return
            try:
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)  # the fd, not SSLSocket's
            except OSError:
                pass

    # -- reading --
    def _line(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise BadRequest(431, "line too long")
        return line

    def read_request(self):
        """The next request, or None at a clean end of the connection."""
        line = self._line()
        while line in (b"\r\n", b"\n"):
            line = self._line()
        if not line:
            return None
        if not line.endswith(b"\n"):
            raise ClientGone("end of input inside the request line")
        parts = line.rstrip(b"\r\n").decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0] or not parts[1]:
            raise BadRequest(400, "malformed request line")
        req = Request()
        req.method, req.target, req.version = parts
        req.path = req.target.split("?", 1)[0]
        headers = []
        while True:
            line = self._line()
            if not line or not line.endswith(b"\n"):
                raise ClientGone("end of input inside the headers")
            if line in (b"\r\n", b"\n"):
                break
            if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding
                headers[-1][1] += " " + _decode_header(line.strip())
                continue
            name, sep, value = line.rstrip(b"\r\n").partition(b":")
            if not sep or not name or name != name.strip():
                raise BadRequest(400, "malformed header line")
            headers.append([_decode_header(name), _decode_header(value.strip(b" \t"))])
            if len(headers) > MAX_HEADERS:
                raise BadRequest(431, "too many headers")
        req.headers = headers
        conn_tokens = req.tokens("connection")
        if req.version == "HTTP/1.0":
            req.keep_alive = "keep-alive" in conn_tokens
        else:
            req.keep_alive = "close" not in conn_tokens
        te = req.tokens("transfer-encoding")
        cl = req.header("content-length")
        chunked = bool(te) and te[-1] == "chunked"
        if te and not chunked:
            raise BadRequest(400, "unsupported transfer-encoding")
        length = 0
        if not chunked and cl is not None:
            if not re.fullmatch(r"[0-9]{1,12}", cl.strip()):
                raise BadRequest(400, "bad content-length")
            length = int(cl)
            if length > MAX_BODY:
                raise BadRequest(413, "request body too large")
        if "100-continue" in req.tokens("expect") and (chunked or length > 0):
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if chunked:
            req.body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
            if len(body) != length:
                raise ClientGone("end of input inside the body")
            req.body = body
        return req

    def _read_chunked(self):
        parts = []
        total = 0
        while True:
            line = self._line()
            if not line.endswith(b"\n"):
                raise ClientGone("end of input inside a chunk size")
            size_text = line.split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9a-fA-F]{1,12}", size_text):
                raise BadRequest(400, "bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise BadRequest(413, "request body too large")
            data = self.rfile.read(size)
            if len(data) != size:
                raise ClientGone("end of input inside a chunk")
            parts.append(data)
            if self._line() not in (b"\r\n", b"\n"):
                raise BadRequest(400, "chunk not followed by CRLF")
        while True:  # trailers
            line = self._line()
            if not line or not line.endswith(b"\n"):
                raise ClientGone("end of input inside the trailers")
            if line in (b"\r\n", b"\n"):
                break
        return b"".join(parts)


def _head(status, reason, headers):
    lines = ["HTTP/1.1 %d %s\r\n" % (status, reason)]
    lines.extend("%s: %s\r\n" % (n, v) for n, v in headers)
    lines.append("\r\n")
    return "".join(lines).encode("utf-8", "surrogatepass")


def _has(headers, name):
    name = name.lower()
    return any(n.lower() == name for n, _ in headers)


def _framed(piece):
    return b"%X\r\n%s\r\n" % (len(piece), piece)


# ---- the server --------------------------------------------------------------------------------

class TestServer:
    """The test server, run in background threads of this process.

        with TestServer() as srv:          # or srv = TestServer(); srv.start(); ...; srv.stop()
            srv.port, srv.base_url
            srv.script([R, ...]); srv.requests(); srv.stats(); srv.reset()

    tls=(cert_path, key_path): speak HTTPS (the PEM certificate chain and its key); base_url
    and url() then start with https://. handshake_timeout: seconds a TLS client has to finish
    its handshake before its connection is closed.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, port=0, verbose=False, tls=None, handshake_timeout=HANDSHAKE_TIMEOUT):
        self._want_port = port
        self.verbose = verbose
        self.port = None
        self.base_url = None
        self.tls = None
        self.handshake_timeout = handshake_timeout
        self._ssl_ctx = None
        if tls is not None:
            cert, key = tls
            self.tls = (str(cert), str(key))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls[0], self.tls[1])
            try:
                ctx.set_alpn_protocols(["http/1.1"])
            except (NotImplementedError, ssl.SSLError):
                pass
            self._ssl_ctx = ctx
        self._lock = threading.Lock()
        self._queue = collections.deque()
        self._records = []
        self._requests = 0
        self._opened = 0
        self._in_flight = 0         # API requests being answered now
        self._in_flight_max = 0     # the most at once since the last reset
        self._epoch = 0
        self._next_id = 1
        self._conns = {}            # id -> Connection (open ones)
        self._threads = set()
        self._stopping = threading.Event()
        self._lsock = None
        self._accept_thread = None
        self._t0 = time.monotonic()
        self._rate = None           # (per_second, retry_after) of the rate limit, or None
        self._rate_times = collections.deque()  # when the requests let through in the last second came
        self._rate_limited = 0      # requests answered 429 by the rate limit since the last reset

    # -- lifecycle --
    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self._want_port))
        s.listen(256)
        self._lsock = s
        self.port = s.getsockname()[1]
        self.base_url = self.url("/v4")
        self._accept_thread = threading.Thread(target=self._accept_loop, name="hl-accept", daemon=True)
        self._accept_thread.start()
        self._log("listening on 127.0.0.1:%d%s", self.port, " (TLS)" if self.tls else "")
        return self

    def stop(self, timeout=5.0):
        """Stop accepting, close every open connection (stalls, holds and endless streams
        included) and wait for the connection threads to end."""
        if self._lsock is None:
            return
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        try:
            self._lsock.close()
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                conns = list(self._conns.values())
                threads = list(self._threads)
            for c in conns:
                c.shutdown()
            if not threads or time.monotonic() >= deadline:
                break
            for t in threads:
                t.join(max(0.0, min(0.1, deadline - time.monotonic())))
        self._lsock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def client_ssl_context(self):
        """For a TLS server: an ssl.SSLContext for clients that trusts (only) its certificate,
        with host name checks on (the certificate must name 127.0.0.1). None for plain HTTP."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.tls[0])

    # -- control (in-process) --
    def script(self, responses):
        """Queue scripted responses (list of R objects); returns how many are pending."""
        text = json.dumps({"responses": responses}, ensure_ascii=False)
        prepared = parse_script_body(text.encode("utf-8", "surrogatepass"))
        with self._lock:
            self._queue.extend(prepared)
            return len(self._queue)

    def reset(self):
        with self._lock:
            self._queue.clear()
            self._records = []
            self._requests = 0
            self._opened = 0
            self._in_flight_max = 0
            self._rate = None
            self._rate_times.clear()
            self._rate_limited = 0
            self._epoch += 1
            for c in self._conns.values():
                c.epoch = -1  # opened before the reset: not in connections_opened any more

    def requests(self):
        with self._lock:
            return json.loads(json.dumps(self._records))

    def stats(self):
        with self._lock:
            return {
                "connections_opened": self._opened,
                "connections_open": sum(1 for c in self._conns.values() if c.counted),
                "requests_in_flight_max": self._in_flight_max,
                "requests": self._requests,
                "pending": len(self._queue),
                "rate_limited": self._rate_limited,
            }

    def rate_limit(self, per_second=None, retry_after=1):
        """Let at most per_second API requests through in any window of one second; answer the
        others 429 with Retry-After: retry_after (see PROTOCOL.md). None: no limit (the default,
        and after reset())."""
        with self._lock:
            self._rate = _rate_setting(per_second, retry_after)
            self._rate_times.clear()

    # -- internals --
    def _log(self, fmt, *args):
        if self.verbose:
            try:
                sys.stderr.write("hl_test_server: " + (fmt % args) + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass

    def _accept_loop(self):
        lsock = self._lsock
        while not self._stopping.is_set():
            try:
                r, _, _ = select.select([lsock], [], [], 0.1)
                if not r:
                    continue
                sock, _ = lsock.accept()
            except (OSError, ValueError):
                if self._stopping.is_set():
                    break
                time.sleep(0.01)
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if self._ssl_ctx is not None:
                # no I/O here: the handshake happens in the connection's thread
                try:
                    sock = self._ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                except (OSError, ValueError):
                    try:
                        sock.close()
                    except OSError:
                        pass
                    continue
            with self._lock:
                if self._stopping.is_set():
                    sock.close()
                    break
                cid = self._next_id
                self._next_id += 1
                conn = Connection(self, sock, cid, self._epoch)
                self._conns[cid] = conn
                self._opened += 1
                t = threading.Thread(target=self._serve, args=(conn,), name="hl-conn-%d" % cid, daemon=True)
                self._threads.add(t)
            try:
                t.start()
            except RuntimeError:  # cannot start a thread: drop the connection
                with self._lock:
                    self._threads.discard(t)
                    self._conns.pop(cid, None)
                conn.close()

    def _serve(self, conn):
        try:
            self._log("connection %d opened", conn.id)
            if conn.tls and not conn.handshake(self.handshake_timeout):
                return
            while not self._stopping.is_set():
                try:
                    req = conn.read_request()
                except BadRequest as e:
                    body = dumps({"detail": str(e)}).encode()
                    self._send_simple(conn, e.status, [("Content-Type", "application/json")], body, False)
                    break
                if req is None:
                    break
                conn.requests += 1
                if not self._dispatch(conn, req):
                    break
        except ClientGone as e:
            self._log("connection %d: client gone (%s)", conn.id, e)
        except (OSError, ValueError) as e:
            self._log("connection %d: %s", conn.id, e)
        except BaseException:  # never let a connection take the server down or print noise
            if self.verbose:
                self._log("connection %d: unexpected error\n%s", conn.id, traceback.format_exc())
        finally:
            conn.close()
            with self._lock:
                self._conns.pop(conn.id, None)
                self._threads.discard(threading.current_thread())
            self._log("connection %d closed", conn.id)

    def _dispatch(self, conn, req):
        """Answer one request; True to keep the connection for the next one."""
        if req.path.startswith(CONTROL_PREFIX) or req.path == CONTROL_PREFIX.rstrip("/"):
            if conn.requests == 1:
                with self._lock:
                    if conn.counted:
                        conn.counted = False
                        if conn.epoch == self._epoch:
                            self._opened -= 1
            return self._control(conn, req)
        with self._lock:
            self._in_flight += 1
            self._in_flight_max = max(self._in_flight_max, self._in_flight)
        req.in_flight = True
        try:
            return self._answer(conn, req)
        finally:
            self._answering(req)

    def _answering(self, req):
        """The request's answer starts now: it is no longer in flight (requests_in_flight_max
        counts requests that arrived and are not answered yet; a client that sends its next
        request as soon as it has an answer is not counted twice)."""
        with self._lock:
            if getattr(req, "in_flight", False):
                req.in_flight = False
                self._in_flight -= 1

    def _answer(self, conn, req):
        """Record and answer one API request; True to keep the connection."""
        try:
            body_text = req.body.decode("utf-8")
            b64 = None
        except UnicodeDecodeError:
            body_text = req.body.decode("utf-8", "replace")
            b64 = base64.b64encode(req.body).decode("ascii")
        rec = {
            "method": req.method, "path": req.target, "headers": req.headers, "body": body_text,
            "connection": conn.id, "time": round(time.monotonic() - self._t0, 6),
        }
        if conn.tls:
            rec["tls_session_reused"] = bool(conn.sock.session_reused)  # the client resumed a TLS session
        if b64 is not None:
            rec["body_b64"] = b64
        if req.method == "CONNECT":
            req.keep_alive = False  # the connection is closed after answering a CONNECT
        with self._lock:
            self._records.append(rec)
            self._requests += 1
            limited = self._over_rate_limit()
            if limited:
                rec["rate_limited"] = True
                self._rate_limited += 1
                retry_after = self._rate[1]
            r = self._queue.popleft() if self._queue and not limited else None
        self._log("%s %s (connection %d)%s", req.method, req.target, conn.id,
                  " rate limited" if limited else " scripted" if r else "")
        if limited:
            headers = [("Content-Type", "application/json"), ("Retry-After", "%g" % retry_after)]
            return self._send_simple(conn, 429, headers, b'{"detail":"Too Many Requests (rate limit)"}',
                                     req.keep_alive, req)
        delay = request_delay(req.body)
        if delay and not conn.wait(delay):
            return False
        if delay:
            self._answering(req)
        if r is None:
            return self._default(conn, req, [])
        return self._scripted(conn, req, r)

    def _over_rate_limit(self):
        """(under the lock) True when this request goes beyond the rate limit; else it counts."""
        if self._rate is None:
            return False
        now = time.monotonic()
        while self._rate_times and now - self._rate_times[0] >= 1.0:
            self._rate_times.popleft()
        if len(self._rate_times) >= self._rate[0]:
            return True
        self._rate_times.append(now)
        return False

    # -- control routes --
    def _control(self, conn, req):
        route = req.path
        status, obj = 200, None
        if route == "/_control/script":
            if req.method != "POST":
                status, obj = 405, {"detail": "Method Not Allowed"}
            else:
                try:
                    prepared = parse_script_body(req.body)
                    with self._lock:
                        self._queue.extend(prepared)
                        pending = len(self._queue)
                    obj = {"queued": len(prepared), "pending": pending}
                except ScriptError as e:
                    status, obj = 400, {"detail": str(e)}
        elif route == "/_control/reset":
            if req.method != "POST":
                status, obj = 405, {"detail": "Method Not Allowed"}
            else:
                self.reset()
                obj = {"reset": True}
        elif route == "/_control/requests":
            if req.method != "GET":
                status, obj = 405, {"detail": "Method Not Allowed"}
            else:
                with self._lock:
                    records = list(self._records)
                body = json.dumps({"requests": records}, ensure_ascii=False).encode("utf-8", "surrogatepass")
                return self._send_simple(conn, 200, [("Content-Type", "application/json")], body,
                                         req.keep_alive, req)
        elif route == "/_control/ratelimit":
            if req.method != "POST":
                status, obj = 405, {"detail": "Method Not Allowed"}
            else:
                try:
                    conf = json.loads(req.body.decode("utf-8") or "{}")
                    _check(isinstance(conf, dict) and not set(conf) - {"per_second", "retry_after"},
                           'the body is {"per_second": n, "retry_after": s}')
                    rate = _rate_setting(conf.get("per_second"), conf.get("retry_after", 1))
                    with self._lock:
                        self._rate = rate
                        self._rate_times.clear()
                    obj = {"per_second": rate[0], "retry_after": rate[1]} if rate else {"per_second": None}
                except (ValueError, ScriptError) as e:
                    status, obj = 400, {"detail": str(e)}
        elif route == "/_control/stats":
            if req.method != "GET":
                status, obj = 405, {"detail": "Method Not Allowed"}
            else:
                obj = self.stats()
        else:
            status, obj = 404, {"detail": "Not Found"}
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return self._send_simple(conn, status, [("Content-Type", "application/json")], body, req.keep_alive, req)

    # -- answers --
    def _send_simple(self, conn, status, headers, body, keep_alive, req=None, reason=None, chunked=False):
        """Send a complete response; body is bytes or a Body. Returns keep_alive."""
        if not isinstance(body, Body):
            body = Body(body)
        headers = list(headers)
        for n, v in headers:
            if n.lower() == "connection" and "close" in v.lower():
                keep_alive = False
        if not _has(headers, "Server"):
            headers.insert(0, ("Server", "hl-test-server"))
        if chunked:
            if not _has(headers, "Transfer-Encoding"):
                headers.append(("Transfer-Encoding", "chunked"))
        elif not _has(headers, "Content-Length") and not (100 <= status < 200 or status in (204, 304)):
            headers.append(("Content-Length", str(len(body))))
        if not _has(headers, "Connection"):
            if not keep_alive:
                headers.append(("Connection", "close"))
            elif req is not None and req.version == "HTTP/1.0":
                headers.append(("Connection", "keep-alive"))
        head = _head(status, _reason(status, reason), headers)
        no_body = (req is not None and req.method == "HEAD") or status in (204, 304) or 100 <= status < 200
        if no_body:
            conn.send(head)
        elif chunked:
            conn.send(head)
            for piece in body.chunks():
                if piece:
                    conn.send(_framed(piece))
            conn.send(b"0\r\n\r\n")
        elif len(body) <= WRITE_BLOCK:
            conn.send(head + body.bytes())
        else:
            conn.send(head)
            for piece in body.chunks():
                conn.send(piece)
        return keep_alive

    def _default_answer(self, req):
        """(status, headers, body bytes, stream events or None) of the default answer."""
        jh = [("Content-Type", "application/json")]
        if req.method == "CONNECT":
            return 403, jh + [("Connection", "close")], b'{"detail":"CONNECT is not supported"}', None
        if req.path not in API_PATHS:
            return 404, jh, b'{"detail":"Not Found"}', None
        if req.method != "POST":
            return 405, jh + [("Allow", "POST")], b'{"detail":"Method Not Allowed"}', None
        if not req.header("x-api-key"):
            return 401, jh, b'{"detail":"Missing API key"}', None
        obj, err = parse_object(req.body)
        if obj is None:
            detail = {"detail": [{"loc": ["body"], "msg": err[0], "type": err[1]}]}
            return 422, jh, dumps(detail).encode("utf-8"), None
        if obj.get("stream") is True:
            return 200, [], None, default_stream_events(obj)
        return 200, jh, dumps(default_completion(obj)).encode("utf-8"), None

    def _default(self, conn, req, extra_headers):
        status, headers, body, events = self._default_answer(req)
        if events is not None:
            return self._stream(conn, req, {"headers": extra_headers}, {"events": events})
        return self._send_simple(conn, status, list(extra_headers) + headers, body, req.keep_alive, req)

    def _scripted(self, conn, req, r):
        if r.get("delay") and not conn.wait(r["delay"]):
            return False
        self._answering(req)
        if "fault" in r:
            self._fault(conn, req, r)
            return False
        if "raw_response" in r:
            data = r["raw_response"]
            for i in range(0, len(data), WRITE_BLOCK):
                conn.send(data[i:i + WRITE_BLOCK])
            return False
        if "stream" in r:
            return self._stream(conn, req, r, r["stream"])
        if not r["has_body"] and "status" not in r:
            return self._default(conn, req, r["headers"])
        headers = list(r["headers"])
        if "content_type" in r and not _has(headers, "Content-Type"):
            headers.insert(0, ("Content-Type", r["content_type"]))
        body = Body(repeat=r["repeat"]) if "repeat" in r else Body(r.get("body", b""))
        return self._send_simple(conn, r.get("status", 200), headers, body, req.keep_alive, req,
                                 reason=r.get("reason"), chunked=r.get("chunked", False))

    # -- event streams --
    @staticmethod
    def _unit(text, st, last):
        """The bytes of one event: optional comment line, data line(s), blank line."""
        le = st.get("line_ending", "\n")
        prefix = "data:" if st.get("no_space") else "data: "
        out = []
        if st.get("comments"):
            out.append(": ping" + le)
        for line in text.split("\n"):
            out.append(prefix + line + le)
        if not (last and st.get("no_trailing_blank_line")):
            out.append(le)
        return "".join(out).encode("utf-8", "surrogatepass")

    def _sse_body(self, req, st):
        """The whole event-stream body (no timing), for faults."""
        if "raw" in st:
            return st["raw"]
        events = st.get("events")
        if events is None:
            obj, _ = parse_object(req.body)
            events = default_stream_events(obj or {})
        texts = list(events) + (["[DONE]"] if st.get("done") else [])
        return b"".join(self._unit(t, st, i == len(texts) - 1) for i, t in enumerate(texts))

    def _stream(self, conn, req, r, st):
        status = r.get("status", 200)
        headers = list(r.get("headers", []))
        if not _has(headers, "Content-Type"):
            headers.insert(0, ("Content-Type", "text/event-stream"))
        if not _has(headers, "Cache-Control"):
            headers.append(("Cache-Control", "no-cache"))
        if not _has(headers, "Server"):
            headers.insert(0, ("Server", "hl-test-server"))
        chunked = r.get("chunked", False)
        keep = req.keep_alive and chunked
        for n, v in headers:
            if n.lower() == "connection" and "close" in v.lower():
                keep = False
        if chunked:
            if not _has(headers, "Transfer-Encoding"):
                headers.append(("Transfer-Encoding", "chunked"))
        if not _has(headers, "Connection") and not keep:
            headers.append(("Connection", "close"))
        conn.send(_head(status, _reason(status, r.get("reason")), headers))
        size = st.get("chunk_size", 0)

        def write(data):
            pieces = [data[i:i + size] for i in range(0, len(data), size)] if size else [data]
            for p in pieces:
                if p:
                    conn.send(_framed(p) if chunked else p)

        def end():
            if st.get("end_delay") and not conn.wait(st["end_delay"]):
                return False
            if chunked:
                conn.send(b"0\r\n\r\n")
            return keep

        if st.get("first_delay") and not conn.wait(st["first_delay"]):
            return False
        if "raw" in st:
            write(st["raw"])
            return end()
        events = st.get("events")
        if events is None:
            obj, _ = parse_object(req.body)
            events = default_stream_events(obj or {})
        n = len(events)
        cut, hold_after, hold = st.get("cut_after"), st.get("hold_after"), st.get("hold", 0.0)
        delay = st.get("delay", 0.0)
        forever = st.get("forever") and n > 0
        if forever:
            delay = max(delay, 0.01)
        done = st.get("done")
        if cut is not None and not forever:
            cut = min(cut, n)
        i = 0
        while forever or i <= n:
            if cut is not None and i == cut:
                conn.abort()
                raise ClientGone("cut after %d events" % i)
            if i > 0 and delay and (i < n or done or forever) and not conn.wait(delay):
                return False
            if hold_after is not None and i == hold_after and hold and not conn.wait(hold):
                return False
            if not forever and i == n:
                break
            last = not forever and i == n - 1 and not done
            write(self._unit(events[i % n], st, last))
            i += 1
        if done:
            write(self._unit("[DONE]", st, True))
        return end()

    # -- faults --
    def _fault(self, conn, req, r):
        fault = r["fault"]
        self._log("connection %d: fault %s", conn.id, fault)
        if fault == "no_answer":
            conn.wait(None)
            return
        if fault == "close_immediately":
            return
        headers = list(r["headers"])
        status = r.get("status", 200)
        if "stream" in r:
            body = Body(self._sse_body(req, r["stream"]))
            ctype = "text/event-stream"
        elif r["has_body"]:
            body = Body(repeat=r["repeat"]) if "repeat" in r else Body(r.get("body", b""))
            ctype = r.get("content_type")
        else:
            body = None
        if body is None or len(body) == 0:
            dstatus, dheaders, dbody, events = self._default_answer(req)
            if events is not None:
                body, ctype = Body(b"".join(self._unit(t, {}, False) for t in events)), "text/event-stream"
            else:
                body, ctype = Body(dbody), "application/json"
            if "status" not in r:
                status = dstatus
        if ctype and not _has(headers, "Content-Type"):
            headers.insert(0, ("Content-Type", ctype))
        if not _has(headers, "Server"):
            headers.insert(0, ("Server", "hl-test-server"))
        total = len(body)
        reason = _reason(status, r.get("reason"))
        if fault == "bad_chunked":
            headers.append(("Transfer-Encoding", "chunked"))
            first = body.bytes(max(1, total // 2))
            conn.send(_head(status, reason, headers) + _framed(first) + b"zz-not-a-chunk-size\r\n")
            return
        declared = total + 100 if fault == "wrong_content_length" else total
        headers.append(("Content-Length", str(declared)))
        head = _head(status, reason, headers)
        if fault == "close_mid_headers":
            conn.send(head[:max(1, min(len(head) // 2, len(head) - 4))])
            return
        conn.send(head)
        if fault == "stall_after_headers":
            conn.wait(None)
            return
        if fault == "wrong_content_length":
            for piece in body.chunks():
                conn.send(piece)
            return
        for piece in body.chunks(total // 2):  # close_mid_body, stall_mid_body
            conn.send(piece)
        if fault == "stall_mid_body":
            conn.wait(None)


# ---- command line --------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="Humanloop-compatible HTTP test server (see PROTOCOL.md)")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin reaches EOF")
    ap.add_argument("--verbose", action="store_true", help="log connections and errors to stderr")
    ap.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (chain): speak HTTPS")
    ap.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    args = ap.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        ap.error("--tls-cert and --tls-key go together")

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    tls = (args.tls_cert, args.tls_key) if args.tls_cert is not None else None
    try:
        srv = TestServer(port=args.port, verbose=args.verbose, tls=tls)
    except (OSError, ValueError) as e:
        sys.stderr.write("hl_test_server: cannot load the TLS certificate and key: %s\n" % e)
        return 1
    try:
        srv.start()
    except OSError as e:
        sys.stderr.write("hl_test_server: cannot listen on 127.0.0.1:%d: %s\n" % (args.port, e))
        return 1

    if args.exit_on_stdin_eof:
        def watch_stdin():
            try:
                while os.read(0, 65536):
                    pass
            except OSError:
                pass
            stop.set()

        threading.Thread(target=watch_stdin, name="hl-stdin", daemon=True).start()

    sys.stdout.write("PORT=%d\n" % srv.port)
    sys.stdout.flush()
    try:
        while not stop.wait(0.2):
            pass
    finally:
        srv.stop(timeout=3.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
