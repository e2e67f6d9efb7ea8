#!/usr/bin/env python3
"""bench_python.py — the Python binding (humanloop_native, over libhumanloop) against the
official SDK humanloop==0.5.16, in ONE process, same calls, same local server.

Rows:
  complete   N sequential ``client.complete(...)`` calls (blocking, one client each, reused).
  stream     N/4 streaming calls, every event consumed: the binding's synchronous
             ``complete_stream`` iterator vs the SDK's ``await complete_stream(...)`` async
             generator (aiohttp), driven by one persistent event loop.
  threads    T threads (default 32) calling ``client.complete(...)`` at once on one shared
             client per variant, M calls in all (default 100 per thread); CPU of the process
             per call (issue 17's "32 threads x complete()"). The SDK's urllib3 pool is sized
             to T connections (its default is 5 x CPUs = 10 here: with 32 threads it would
             open and discard a connection per call beyond 10, which the binding never does).
Variants run in R rounds in alternating order (AB BA AB ...). Measured per call: wall time
(time.perf_counter) and CPU time of this process (time.process_time; the server is another
process). Printed: a table and the ratios binding/SDK (< 1 means the binding is cheaper).

Usage (bench/run.sh python does all this, with a venv that has the SDK):
  PYTHONPATH=bindings/python python bench/bench_python.py --url=http://127.0.0.1:PORT/v4
      [--stream-url=URL] [--calls=1000] [--rounds=10] [--warmup=50] [--stream-calls=N]
      [--threads=32] [--thread-calls=N] [--only=complete,stream,threads]
"""

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import threading
import time

ARGS = dict(
    project="bench",
    model_config={"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{question}}",
                  "temperature": 0.7, "max_tokens": -1},
    inputs={"question": "What do llamas eat?"},
)
OUTPUT = "Hello from the test server"


class Variant:
    def __init__(self, name, call):
        self.name, self.call = name, call
        self.wall, self.cpu, self.calls, self.failures = 0.0, 0.0, 0, 0
        self.lat = []
        self.rounds = []  # (wall, cpu, calls)

    def phase(self, n):
        call, lat = self.call, self.lat
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            t = time.perf_counter()
            try:
                if not call():
                    self.failures += 1
            except Exception as e:  # noqa: BLE001 — a benchmark counts, it does not stop
                if self.failures < 3:
                    print("  %s: %r" % (self.name, e), file=sys.stderr)
                self.failures += 1
            lat.append(time.perf_counter() - t)
        w, c = time.perf_counter() - w0, time.process_time() - c0
        self.wall += w
        self.cpu += c
        self.calls += n
        self.rounds.append((w, c, n))

    def threaded_phase(self, n, threads):
        """n calls from `threads` threads at once (n // threads each); the threads are started
        before the clock and released together by a barrier."""
        call, lat, per = self.call, self.lat, n // threads
        failures = []
        go = threading.Barrier(threads + 1)

        def worker():
            go.wait()
            bad = 0
            for _ in range(per):
                t = time.perf_counter()
                try:
                    if not call():
                        bad += 1
                except Exception as e:  # noqa: BLE001
                    if not failures and bad == 0:
                        print("  %s: %r" % (self.name, e), file=sys.stderr)
                    bad += 1
                lat.append(time.perf_counter() - t)  # list.append: atomic under the GIL
            failures.append(bad)

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        w0, c0 = time.perf_counter(), time.process_time()
        go.wait()
        for t in ts:
            t.join()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        self.failures += sum(failures)
        self.wall += w
        self.cpu += c
        self.calls += per * threads
        self.rounds.append((w, c, per * threads))


def run_pair(a, b, calls, rounds, warmup, threads=0, extra=None):
    """a and b (and `extra`, a reference row, when given) in alternating order round by round."""
    vs = [a, b] + ([extra] if extra else [])
    for _ in range(warmup):
        for v in vs:
            v.call()
    gc.collect()
    per = calls // rounds
    for r in range(rounds):
        n = calls - per * (rounds - 1) if r == rounds - 1 else per
        for v in (vs if r % 2 == 0 else vs[::-1]):
            if threads:
                v.threaded_phase(n, threads)
            else:
                v.phase(n)


def c_api_floor(url, payload):
    """The floor under the binding's blocking call: the C API's hl_complete through ctypes with
    the least Python (the request's bytes made once, the envelope's prefix checked, no parse).
    Returns a call for Variant, or None when the library cannot be loaded."""
    import ctypes
    import humanloop_native._native as native
    lib = getattr(native, "lib", None)
    if lib is None:
        return None
    complete = lib.hl_complete
    free = lib.hl_free
    err = ctypes.c_void_p()
    new = lib.hl_client_new
    client = new(json.dumps({"api_key": "bench-key", "host": url}).encode(), ctypes.byref(err))
    if not client:
        return None
    prefix = b'{"ok":true,'
    string_at = ctypes.string_at

    def call():
        env = complete(client, payload)
        ok = string_at(env, 11) == prefix
        free(env)
        return ok
    return call


def row(label, v):
    lat = sorted(v.lat)
    p50 = lat[len(lat) // 2] if lat else 0
    p99 = lat[min(len(lat) - 1, int(0.99 * (len(lat) - 1) + 0.5))] if lat else 0
    print("%-10s %-16s %7d %10.1f %9.1f %9.1f %10.1f %5d" % (
        label, v.name, v.calls, v.wall / v.calls * 1e6, p50 * 1e6, p99 * 1e6, v.cpu / v.calls * 1e6,
        v.failures))


def ratio(what, base, lib, idx):
    total = (getattr(lib, what) / lib.calls) / (getattr(base, what) / base.calls)
    per_round = [(lr[idx] / lr[2]) / (br[idx] / br[2]) for br, lr in zip(base.rounds, lib.rounds)
                 if br[idx] > 0]
    spread = "(median x%.2f; rounds %.2f..%.2f)" % (
        statistics.median(per_round), min(per_round), max(per_round)) if per_round else ""
    return "x%.2f %s" % (total, spread)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--stream-url")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--stream-calls", type=int)
    ap.add_argument("--label", default="Python test server")
    ap.add_argument("--threads", type=int, default=32, help="threads of the threads row (0: no such row)")
    ap.add_argument("--thread-calls", type=int, help="calls per variant in the threads row "
                    "(default 100 per thread)")
    ap.add_argument("--only", default="complete,stream,threads", help="rows to run")
    opts = ap.parse_args()
    only = set(x.strip() for x in opts.only.split(","))
    stream_url = opts.stream_url or opts.url
    stream_calls = opts.stream_calls if opts.stream_calls is not None else max(opts.rounds, opts.calls // 4)
    if "stream" not in only:
        stream_calls = 0
    threads = opts.threads if "threads" in only else 0
    thread_calls = opts.thread_calls if opts.thread_calls is not None else 100 * threads

    import humanloop
    import humanloop_native

    sdk = humanloop.Humanloop(api_key="bench-key", host=opts.url)
    nat = humanloop_native.Humanloop(api_key="bench-key", host=opts.url)
    sdk_s = humanloop.Humanloop(api_key="bench-key", host=stream_url) if stream_url != opts.url else sdk
    nat_s = humanloop_native.Humanloop(api_key="bench-key", host=stream_url) if stream_url != opts.url else nat
    # the threads row: one client per variant shared by all the threads; the SDK's pool gets one
    # connection per thread (see the docstring)
    sdk_t = humanloop.Humanloop(api_key="bench-key", host=opts.url)
    if threads:
        from humanloop import rest
        api = sdk_t.completions.api_client
        api.rest_client = rest.RESTClientObject(api.configuration, maxsize=threads)
    nat_t = humanloop_native.Humanloop(api_key="bench-key", host=opts.url)

    def sdk_complete():
        r = sdk.complete(**ARGS)
        return r.status == 200 and r.body["data"][0]["output"] == OUTPUT

    def nat_complete():
        r = nat.complete(**ARGS)
        return r.status == 200 and r.body["data"][0]["output"] == OUTPUT

    def sdk_complete_t():
        r = sdk_t.complete(**ARGS)
        return r.status == 200 and r.body["data"][0]["output"] == OUTPUT

    def nat_complete_t():
        r = nat_t.complete(**ARGS)
        return r.status == 200 and r.body["data"][0]["output"] == OUTPUT

    loop = asyncio.new_event_loop()

    async def sdk_stream_async():
        resp = await sdk_s.complete_stream(**ARGS)
        n = 0
        async for _ in resp.content:
            n += 1
        return n

    def sdk_stream():
        # The SDK 0.5.16 drops an event whose text contains "data:" (its SSE parsing splits on it),
        # so it yields 3 of the server's 4 events; count >= 3 as a success.
        return loop.run_until_complete(sdk_stream_async()) >= 3

    def nat_stream():
        return sum(1 for _ in nat_s.complete_stream(**ARGS)) == 4

    print("Python binding humanloop_native %s (libhumanloop %s) vs official SDK humanloop %s — %s" % (
        humanloop_native.__version__, humanloop_native.lib_version(),
        getattr(humanloop, "__version__", "0.5.16"), opts.label))
    print("python %s; url %s; calls/variant %d, rounds %d (AB BA ...), warm-up %d; threads row: %d threads, "
          "%d calls/variant" % (sys.version.split()[0], opts.url, opts.calls, opts.rounds, opts.warmup, threads,
                                thread_calls if threads else 0))
    print("machine: %d CPUs, load average %s\n" % (os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))

    floor_call = c_api_floor(opts.url, nat._prepare(dict(ARGS))[0])
    a, b = Variant("SDK 0.5.16", sdk_complete), Variant("humanloop_native", nat_complete)
    fa = Variant("floor: C hl_complete", floor_call) if floor_call else None
    if "complete" in only:
        run_pair(a, b, opts.calls, opts.rounds, opts.warmup, extra=fa)
    sa, sb = Variant("SDK 0.5.16", sdk_stream), Variant("humanloop_native", nat_stream)
    if stream_calls > 0:
        run_pair(sa, sb, stream_calls, opts.rounds, max(1, opts.warmup // 4))
    loop.close()
    ta, tb = Variant("SDK 0.5.16", sdk_complete_t), Variant("humanloop_native", nat_complete_t)
    tf = Variant("floor: C hl_complete", floor_call) if floor_call else None
    if threads:
        # warm-up: every thread's connection (and the binding's per-thread loop) exists first
        run_pair(ta, tb, 2 * threads, 1, 0, threads, extra=tf)
        ta, tb = Variant("SDK 0.5.16", sdk_complete_t), Variant("humanloop_native", nat_complete_t)
        tf = Variant("floor: C hl_complete", floor_call) if floor_call else None
        run_pair(ta, tb, thread_calls, opts.rounds, 0, threads, extra=tf)

    print("%-10s %-16s %7s %10s %9s %9s %10s %5s" % (
        "row", "variant", "calls", "wall us", "p50 us", "p99 us", "cpu us", "fail"))
    if a.calls:
        row("complete", a)
        row("complete", b)
        if fa:
            row("complete", fa)
    if stream_calls > 0:
        row("stream", sa)
        row("stream", sb)
    if threads:
        row("%d thr" % threads, ta)
        row("%d thr" % threads, tb)
        if tf:
            row("%d thr" % threads, tf)
    print("\nratios humanloop_native / SDK (per call; < 1: the binding is cheaper; median: of the rounds' ratios):")
    if a.calls:
        print("  complete  wall %s   cpu %s" % (ratio("wall", a, b, 0), ratio("cpu", a, b, 1)))
        print("            p50 wall x%.2f" % (statistics.median(b.lat) / statistics.median(a.lat)))
        if fa:
            print("  reference, floor: C hl_complete via ctypes / SDK: cpu %s" % ratio("cpu", a, fa, 1))
    if stream_calls > 0:
        print("  stream    wall %s   cpu %s" % (ratio("wall", sa, sb, 0), ratio("cpu", sa, sb, 1)))
    if threads:
        print("  %d threads x complete()  wall %s   cpu %s  (goal: cpu <= 0.25)" % (
            threads, ratio("wall", ta, tb, 0), ratio("cpu", ta, tb, 1)))
        if tf:
            print("  reference, floor: C hl_complete via ctypes from %d threads / SDK: cpu %s" % (
                threads, ratio("cpu", ta, tf, 1)))
    failures = (a.failures + b.failures + sa.failures + sb.failures + ta.failures + tb.failures
                + (fa.failures if fa else 0) + (tf.failures if tf else 0))
    if failures:
        print("FAILURES: %d calls did not succeed" % failures)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
