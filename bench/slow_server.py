#!/usr/bin/env python3
"""slow_server.py — a loopback HTTP/1.1 server for the engine benchmarks (bench/run.sh engine,
bench/run.sh python-async): every completion request is answered after a fixed delay (default
50 ms), and any number of requests can be held at once (asyncio protocol, one timer per request,
no thread per request, keep-alive, listen backlog 4096).

    python3 bench/slow_server.py [--port 0] [--delay 0.05] [--stream-events 100]
                                 [--event-interval 0.001]

Prints ``PORT=<n>`` on stdout when ready and serves until stdin reaches EOF (so it also ends when
the script that started it dies; bench/run.sh starts it that way), then prints its counters on
stderr. When stdin cannot be watched (/dev/null, a regular file) it serves until it is killed.

Routes (any method is answered; the path prefixes combine, in this order):
  /delay/<ms>/...       this request waits <ms> ms instead of --delay (also: header X-Delay: <s>)
  /events/<n>/...       a stream of <n> events instead of --stream-events
  /gap/<us>/...         <us> microseconds between two events instead of --event-interval
  .../completion, .../completion-deployed, .../completion-experiment, .../completion-model-config
      POST: after the delay, the same JSON as the test server (Tests/server/hl_test_server.py)
      answers to that body (computed once per distinct body, then cached), or, when the body
      has "stream": true, an event stream (text/event-stream, chunked, keep-alive): the head and
      the first event after the delay, then one event every --event-interval seconds. Events are
      the test server's first example event with "output" " tok<i>" (the last one with
      "finish_reason":"stop"); none of them contains "data:" in its text, so the official SDK
      0.5.16 (which drops such events) yields all of them.
  GET /stats            {"requests":n,"streams":s,"in_flight":i,"max_in_flight":m,
                         "connections":c,"max_connections":mc,"arrival_span_ms":t}
                        (answered at once; t: from the first to the last request that arrived
                        since the last reset)
  GET /stats/reset      the same, then zeroes requests, streams, the span and the two maxima
A request is "in flight" from the moment its body has fully arrived until the last byte of its
answer was handed to the socket. Standard library only (plus the test server's module for the
JSON, when it is there).
"""
import argparse
import asyncio
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "server"))
try:
    import hl_test_server as _T  # the same answer bytes as the test server
except Exception:  # noqa: BLE001 — fall back to the fixed answer of the bench request
    _T = None

# The test server's answer to the bench request (bench/run.sh REQ), used when its module is absent.
_FALLBACK = (b'{"data":[{"id":"data_0","index":0,"output":"Hello from the test server",'
             b'"raw_output":" Hello from the test server\\n","inputs":{"question":"What do llamas eat?"},'
             b'"model_config_id":"config_test","finish_reason":"stop"}],"provider_responses":[{"id":"cmpl-test-0",'
             b'"object":"text_completion","created":1697000000,"model":"gpt-3.5-turbo-instruct","choices":'
             b'[{"text":" Hello from the test server\\n","index":0,"logprobs":null,"finish_reason":"stop"}],'
             b'"usage":{"prompt_tokens":7,"completion_tokens":6,"total_tokens":13}}],"project_id":"pr_test",'
             b'"num_samples":1,"usage":{"prompt_tokens":7,"generation_tokens":6,"total_tokens":13}}')

API_TAILS = (b"/completion", b"/completion-deployed", b"/completion-experiment", b"/completion-model-config")
STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
PREFIX_RE = re.compile(rb"^/(delay|events|gap)/(\d+)(?=/)")

stats = {"requests": 0, "streams": 0, "in_flight": 0, "max_in_flight": 0,
         "connections": 0, "max_connections": 0, "arrival_span_ms": 0.0}
_first_arrival = [None]
_answers = {}


def answer_body(body):
    cached = _answers.get(body)
    if cached is not None:
        return cached
    out = _FALLBACK
    if _T is not None:
        try:
            obj, _err = _T.parse_object(body)
            if obj is not None:
                out = _T.dumps(_T.default_completion(obj)).encode("utf-8")
        except Exception:  # noqa: BLE001
            pass
    if len(_answers) < 256:
        _answers[body] = out
    return out


def stream_event(i, n):
    ev = {"data": [{"id": "data_9dJz3WqkT2uYvX8pLmN4c", "index": 0, "output": " tok%d" % i,
                    "raw_output": " tok%d" % i,
                    "inputs": {"text": "Llamas are curious animals that usually approach people easily."},
                    "model_config_id": "config_Vd9w2a8eCkLzYb5qS1nHu",
                    "finish_reason": "stop" if i == n - 1 else None}],
          "project_id": "pr_3usCu3Zed2ekbUbCuUbq8"}
    data = b"data: " + json.dumps(ev, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


_event_cache = {}


def events_for(n):
    ev = _event_cache.get(n)
    if ev is None:
        ev = [stream_event(i, n) for i in range(n)]
        if len(_event_cache) < 16:
            _event_cache[n] = ev
    return ev


def head(status, reason, ctype, length=None, close=False, chunked=False):
    h = [b"HTTP/1.1 %d %s" % (status, reason), b"Server: bench-slow", b"Content-Type: " + ctype]
    if chunked:
        h.append(b"Transfer-Encoding: chunked")
    else:
        h.append(b"Content-Length: %d" % length)
    if close:
        h.append(b"Connection: close")
    return b"\r\n".join(h) + b"\r\n\r\n"


def enter():
    now = asyncio.get_running_loop().time()
    if _first_arrival[0] is None:
        _first_arrival[0] = now
    stats["arrival_span_ms"] = round((now - _first_arrival[0]) * 1000.0, 3)
    stats["requests"] += 1
    stats["in_flight"] += 1
    if stats["in_flight"] > stats["max_in_flight"]:
        stats["max_in_flight"] = stats["in_flight"]


def leave():
    stats["in_flight"] -= 1


class Handler(asyncio.Protocol):
    def __init__(self, opts):
        self.opts = opts
        self.buf = b""
        self.transport = None
        self.busy = False      # a request of this connection is being answered
        self.timer = None

    def connection_made(self, transport):
        self.transport = transport
        stats["connections"] += 1
        if stats["connections"] > stats["max_connections"]:
            stats["max_connections"] = stats["connections"]

    def connection_lost(self, exc):
        stats["connections"] -= 1
        self.transport = None
        if self.timer is not None:   # the client went away while we held its request
            self.timer.cancel()
            self.timer = None
            if self.busy:
                leave()
        self.busy = False

    def data_received(self, data):
        self.buf += data
        if not self.busy:
            self.next_request()

    def next_request(self):
        while not self.busy and self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.transport.close()
                return
            lines = self.buf[:end].split(b"\r\n")
            try:
                method, target, _version = lines[0].split(b" ", 2)
            except ValueError:
                self.transport.close()
                return
            hdr = {}
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                hdr[k.strip().lower()] = v.strip()
            if b"chunked" in hdr.get(b"transfer-encoding", b"").lower():
                self.transport.write(head(411, b"Length Required", b"application/json", 2, True) + b"{}")
                self.transport.close()
                return
            length = int(hdr.get(b"content-length", b"0") or 0)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            close = hdr.get(b"connection", b"").lower() == b"close"
            self.handle(method, target, hdr, body, close)

    def handle(self, method, target, hdr, body, close):
        path = target.split(b"?", 1)[0]
        if path in (b"/stats", b"/stats/reset"):
            data = json.dumps(stats).encode()
            if path == b"/stats/reset":
                stats["requests"] = stats["streams"] = 0
                stats["arrival_span_ms"] = 0.0
                _first_arrival[0] = None
                stats["max_in_flight"] = stats["in_flight"]
                stats["max_connections"] = stats["connections"]
            self.transport.write(head(200, b"OK", b"application/json", len(data), close) + data)
            if close:
                self.transport.close()
            return
        delay, nevents, gap = self.opts.delay, self.opts.stream_events, self.opts.event_interval
        while True:
            m = PREFIX_RE.match(path)
            if not m:
                break
            if m.group(1) == b"delay":
                delay = int(m.group(2)) / 1000.0
            elif m.group(1) == b"gap":
                gap = int(m.group(2)) / 1e6
            else:
                nevents = max(1, int(m.group(2)))
            path = path[m.end():]
        if b"x-delay" in hdr:
            try:
                delay = float(hdr[b"x-delay"])
            except ValueError:
                pass
        if not path.endswith(API_TAILS):
            data = b'{"detail":"Not Found"}'
            self.transport.write(head(404, b"Not Found", b"application/json", len(data), close) + data)
            if close:
                self.transport.close()
            return
        enter()
        self.busy = True
        loop = asyncio.get_running_loop()
        if STREAM_RE.search(body):
            stats["streams"] += 1
            self.timer = loop.call_later(delay, self.send_event, events_for(nevents), 0, gap, close)
        else:
            self.timer = loop.call_later(delay, self.send_json, answer_body(body), close)

    def done(self, close):
        self.timer = None
        self.busy = False
        leave()
        if close:
            self.transport.close()
        elif self.buf:
            self.next_request()

    def send_json(self, data, close):
        if self.transport is None:
            return
        self.transport.write(head(200, b"OK", b"application/json", len(data), close) + data)
        self.done(close)

    def send_event(self, events, i, gap, close):
        if self.transport is None:
            return
        out = events[i]
        if i == 0:
            out = head(200, b"OK", b"text/event-stream", chunked=True, close=close) + out
        if i == len(events) - 1:
            self.transport.write(out + b"0\r\n\r\n")
            self.done(close)
            return
        if gap <= 0:  # the whole stream at once
            self.transport.write(out + b"".join(events[i + 1:]) + b"0\r\n\r\n")
            self.done(close)
            return
        self.transport.write(out)
        self.timer = asyncio.get_running_loop().call_later(gap, self.send_event, events, i + 1, gap, close)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--stream-events", type=int, default=100)
    ap.add_argument("--event-interval", type=float, default=0.001)
    opts = ap.parse_args()
    try:  # room for thousands of sockets
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(opts), "127.0.0.1", opts.port, backlog=4096,
                                      reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write("PORT=%d\n" % port)
    sys.stdout.flush()
    # Serve until stdin ends.
    eof = loop.create_future()

    def on_stdin():
        try:
            chunk = os.read(sys.stdin.fileno(), 4096)
        except OSError:
            chunk = b""
        if not chunk and not eof.done():
            eof.set_result(None)

    try:
        loop.add_reader(sys.stdin.fileno(), on_stdin)
        await eof
    except (NotImplementedError, ValueError, OSError):
        await asyncio.Event().wait()
    server.close()
    sys.stderr.write("slow_server: %s\n" % json.dumps(stats))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.stderr.write("slow_server: %s\n" % json.dumps(stats))
