#!/usr/bin/env python3
"""bench_python_async.py — async Python: the binding humanloop_native (its acomplete and async
streams run on libhumanloop's engine) against the official SDK humanloop==0.5.16 (aiohttp), in
ONE process and ONE event loop, against bench/slow_server.py (every answer after 50 ms; it holds
any number of requests at once). Rows:

  gather   ``await asyncio.gather(*(client.acomplete(**ARGS) for _ in range(N)))``, N = 1000:
           wall (time.perf_counter) and client CPU (time.process_time: every thread of this
           process, the library's engine thread included) per call; the server's peak number of
           requests in flight during the gather (its /stats route, read outside the timed part).
  stream   M async streams of 100 events each, one after the other, every event consumed:
           the SDK's ``r = await complete_stream(...); async for _ in r.content`` vs the binding's
           ``async for ev in acomplete_stream(...)`` (and, as a second binding row, the same
           SDK-style code ``r = await complete_stream(...)`` on the binding). CPU per stream.
           Reference rows (not the binding), each with the least Python possible: the
           loop's reader copies each item, parses it (json.loads) and wakes the consuming coroutine
           once per wake-up:
             "C API, hl_loop minimal": libhumanloop itself, driven by the event loop:
               hl_loop_submit, then ``add_reader(hl_loop_fd(l))`` and ``hl_loop_run(l, 0, items,
               256)`` per wake-up (ctypes.PyDLL; no thread of the library involved);
             "floor: thread + queue": bench/stream_floor.c's shape 2, a C thread reads the socket,
               cuts and checks (jansson) the events and queues them, signalling an eventfd on
               empty -> non-empty; the loop drains it (the shape of hl_call_submit + hl_queue);
             "floor: loop-driven": stream_floor.c's shape 3, the loop watches the socket itself and
               calls C once per wake-up to read, cut and check, getting the items as an array
               (the shape of hl_loop);
             "floor: callback (retired)": the retired design, a C thread that calls a
               ctypes callback per item (the GIL taken on that thread, call_soon_threadsafe).
           The floors do no libcurl and no Swift: what a shape costs in Python by itself.
  concurrent  K streams at once (``--concurrent=100``; 0, the default: no such row), the same
           streams as above, ``asyncio.gather`` of K consumers, every event consumed: the SDK vs
           the binding's ``async for``, CPU per event; ``--concurrent-rounds`` rounds AB BA ...
           (after one uncounted gather of each).
           The binding's rows run only if its async calls work (probed in a child process: a
           binding still built for the 0.1 callback crashes against libhumanloop 0.2); the binding
           is used only through its public API, so either version of it works here.
Variants run in R rounds in alternating order (AB BA ...), after one uncounted (cold) gather of
each; ratios binding / SDK (< 1: the binding is cheaper), overall and min..max over the rounds.

Usage (bench/run.sh python-async starts the server and picks the venv that has the SDK):
  PYTHONPATH=bindings/python python bench/bench_python_async.py --server=http://127.0.0.1:PORT
      [--calls=1000] [--rounds=4] [--streams=8] [--stream-rounds=7] [--events=100]
      [--floor-lib=build/bench/libstream_floor.so] [--lib=build/lib/libhumanloop.so.0.2]
      [--binding=auto|yes|no] [--event-gap-us=1000] [--concurrent=K] [--concurrent-rounds=5]
  Burst (issue 17): --events=1000 --event-gap-us=0 (the server writes the whole stream at once).
  Only the concurrent streams: --rounds=0 --stream-rounds=0 --concurrent=100.
"""

import argparse
import asyncio
import collections
import ctypes
import gc
import http.client
import json
import resource
import socket
import sys
import threading
import time
import urllib.parse

from bench_python import ARGS, OUTPUT  # the same request and answer as the blocking Python bench


def server_stats(server, reset=False):
    u = urllib.parse.urlsplit(server)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", "/stats/reset" if reset else "/stats")
    data = json.loads(c.getresponse().read())
    c.close()
    return data


class Variant:
    def __init__(self, name):
        self.name = name
        self.wall, self.cpu, self.calls, self.failures = 0.0, 0.0, 0, 0
        self.rounds = []  # (wall, cpu, calls, server peak)
        self.spans = []   # ms from the first to the last request the server saw, per gather
        self.held = None  # server peak in flight when it holds each request --hold-ms

    def add(self, w, c, n, peak=None):
        self.wall += w
        self.cpu += c
        self.calls += n
        self.rounds.append((w, c, n, peak))


def ratio(what, base, lib, idx):
    total = (getattr(lib, what) / lib.calls) / (getattr(base, what) / base.calls)
    per_round = sorted((lr[idx] / lr[2]) / (br[idx] / br[2]) for br, lr in zip(base.rounds, lib.rounds) if br[idx] > 0)
    k = len(per_round)
    ratio.median = per_round[k // 2] if k % 2 else (per_round[k // 2 - 1] + per_round[k // 2]) / 2
    return total, per_round[0], per_round[-1]


async def gather_phase(v, acall, n, server):
    gc.collect()
    server_stats(server, reset=True)
    w0, c0 = time.perf_counter(), time.process_time()
    results = await asyncio.gather(*(acall(**ARGS) for _ in range(n)), return_exceptions=True)
    w, c = time.perf_counter() - w0, time.process_time() - c0
    st = server_stats(server)
    peak = st["max_in_flight"]
    v.spans.append(st.get("arrival_span_ms", 0.0))
    for r in results:
        ok = False
        try:
            ok = r.status == 200 and r.body["data"][0]["output"] == OUTPUT
        except Exception:  # noqa: BLE001
            pass
        if not ok:
            if v.failures < 3:
                print("  %s: %r" % (v.name, r), file=sys.stderr)
            v.failures += 1
    v.add(w, c, n, peak)
    return w, c, peak


async def stream_phase(v, one_stream, m, events):
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(m):
        try:
            got = await one_stream()
        except Exception as e:  # noqa: BLE001
            got = e
        if got != events:
            if v.failures < 3:
                print("  %s: %r events (expected %d)" % (v.name, got, events), file=sys.stderr)
            v.failures += 1
    w, c = time.perf_counter() - w0, time.process_time() - c0
    v.add(w, c, m)


async def concurrent_phase(v, one_stream, k, events):
    """k streams at once; v counts events (calls = k * events), so its ratios are per event."""
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    got = await asyncio.gather(*(one_stream() for _ in range(k)), return_exceptions=True)
    w, c = time.perf_counter() - w0, time.process_time() - c0
    for g in got:
        if g != events:
            if v.failures < 3:
                print("  %s: %r events (expected %d)" % (v.name, g, events), file=sys.stderr)
            v.failures += 1
    v.add(w, c, k * events)
    return w, c


class Item(ctypes.Structure):
    """hl_item (and the floors' items, which have its layout)."""
    _fields_ = [("call", ctypes.c_void_p), ("tag", ctypes.c_void_p), ("kind", ctypes.c_int),
                ("json", ctypes.c_void_p), ("len", ctypes.c_size_t)]


ITEM_RESULT = 2


class ArrayConsumer:
    """The least Python that consumes one stream whose items cross the FFI in arrays, on the event
    loop's own thread (the loop-driven shapes): ``loop.add_reader(fd, on_ready)``; ``on_ready`` calls
    ``fetch(items, max)`` (hl_loop_run(l, 0, ...), or a floor's drain / run) until it returns less
    than ``max``, copies each item (``string_at(json, len)``), parses it (``json.loads``) and wakes
    the consuming coroutine once per wake-up, which takes the events one by one."""

    MAX = 256

    def __init__(self):
        self.array = (Item * self.MAX)()
        self.items = collections.deque()
        self.waiter = None

    async def events(self, fd, fetch, start):
        loop = asyncio.get_running_loop()
        array, mx, items, string_at, loads = self.array, self.MAX, self.items, ctypes.string_at, json.loads
        items.clear()

        def on_ready():
            got = 0
            while True:
                n = fetch(array, mx)
                for i in range(n):
                    it = array[i]
                    items.append((it.kind, loads(string_at(it.json, it.len))))
                got += n
                if n < mx:
                    break
            if got and self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)

        start()
        loop.add_reader(fd, on_ready)
        try:
            n = 0
            while True:
                while not items:
                    self.waiter = loop.create_future()
                    await self.waiter
                    self.waiter = None
                kind, item = items.popleft()
                if kind == ITEM_RESULT:
                    return n if item.get("ok") else -1
                n += 1
        finally:
            loop.remove_reader(fd)


class CallbackConsumer:
    """The retired design, for reference: a callback on a C thread (here the floor's
    thread) takes the GIL, copies the malloc'd item and frees it, appends it to a deque and wakes
    the loop (``call_soon_threadsafe``, once per burst); the loop parses it."""

    def __init__(self, free):
        self.free = free
        self.items = collections.deque()
        self.loop = None
        self.waiter = None
        self.wake = False
        self.threads = set()
        self.callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)(self.on_item)

    def on_item(self, _call, item, _user_data):  # the C thread
        thread = threading.get_ident()
        if thread not in self.threads:  # one Python thread state for good, as the old binding did
            ctypes.pythonapi.PyGILState_Ensure()
            self.threads.add(thread)
        raw = ctypes.string_at(item)
        self.free(item)
        self.items.append(raw)
        if not self.wake:
            self.wake = True
            self.loop.call_soon_threadsafe(self.drain)

    def drain(self):  # the loop
        self.wake = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def events(self, start):
        self.loop = asyncio.get_running_loop()
        self.items.clear()
        start()
        n = 0
        while True:
            while not self.items:
                self.waiter = self.loop.create_future()
                await self.waiter
                self.waiter = None
            item = json.loads(self.items.popleft())
            if "event" not in item:
                return n if item.get("ok") else -1
            n += 1


def load_libhumanloop(path):
    """libhumanloop through ctypes.PyDLL (the GIL is kept: every function used here returns at
    once), declared here so that the reference rows do not depend on the binding's internals."""
    if not path:
        import humanloop_native._native as native  # the binding knows where the library is
        path = native.library_path
    lib = ctypes.PyDLL(path)
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    lib.hl_client_new.argtypes = [cp, ctypes.POINTER(vp)]
    lib.hl_client_new.restype = vp
    lib.hl_loop_new.argtypes = [vp, cp]
    lib.hl_loop_new.restype = vp
    lib.hl_loop_fd.argtypes = [vp]
    lib.hl_loop_fd.restype = ctypes.c_int
    lib.hl_loop_submit.argtypes = [vp, cp, cp, cp, vp]
    lib.hl_loop_submit.restype = vp
    lib.hl_loop_run.argtypes = [vp, ctypes.c_int, ctypes.POINTER(Item), ctypes.c_size_t]
    lib.hl_loop_run.restype = ctypes.c_size_t
    lib.hl_call_free.argtypes = [vp]
    lib.hl_call_free.restype = None
    return lib


def reference_streams(opts, host, body):
    """The reference stream consumers: (name, coroutine function) pairs."""
    refs = []
    lib = load_libhumanloop(opts.lib)
    client = lib.hl_client_new(json.dumps({"api_key": "bench-key", "host": host}).encode(), None)
    hl_loop = lib.hl_loop_new(client, None)
    if not client or not hl_loop:
        raise RuntimeError("hl_client_new / hl_loop_new failed")
    loop_fd = lib.hl_loop_fd(hl_loop)
    consumer = ArrayConsumer()
    run = lib.hl_loop_run

    def fetch_loop(array, mx):
        return run(hl_loop, 0, array, mx)

    async def capi_loop_stream():
        call = []
        try:
            return await consumer.events(loop_fd, fetch_loop, lambda: call.append(lib.hl_loop_submit(
                hl_loop, b"complete", body, b'{"stream":true}', None)))
        finally:
            if call:
                lib.hl_call_free(call[0])

    refs.append(("C API, hl_loop minimal", capi_loop_stream))
    if not opts.floor_lib:
        return refs
    floor = ctypes.PyDLL(opts.floor_lib)
    vp = ctypes.c_void_p
    floor.floor_queue_new.restype = vp
    floor.floor_queue_new.argtypes = []
    floor.floor_queue_fd.argtypes = [vp]
    floor.floor_queue_stream.argtypes = [vp, ctypes.c_int, ctypes.c_int]
    floor.floor_queue_drain.argtypes = [vp, ctypes.POINTER(Item), ctypes.c_size_t]
    floor.floor_queue_drain.restype = ctypes.c_size_t
    floor.floor_reader_new.argtypes = [ctypes.c_int, ctypes.c_int]
    floor.floor_reader_new.restype = vp
    floor.floor_reader_run.argtypes = [vp, ctypes.POINTER(Item), ctypes.c_size_t]
    floor.floor_reader_run.restype = ctypes.c_size_t
    floor.floor_reader_free.argtypes = [vp]
    u = urllib.parse.urlsplit(host)
    stream_body = json.dumps(dict(json.loads(body), stream=True)).encode()
    request = ("POST %s/completion HTTP/1.1\r\nHost: %s\r\nX-API-KEY: bench-key\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (u.path, u.netloc, len(stream_body))).encode() + stream_body

    def connection():  # one keep-alive connection per row, as the library keeps its own
        conn = []

        def get():
            if not conn:
                conn.append(socket.create_connection((u.hostname, u.port)))
            return conn[0]
        return get

    # (i) thread + queue + eventfd, drained on the loop
    fq = floor.floor_queue_new()
    if not fq:
        raise RuntimeError("floor_queue_new failed")
    fq_fd = floor.floor_queue_fd(fq)
    fq_conn = connection()
    drain = floor.floor_queue_drain

    def fetch_queue(array, mx):
        return drain(fq, array, mx)

    def start_queue():
        s = fq_conn()
        s.sendall(request)
        if floor.floor_queue_stream(fq, s.fileno(), 1) != 0:
            raise RuntimeError("floor_queue_stream failed")

    async def floor_queue_stream():
        return await consumer.events(fq_fd, fetch_queue, start_queue)

    refs.append(("floor: thread + queue", floor_queue_stream))

    # (ii) the loop reads the socket, C cuts and checks once per wake-up
    fr_conn = connection()
    reader_run = floor.floor_reader_run

    async def floor_loop_stream():
        s = fr_conn()
        reader = floor.floor_reader_new(s.fileno(), 1)
        try:
            return await consumer.events(s.fileno(), lambda array, mx: reader_run(reader, array, mx),
                                         lambda: s.sendall(request))
        finally:
            floor.floor_reader_free(reader)

    refs.append(("floor: loop-driven", floor_loop_stream))

    # the retired design: a C thread calls back into Python per item
    libc_free = ctypes.PyDLL(None).free
    libc_free.argtypes = [ctypes.c_void_p]
    cb_consumer = CallbackConsumer(libc_free)
    floor.floor_stream.argtypes = [ctypes.c_int, type(cb_consumer.callback), ctypes.c_int]
    cb_conn = connection()

    def start_cb():
        s = cb_conn()
        s.sendall(request)
        if floor.floor_stream(s.fileno(), cb_consumer.callback, 1) != 0:
            raise RuntimeError("floor_stream failed")

    async def floor_cb_stream():
        return await cb_consumer.events(start_cb)

    refs.append(("floor: callback (retired)", floor_cb_stream))
    return refs


PROBE = r"""
import asyncio, sys
import humanloop_native
from bench_python import ARGS
host, stream_host = sys.argv[1:3]
async def main():
    c = humanloop_native.Humanloop(api_key="bench-key", host=host)
    r = await asyncio.wait_for(c.acomplete(**ARGS), 20)
    assert r.status == 200, r
    s = humanloop_native.Humanloop(api_key="bench-key", host=stream_host)
    n = 0
    async def count():
        nonlocal n
        async for _ in s.acomplete_stream(**ARGS):
            n += 1
    await asyncio.wait_for(count(), 20)
    assert n > 0
asyncio.run(main())
"""


def probe_binding(host, stream_host):
    """Runs the binding's async calls once in a child process: the binding of this checkout may
    be on either side of its move to hl_loop, and one built for the 0.1 callback
    crashes against libhumanloop 0.2. Returns None when it works, else why not."""
    import os
    import subprocess
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.abspath(__file__)) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        p = subprocess.run([sys.executable, "-c", PROBE, host, stream_host], env=env, capture_output=True,
                           timeout=60)
    except subprocess.TimeoutExpired:
        return "its async calls did not finish within 60 s"
    if p.returncode == 0:
        return None
    last = (p.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
    return "its async calls fail (exit status %d: %s)" % (p.returncode, last[:200])


async def main_async(opts):
    import humanloop
    import humanloop_native

    host = opts.server + "/v4"
    stream_host = "%s/events/%d/gap/%d/v4" % (opts.server, opts.events, opts.event_gap_us)
    sdk = humanloop.Humanloop(api_key="bench-key", host=host)
    nat = humanloop_native.Humanloop(api_key="bench-key", host=host)
    sdk_s = humanloop.Humanloop(api_key="bench-key", host=stream_host)
    nat_s = humanloop_native.Humanloop(api_key="bench-key", host=stream_host)
    why = None
    if opts.binding == "no":
        why = "--binding=no"
    elif opts.binding == "auto":
        why = probe_binding(host, stream_host)
    use_binding = why is None
    if not use_binding:
        opts.rounds = 0

    async def sdk_stream():
        r = await sdk_s.complete_stream(**ARGS)
        n = 0
        async for _ in r.content:
            n += 1
        return n

    async def nat_stream():
        n = 0
        async for _ in nat_s.acomplete_stream(**ARGS):
            n += 1
        return n

    async def nat_stream_sdk_form():
        r = await nat_s.complete_stream(**ARGS)
        n = 0
        async for _ in r.content:
            n += 1
        return n

    lib_version = getattr(humanloop_native, "lib_version", lambda: "?")
    print("async Python: humanloop_native %s (libhumanloop %s) vs official SDK humanloop 0.5.16 — %s" % (
        getattr(humanloop_native, "__version__", "?"), lib_version(), opts.label))
    if not use_binding:
        print("the binding's rows are SKIPPED: %s (gather skipped; streams: SDK and reference rows only)" % why)
    print("python %s; server %s (delay %s); gather of %d calls x %d rounds; %d streams of %d events "
          "(%d us apart) x %d rounds\n" % (sys.version.split()[0], opts.server, opts.delay_label, opts.calls,
                                          opts.rounds, opts.streams, opts.events, opts.event_gap_us,
                                          opts.stream_rounds))

    # warm-up: imports, the binding's engine and its connections (kept by the client, as in a
    # long-running program; the SDK opens a session and a connection per call anyway), the server's
    # answer cache, aiohttp. The first (cold) gather of each is printed, not counted.
    print("%-6s %-18s %9s %13s %12s %9s %14s" % ("round", "variant", "wall s", "cpu us/call", "wall/ideal",
                                                 "srv peak", "arrivals in ms"))
    ideal = opts.delay
    if opts.rounds:
        for name, acall in (("SDK 0.5.16", sdk.acomplete), ("humanloop_native", nat.acomplete)):
            wv = Variant(name)
            w, c, peak = await gather_phase(wv, acall, opts.calls, opts.server)
            print("%-6s %-18s %9.3f %13.1f %12.2f %9d %14.1f   (cold: not counted)" % (
                "warm", name, w, c / opts.calls * 1e6, w / ideal, peak, wv.spans[-1]))
    await sdk_stream()
    if use_binding:
        await nat_stream()

    a, b = Variant("SDK 0.5.16"), Variant("humanloop_native")
    for r in range(opts.rounds):
        pair = [(a, sdk.acomplete), (b, nat.acomplete)]
        if r % 2:
            pair.reverse()
        for v, acall in pair:
            w, c, peak = await gather_phase(v, acall, opts.calls, opts.server)
            print("%-6d %-18s %9.3f %13.1f %12.2f %9d %14.1f" % (r + 1, v.name, w, c / opts.calls * 1e6, w / ideal,
                                                               peak, v.spans[-1]))

    if opts.rounds and opts.hold_ms > 0:
        # The same gather with the server holding every request hold_ms: is anything capping the
        # concurrency? (At 50 ms the peak also depends on how fast 1000 requests reach the server.)
        hold_host = "%s/delay/%d/v4" % (opts.server, opts.hold_ms)
        for v_name, cls in (("SDK 0.5.16", humanloop.Humanloop), ("humanloop_native", humanloop_native.Humanloop)):
            hc = cls(api_key="bench-key", host=hold_host)
            hv = Variant(v_name)
            w, c, peak = await gather_phase(hv, hc.acomplete, opts.calls, opts.server)
            print("%-6s %-18s %9.3f %13.1f %12s %9d %14.1f   (server holds each request %d ms)" % (
                "hold", v_name, w, c / opts.calls * 1e6, "", peak, hv.spans[-1], opts.hold_ms))
            (a if v_name.startswith("SDK") else b).held = peak
            a.failures += hv.failures if v_name.startswith("SDK") else 0
            b.failures += hv.failures if not v_name.startswith("SDK") else 0

    ca, cb = Variant("SDK 0.5.16"), Variant("humanloop_native")
    if opts.concurrent and use_binding:
        for v, fn in ((Variant("SDK 0.5.16"), sdk_stream), (Variant("humanloop_native"), nat_stream)):
            w, c = await concurrent_phase(v, fn, opts.concurrent, opts.events)   # cold, not counted
            print("%-6s %-18s %9.3f %13.2f   (%d streams at once; cpu us per event; cold: not counted)" % (
                "warm", v.name, w, c / (opts.concurrent * opts.events) * 1e6, opts.concurrent))
        for r in range(opts.concurrent_rounds):
            pair = [(ca, sdk_stream), (cb, nat_stream)]
            if r % 2:
                pair.reverse()
            for v, fn in pair:
                w, c = await concurrent_phase(v, fn, opts.concurrent, opts.events)
                print("%-6d %-18s %9.3f %13.2f   (%d streams at once; cpu us per event)" % (
                    r + 1, v.name, w, c / (opts.concurrent * opts.events) * 1e6, opts.concurrent))

    sa, sb, sc = Variant("SDK 0.5.16"), Variant("humanloop_native"), Variant("native, SDK form")
    if not opts.stream_rounds:
        return a, b, sa, sb, sc, [], ca, cb
    refs = [(Variant(name), fn) for name, fn in reference_streams(opts, stream_host, json.dumps(ARGS).encode())]
    for _, fn in refs:
        await fn()
    for r in range(opts.stream_rounds):
        variants = [(sa, sdk_stream)] + ([(sb, nat_stream), (sc, nat_stream_sdk_form)] if use_binding else []) + refs
        if r % 2:
            variants.reverse()
        for v, fn in variants:
            await stream_phase(v, fn, opts.streams, opts.events)
    return a, b, sa, sb, sc, [v for v, _ in refs], ca, cb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="http://127.0.0.1:PORT of bench/slow_server.py")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--stream-rounds", type=int, default=7)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--event-gap-us", type=int, default=1000, help="server pause between two events (0: one burst)")
    ap.add_argument("--concurrent", type=int, default=0, help="streams at once in the concurrent row (0: no such row)")
    ap.add_argument("--concurrent-rounds", type=int, default=5)
    ap.add_argument("--hold-ms", type=int, default=1000, help="one more gather per variant with the server "
                    "holding each request this long (0: none)")
    ap.add_argument("--delay", type=float, default=0.05, help="the server's delay (for wall/ideal)")
    ap.add_argument("--label", default="bench/slow_server.py")
    ap.add_argument("--floor-lib", default="", help="bench/stream_floor.c built as a shared library "
                    "(the floor rows; bench/run.sh builds it)")
    ap.add_argument("--lib", default="", help="libhumanloop.so.0.2 for the reference rows (default: the one "
                    "the binding loads)")
    ap.add_argument("--binding", choices=("auto", "yes", "no"), default="auto",
                    help="the binding's rows: auto (run them if a probe of its async calls in a child "
                    "process works), yes, no")
    opts = ap.parse_args()
    opts.delay_label = "%g ms" % (opts.delay * 1000)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    a, b, sa, sb, sc, refs, ca, cb = asyncio.run(main_async(opts))

    print("\n%-8s %-18s %7s %12s %12s %10s" % ("row", "variant", "calls", "wall us", "cpu us", "fail"))
    for label, v in [("gather", a), ("gather", b), ("stream", sa), ("stream", sb), ("stream", sc)] + [
            ("stream", v) for v in refs] + [("concur.", ca), ("concur.", cb)]:
        if not v.calls:
            continue
        print("%-8s %-22s %7d %12.1f %12.1f %10d" % (label, v.name, v.calls, v.wall / v.calls * 1e6,
                                                      v.cpu / v.calls * 1e6, v.failures))
    print("\nratios humanloop_native / SDK (per call or stream; < 1: the binding is cheaper):")
    if a.calls:
        gather_ratios(opts, a, b)
    if sa.calls:
        stream_ratios(opts, sa, sb, sc, refs)
    if ca.calls:
        t, lo, hi = ratio("cpu", ca, cb, 1)
        print("  %d streams at once of %d events (%d us apart), CPU per event: SDK %.2f us, binding %.2f us" % (
            opts.concurrent, opts.events, opts.event_gap_us, ca.cpu / ca.calls * 1e6, cb.cpu / cb.calls * 1e6))
        print("  %-40s x%.2f median  (overall x%.2f; rounds %.2f..%.2f)" % (
            "binding, %d concurrent (goal <= 0.5):" % opts.concurrent, ratio.median, t, lo, hi))
        t, _, _ = ratio("wall", ca, cb, 0)
        print("  concurrent wall x%.2f (SDK %.3f s, binding %.3f s per round)" % (
            t, ca.wall / len(ca.rounds), cb.wall / len(cb.rounds)))
    print("load average at the end: %s" % " ".join("%.2f" % x for x in __import__("os").getloadavg()))
    failures = sum(v.failures for v in [a, b, sa, sb, sc, ca, cb] + refs)
    if failures:
        print("FAILURES: %d calls did not succeed" % failures)
        return 1
    return 0


def gather_ratios(opts, a, b):
    t, lo, hi = ratio("wall", a, b, 0)
    print("  gather of %d  wall x%.2f (median of rounds x%.2f; rounds %.2f..%.2f; goal <= 0.3)" % (
        opts.calls, t, ratio.median, lo, hi))
    t, lo, hi = ratio("cpu", a, b, 1)
    print("                  cpu  x%.2f (median of rounds x%.2f; rounds %.2f..%.2f; goal <= 0.15)" % (
        t, ratio.median, lo, hi))
    print("  gather wall: SDK %.3f s, binding %.3f s per gather (ideal %.3f s: one delay)" % (
        a.wall / len(a.rounds), b.wall / len(b.rounds), opts.delay))
    print("  server peak in flight: SDK %s, binding %s (target for the binding >= 900)" % (
        [r[3] for r in a.rounds], [r[3] for r in b.rounds]))
    print("  arrival span (ms, first to last request at the server): SDK %s, binding %s" % (
        [round(x) for x in a.spans], [round(x) for x in b.spans]))
    if b.held is not None:
        print("  server peak in flight when it holds each request %d ms: SDK %s, binding %s" % (
            opts.hold_ms, a.held, b.held))


def stream_ratios(opts, sa, sb, sc, refs):
    print("  CPU per stream of %d events (%d us apart), ratio to the SDK; median of the %d rounds' ratios, "
          "overall (sum/sum) and min..max:" % (opts.events, opts.event_gap_us, len(sa.rounds)))
    print("  CPU per event: SDK %.2f us%s" % (sa.cpu / sa.calls / opts.events * 1e6, ", binding %.2f us" % (
        sb.cpu / sb.calls / opts.events * 1e6) if sb.calls else ""))
    goal = "burst goal <= 0.5" if opts.event_gap_us == 0 else "goal <= 0.8"
    for label, v in ([("binding, async for (%s)" % goal, sb), ("binding, SDK form (await, r.content)", sc)]
                     if sb.calls else []) + [("reference, " + v.name, v) for v in refs]:
        t, lo, hi = ratio("cpu", sa, v, 1)
        print("  %-40s x%.2f median  (overall x%.2f; rounds %.2f..%.2f)" % (label + ":", ratio.median, t, lo, hi))
    if sb.calls:
        t3, _, _ = ratio("wall", sa, sb, 0)
        print("  stream wall x%.2f (both bound by the server's pacing)" % t3)


if __name__ == "__main__":
    sys.exit(main())
