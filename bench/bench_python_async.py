#!/usr/bin/env python3
"""bench_python_async.py — async Python: the binding humanloop_native (its acomplete and async
streams run on libhumanloop's engine) against the official SDK humanloop==0.5.16 (aiohttp), in
ONE process and ONE event loop, against bench/slow_server.py (every answer after 50 ms; it holds
any number of requests at once). Issue 10, "Measured in bench/". Rows:

  gather   ``await asyncio.gather(*(client.acomplete(**ARGS) for _ in range(N)))``, N = 1000:
           wall (time.perf_counter) and client CPU (time.process_time: every thread of this
           process, the library's engine thread included) per call; the server's peak number of
           requests in flight during the gather (its /stats route, read outside the timed part).
  stream   M async streams of 100 events each, one after the other, every event consumed:
           the SDK's ``r = await complete_stream(...); async for _ in r.content`` vs the binding's
           ``async for ev in acomplete_stream(...)`` (and, as a second binding row, the same
           SDK-style code ``r = await complete_stream(...)`` on the binding). CPU per stream.
           Two reference rows (not the binding) show what the design issue 10 pins costs by
           itself: "C API, minimal" consumes the same stream through ``hl_call_start`` with the
           least Python possible (callback on the engine thread: copy the item, ``hl_free``,
           append to a deque, ``loop.call_soon_threadsafe`` to wake the loop, which parses it);
           "design floor" runs that same Python against bench/stream_floor.c, an "engine" that
           costs nothing (a C thread that polls, reads and cuts out the events: no libcurl, no
           Swift, no JSON check); "floor + jansson check" adds the one per-event work issue 9
           requires of any implementation (jansson parses each event before it is passed on).
           What the floor rows cost above the SDK, no implementation of the pinned design can save.
Variants run in R rounds in alternating order (AB BA ...), after one uncounted (cold) gather of
each; ratios binding / SDK (< 1: the binding is cheaper), overall and min..max over the rounds.

Usage (bench/run.sh python-async starts the server and picks the venv that has the SDK):
  PYTHONPATH=bindings/python python bench/bench_python_async.py --server=http://127.0.0.1:PORT
      [--calls=1000] [--rounds=4] [--streams=8] [--stream-rounds=6] [--events=100]
      [--floor-lib=build/bench/libstream_floor.so]
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
    per_round = [(lr[idx] / lr[2]) / (br[idx] / br[2]) for br, lr in zip(base.rounds, lib.rounds) if br[idx] > 0]
    return total, min(per_round), max(per_round)


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


class MinimalConsumer:
    """The least Python that consumes a stream the pinned way (see the module's docstring): one
    ctypes callback for the process, run on the library's thread; the event loop parses."""

    def __init__(self, free):
        from humanloop_native._native import CALL_CALLBACK

        self.free = free
        self.items = collections.deque()
        self.loop = None
        self.waiter = None
        self.wake = False
        self.threads = set()
        self.callback = CALL_CALLBACK(self.on_item)

    def on_item(self, _call, item, _user_data):  # the library's thread
        thread = threading.get_ident()
        if thread not in self.threads:  # one Python thread state for good, as the binding does
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
        """Counts the events of one stream begun by ``start()``; its terminal item ends it."""
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


def reference_streams(opts, host, body):
    """The two reference stream consumers: (name, coroutine function) pairs."""
    from humanloop_native._native import lib, lib_holding_gil

    refs = []
    client = lib.hl_client_new(json.dumps({"api_key": "bench-key", "host": host}).encode(), None)
    capi = MinimalConsumer(lib_holding_gil.hl_free)

    async def capi_stream():
        call = []
        try:
            return await capi.events(lambda: call.append(lib.hl_call_start(
                client, b"complete", body, b'{"stream":true}', capi.callback, None)))
        finally:
            lib.hl_call_free(call[0])

    refs.append(("C API, minimal", capi_stream))
    if not opts.floor_lib:
        return refs
    floor = ctypes.CDLL(opts.floor_lib)
    floor.floor_stream.argtypes = [ctypes.c_int, type(capi.callback), ctypes.c_int]
    libc_free = ctypes.PyDLL(None).free
    libc_free.argtypes = [ctypes.c_void_p]
    floor_consumer = MinimalConsumer(libc_free)
    u = urllib.parse.urlsplit(host)
    stream_body = json.dumps(dict(json.loads(body), stream=True)).encode()
    request = ("POST %s/completion HTTP/1.1\r\nHost: %s\r\nX-API-KEY: bench-key\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (u.path, u.netloc, len(stream_body))).encode() + stream_body
    conn = []

    def floor_starter(check):
        def start():
            if not conn:  # one keep-alive connection, as the library keeps its own
                conn.append(socket.create_connection((u.hostname, u.port)))
            conn[0].sendall(request)
            if floor.floor_stream(conn[0].fileno(), floor_consumer.callback, check) != 0:
                raise RuntimeError("floor_stream failed")
        return start

    for name, check in (("design floor", 0), ("floor + jansson check", 1)):
        async def floor_stream(start=floor_starter(check)):
            return await floor_consumer.events(start)
        refs.append((name, floor_stream))
    return refs


async def main_async(opts):
    import humanloop
    import humanloop_native

    host = opts.server + "/v4"
    stream_host = "%s/events/%d/gap/%d/v4" % (opts.server, opts.events, opts.event_gap_us)
    sdk = humanloop.Humanloop(api_key="bench-key", host=host)
    nat = humanloop_native.Humanloop(api_key="bench-key", host=host)
    sdk_s = humanloop.Humanloop(api_key="bench-key", host=stream_host)
    nat_s = humanloop_native.Humanloop(api_key="bench-key", host=stream_host)

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

    print("async Python: humanloop_native %s (libhumanloop %s) vs official SDK humanloop 0.5.16 — %s" % (
        humanloop_native.__version__, humanloop_native.lib_version(), opts.label))
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

    sa, sb, sc = Variant("SDK 0.5.16"), Variant("humanloop_native"), Variant("native, SDK form")
    refs = [(Variant(name), fn) for name, fn in reference_streams(opts, stream_host, json.dumps(ARGS).encode())]
    for _, fn in refs:
        await fn()
    for r in range(opts.stream_rounds):
        variants = [(sa, sdk_stream), (sb, nat_stream), (sc, nat_stream_sdk_form)] + refs
        if r % 2:
            variants.reverse()
        for v, fn in variants:
            await stream_phase(v, fn, opts.streams, opts.events)
    return a, b, sa, sb, sc, [v for v, _ in refs]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="http://127.0.0.1:PORT of bench/slow_server.py")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--stream-rounds", type=int, default=6)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--event-gap-us", type=int, default=1000, help="server pause between two events (0: one burst)")
    ap.add_argument("--hold-ms", type=int, default=1000, help="one more gather per variant with the server "
                    "holding each request this long (0: none)")
    ap.add_argument("--delay", type=float, default=0.05, help="the server's delay (for wall/ideal)")
    ap.add_argument("--label", default="bench/slow_server.py")
    ap.add_argument("--floor-lib", default="", help="bench/stream_floor.c built as a shared library "
                    "(the design-floor row; bench/run.sh builds it)")
    opts = ap.parse_args()
    opts.delay_label = "%g ms" % (opts.delay * 1000)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    a, b, sa, sb, sc, refs = asyncio.run(main_async(opts))

    print("\n%-8s %-18s %7s %12s %12s %10s" % ("row", "variant", "calls", "wall us", "cpu us", "fail"))
    for label, v in [("gather", a), ("gather", b), ("stream", sa), ("stream", sb), ("stream", sc)] + [
            ("stream", v) for v in refs]:
        if not v.calls:
            continue
        print("%-8s %-22s %7d %12.1f %12.1f %10d" % (label, v.name, v.calls, v.wall / v.calls * 1e6,
                                                      v.cpu / v.calls * 1e6, v.failures))
    print("\nratios humanloop_native / SDK (per call or stream; < 1: the binding is cheaper):")
    if a.calls:
        gather_ratios(opts, a, b)
    if sa.calls:
        stream_ratios(opts, sa, sb, sc, refs)
    failures = sum(v.failures for v in [a, b, sa, sb, sc] + refs)
    if failures:
        print("FAILURES: %d calls did not succeed" % failures)
        return 1
    return 0


def gather_ratios(opts, a, b):
    t, lo, hi = ratio("wall", a, b, 0)
    print("  gather of %d  wall x%.2f (rounds %.2f..%.2f; target <= 0.5)" % (opts.calls, t, lo, hi))
    t, lo, hi = ratio("cpu", a, b, 1)
    print("                  cpu  x%.2f (rounds %.2f..%.2f; target <= 0.5)" % (t, lo, hi))
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
    t, lo, hi = ratio("cpu", sa, sb, 1)
    print("  stream of %d events, async for:  cpu x%.2f (rounds %.2f..%.2f; target <= 1)" % (opts.events, t, lo, hi))
    t2, lo2, hi2 = ratio("cpu", sa, sc, 1)
    print("  stream, SDK form (await, r.content): cpu x%.2f (rounds %.2f..%.2f)" % (t2, lo2, hi2))
    for v in refs:
        t4, lo4, hi4 = ratio("cpu", sa, v, 1)
        print("  reference, %-23s cpu x%.2f (rounds %.2f..%.2f)" % (v.name + ":", t4, lo4, hi4))
    t3, _, _ = ratio("wall", sa, sb, 0)
    print("  stream wall x%.2f (both bound by the server's pacing)" % t3)


if __name__ == "__main__":
    sys.exit(main())
