"""The binding on host-driven loops (hl_loop).

* asyncio runs its calls and streams on a loop it drives itself, from ``add_reader`` on its
  own thread: no other thread (of Python or of the library) is involved;
* a consumer that falls behind pauses its stream (hl_call_pause) and catches up without losing
  or reordering an event, async and sync (two sync streams of one thread share its loop);
* blocking calls run their thread's loop in slices: Ctrl-C within 200 ms (asserted < 1 s), and an
  interrupted run keeps the items of the thread's other calls;
* after fork() the child never runs the parent's loops and makes new ones.

Each test that forks or counts the process's threads runs in a child interpreter (the in-process
test server has threads of its own)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from pathlib import Path

import pytest

import humanloop_native
from humanloop_native import Humanloop, _calls, _engine, _loops, _native
from hlpy_support import (API_KEY, CHILD_SIGINT_PRELUDE, MODEL_CONFIG, event, sigint_raises_keyboard_interrupt,
                          wait_for)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
OK_BODY = {"data": [], "provider_responses": []}


def run_child(code, *args, timeout=120):
    """Run ``code`` in a child interpreter with the package on its path; its last stdout line,
    parsed as JSON."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PACKAGE_DIR)] + sys.path))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                            text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def numbered_events(count):
    return [event(f"e{i}") for i in range(count)]


def outputs(events):
    return [e["data"][0]["output"] for e in events]


# -- asyncio: the event loop's thread only ---------------------------------------------------------

def test_asyncio_calls_and_streams_use_no_other_thread(srv):
    """While 50 acomplete and 5 async streams run, the process (a child interpreter) never has a
    thread besides the event loop's, and every item is handed over on that thread. (On the engine
    design the library's engine thread ran them and called into Python.) A batch then runs on the
    library's engine thread (hl_batch_submit): one native thread, no Python thread, and
    its queue is drained on the event loop's thread."""
    srv.script([{"stream": {"events": numbered_events(50), "delay": 0.002}}] * 5)
    outcome = run_child("""
        import asyncio, json, os, sys, threading
        from humanloop_native import Humanloop, _engine, _loops, _native

        def tasks():
            return set(os.listdir("/proc/self/task"))

        handed_over_on = set()
        real_notify = getattr(_engine, "_notify", None)  # where items reach their calls

        def notify(calls):
            handed_over_on.add(threading.get_ident())
            real_notify(calls)

        if real_notify is not None:
            _engine._notify = notify
        try:
            from humanloop_native import _batch
            real_drain = _batch._Run.drain

            def drain(run):
                handed_over_on.add(threading.get_ident())
                real_drain(run)

            _batch._Run.drain = drain
        except (ImportError, AttributeError):
            pass
        before = tasks()
        seen = set()

        async def watch(stop):
            while not stop.is_set():
                seen.update(tasks())
                await asyncio.sleep(0.001)

        async def stream(client):
            return [e["data"][0]["output"] async for e in client.acomplete_stream(model_config={"model": "m",
                                                                                  "prompt_template": "x"})]

        async def main():
            stop = asyncio.Event()
            watcher = asyncio.ensure_future(watch(stop))
            with Humanloop(api_key="k", host=sys.argv[1], max_retries=0) as client:
                mc = {"model": "m", "prompt_template": "{{i}}"}
                streams = await asyncio.gather(*(stream(client) for _ in range(5)))
                calls = await asyncio.gather(*(client.acomplete(model_config=mc, inputs={"i": i})
                                               for i in range(50)))
                await asyncio.sleep(0.01)
                before_batch = set(seen)
                batch = await client.acomplete_batch([{"model_config": mc, "inputs": {"i": i}} for i in range(20)])
            stop.set()
            await watcher
            return streams, calls, batch, before_batch

        streams, calls, batch, before_batch = asyncio.run(main())
        print(json.dumps({
            "new_threads": sorted(before_batch - before), "threads_before": len(before),
            "batch_threads": sorted(seen - before_batch - before),
            "python_threads": threading.active_count(),
            "handed_over_on": sorted(handed_over_on), "main": threading.get_ident(),
            "streams": streams,
            "calls": [c.body["data"][0]["inputs"]["i"] for c in calls],
            "batch": [r.body["data"][0]["inputs"]["i"] for r in batch],
        }))
    """, srv.base_url)
    assert outcome["new_threads"] == [], outcome["new_threads"]
    assert len(outcome["batch_threads"]) <= 1, outcome["batch_threads"]  # the library's engine thread
    assert outcome["python_threads"] == 1
    assert outcome["handed_over_on"] == [outcome["main"]]
    assert outcome["streams"] == [[f"e{i}" for i in range(50)]] * 5
    assert outcome["calls"] == list(range(50))
    assert outcome["batch"] == list(range(20))


def test_the_event_loop_has_one_loop_per_client_and_frees_it_on_close(srv):
    async def main():
        loop = asyncio.get_running_loop()
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            await client.acomplete(model_config=MODEL_CONFIG)
            driver = _loops.loop_driver_now(loop, client._native)
            assert isinstance(driver, _loops.LoopDriver) and driver.handle is not None
            fd = driver.fd
            assert fd in loop._selector.get_map()  # watched with add_reader
            await client.acomplete(model_config=MODEL_CONFIG)
            assert _loops.loop_driver_now(loop, client._native) is driver  # the same loop
        # closing the client (on the event loop's thread) frees the loop and stops watching it
        assert driver.handle is None
        assert fd not in loop._selector.get_map()

    asyncio.run(main())


def test_a_loop_is_freed_when_its_event_loop_is_collected(srv):
    import gc

    client = Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0)
    drivers = []

    async def main():
        await client.acomplete(model_config=MODEL_CONFIG)
        driver = _loops.loop_driver_now(asyncio.get_running_loop(), client._native)
        assert driver is not None and driver.handle is not None and driver not in drivers
        drivers.append(driver)

    asyncio.run(main())
    gc.collect()
    assert drivers[0].handle is None  # the event loop is gone: so is its hl_loop
    asyncio.run(main())  # a new event loop gets a new one
    gc.collect()
    assert drivers[1].handle is None
    assert client.complete(model_config=MODEL_CONFIG).status == 200  # the client goes on
    client.close()


def test_cancelled_tasks_leave_no_call_behind(fresh_server):
    fresh_server.script([{"delay": 30, "json": OK_BODY}] * 20)

    async def main():
        with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
            tasks = [asyncio.ensure_future(client.acomplete(model_config=MODEL_CONFIG)) for _ in range(20)]
            for _ in range(250):
                if fresh_server.stats()["requests"] == 20:
                    break
                await asyncio.sleep(0.02)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert _engine.pending_count() == 0
            for _ in range(250):
                if fresh_server.stats()["connections_open"] == 0:
                    break
                await asyncio.sleep(0.02)
            return fresh_server.stats()["connections_open"]

    assert asyncio.run(main()) == 0


# -- flow control ----------------------------------------------------------------------------------

EVENTS = 3000
#: The server paces its events (one every PACE s), so that each run of the loop reads a few of
#: them: without flow control, the slow consumer below falls more than a thousand behind.
PACE = 0.0005
#: What a paused stream may still buffer: the high-water mark, a run's worth of items and what
#: libcurl had read before the pause took effect.
BUFFER_BOUND = getattr(_calls, "HIGH_WATER", 256) + getattr(_engine, "BATCH", 256) + 200


def test_a_slow_async_consumer_pauses_the_stream(fresh_server):
    fresh_server.script([{"stream": {"events": numbered_events(EVENTS), "delay": PACE}}])
    paused = []
    buffered = []

    async def main():
        with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
            stream = client.acomplete_stream(model_config=MODEL_CONFIG)
            received = []
            async for e in stream:
                received.append(e)
                call = stream._call
                buffered.append(len(call.inbox))
                paused.append(call.paused)
                if len(received) <= 100:
                    await asyncio.sleep(0.015)  # slow at first: the server gets far ahead
            return received, stream

    received, stream = asyncio.run(main())
    assert outputs(received) == [f"e{i}" for i in range(EVENTS)]  # all of them, in order
    assert stream.done and stream.event_count == EVENTS
    assert any(paused), "the stream was never paused"
    assert not paused[-1], "the stream was not resumed"
    assert max(buffered) <= BUFFER_BOUND, max(buffered)


def test_two_sync_streams_in_one_thread_share_its_loop_and_the_idle_one_is_paused(fresh_server):
    """Stream B is opened, then stream A is read to its end: B's events are handed to B's own
    buffer by A's runs of the thread's loop, and B is paused while nobody reads it; then B
    delivers every event in order."""
    fresh_server.script([{"stream": {"events": numbered_events(EVENTS), "delay": PACE}},
                         {"stream": {"events": [event(f"a{i}") for i in range(200)], "delay": 0.01}}])
    with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
        b = client.complete_stream(model_config=MODEL_CONFIG)
        first_b = next(b)
        assert wait_for(lambda: fresh_server.stats()["requests"] == 1)
        a = client.complete_stream(model_config=MODEL_CONFIG)
        assert outputs(a) == [f"a{i}" for i in range(200)]
        assert b._call.driver is a._call.driver  # the thread's one loop of this client
        assert b._call.paused, "the unread stream was not paused"
        assert len(b._call.inbox) <= BUFFER_BOUND
        rest = list(b)
        assert outputs([first_b] + rest) == [f"e{i}" for i in range(EVENTS)]
        assert not b._call.paused and b.done


# -- blocking calls: slices, Ctrl-C -----------------------------------------------------------------

def _sigint_after(delay):
    """SIGINT to this process (its main thread) after ``delay`` s; returns (thread, sent-time box)."""
    sent = []

    def run():
        time.sleep(delay)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, sent


def test_ctrl_c_reaches_a_blocking_call_within_200ms(fresh_server):
    """Target 200 ms (slices of at most 100 ms); asserted < 1 s for loaded machines."""
    fresh_server.script([{"delay": 30, "json": OK_BODY}])
    with sigint_raises_keyboard_interrupt(), \
            Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
        thread, sent = _sigint_after(0.5)
        with pytest.raises(KeyboardInterrupt):
            client.complete(model_config=MODEL_CONFIG)
        latency = time.monotonic() - sent[0]
        thread.join()
        print(f"Ctrl-C latency: {latency * 1000:.0f} ms")
        assert latency < 1.0
        assert _engine.pending_count() == 0
        assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_ctrl_c_keeps_the_items_of_the_threads_other_calls(fresh_server):
    """Ctrl-C while next() of stream A waits: A is closed, and stream B of the same thread's loop,
    whose events arrived meanwhile, still delivers every one of them in order."""
    fresh_server.script([{"stream": {"events": [event("a0")], "hold_after": 1, "hold": 30}},
                         {"stream": {"events": numbered_events(300), "delay": 0.002}}])
    with sigint_raises_keyboard_interrupt(), \
            Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
        a = client.complete_stream(model_config=MODEL_CONFIG)
        assert outputs([next(a)]) == ["a0"]
        b = client.complete_stream(model_config=MODEL_CONFIG)
        first_b = next(b)
        thread, _ = _sigint_after(0.4)
        with pytest.raises(KeyboardInterrupt):
            next(a)
        thread.join()
        assert a.closed
        assert outputs([first_b] + list(b)) == [f"e{i}" for i in range(300)]
        assert _engine.pending_count() == 0


def test_an_interrupted_run_hands_over_its_items():
    """_rescue: the items of a run that a KeyboardInterrupt cut short are recovered from the item
    array (entries not handed over are still set) and go to their calls."""
    with Humanloop(api_key=API_KEY, host="http://127.0.0.1:9/v4", max_retries=0) as client:
        native, handle = client._acquire()
        try:
            driver = _loops.thread_driver(native, handle, None)
            first = driver.submit(b"complete", b"{}", None)   # invalid requests: results at once
            second = driver.submit(b"complete", b"{}", None)
            real_take = driver._take
            calls = {"n": 0}

            def interrupted_take(count):
                calls["n"] += 1
                if calls["n"] == 1:
                    raise KeyboardInterrupt  # as if Ctrl-C landed right after hl_loop_run returned
                return real_take(count)

            driver._take = interrupted_take
            with pytest.raises(KeyboardInterrupt):
                while not (first.inbox and second.inbox):
                    driver._step(100)
            assert calls["n"] == 2  # the rescue handed them over
            for call in (first, second):
                kind, raw = call.take()
                assert kind == _native.ITEM_RESULT
                assert json.loads(raw)["error"]["type"] == "invalid_request"
                assert not call.inbox
                call.free()
        finally:
            native.release()


def test_blocking_calls_of_a_thread_reuse_its_loop_and_threads_have_their_own(srv):
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        client.complete(model_config=MODEL_CONFIG)
        mine = _loops._local.drivers[client._native]
        client.complete(model_config=MODEL_CONFIG)
        assert _loops._local.drivers[client._native] is mine
        other = []

        def worker():
            client.complete(model_config=MODEL_CONFIG)
            driver = _loops._local.drivers[client._native]
            other.append((driver is mine, weakref.ref(driver)))

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert other[0][0] is False  # a loop of its own
        assert wait_for(lambda: other[0][1]() is None)  # freed (hl_loop_free) when its thread ended
    assert mine.handle is None  # freed with the client
    records = srv.requests()
    assert records[0]["connection"] == records[1]["connection"]


def test_a_call_still_works_when_a_sync_stream_moves_to_another_thread(srv):
    srv.script([{"stream": {"events": numbered_events(20), "delay": 0.005}}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        stream = client.complete_stream(model_config=MODEL_CONFIG)
        first = next(stream)
        rest = []
        thread = threading.Thread(target=lambda: rest.extend(stream))
        thread.start()
        thread.join(30)
        assert outputs([first] + rest) == [f"e{i}" for i in range(20)]


# -- fork -----------------------------------------------------------------------------------------

def test_fork_child_makes_new_loops(srv):
    """The parent has used a thread loop and an event loop's loop; a forked child never runs
    them (they are forgotten: handle None), makes its own, and gets its own answers, blocking,
    streamed and async; the parent's loops still work afterwards."""
    outcome = run_child("""
        import asyncio, json, os, sys
        from humanloop_native import Humanloop, _engine, _loops, _native

        client = Humanloop(api_key="k", host=sys.argv[1], max_retries=0, timeout=10)
        mc = {"model": "m", "prompt_template": "{{q}}"}

        async def acall(tag):
            return (await client.acomplete(model_config=mc, inputs={"q": tag})).body["data"][0]["inputs"]["q"]

        loop = asyncio.new_event_loop()
        assert loop.run_until_complete(acall("parent-async")) == "parent-async"
        assert client.complete(model_config=mc, inputs={"q": "parent"}).body["data"][0]["inputs"]["q"] == "parent"
        parent_thread_loop = _loops._local.drivers[client._native]
        parent_event_loop_loop = _loops.loop_driver_now(loop, client._native)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            report = {}
            try:
                report["forgotten"] = parent_thread_loop.handle is None and parent_event_loop_loop.handle is None
                tag = "child-%d" % os.getpid()
                report["blocking"] = client.complete(model_config=mc, inputs={"q": tag}).body["data"][0]["inputs"]["q"] == tag
                report["new_loop"] = _loops._local.drivers[client._native] is not parent_thread_loop
                report["stream"] = len(list(client.complete_stream(model_config=mc))) == 4
                report["async"] = asyncio.run(acall(tag + "-async")) == tag + "-async"
                client.close()
            except BaseException as exc:
                report["error"] = repr(exc)
            os.write(write, json.dumps(report).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as r:
            report = json.loads(r.read() or "{}")
        os.waitpid(pid, 0)
        report["parent_after"] = client.complete(model_config=mc, inputs={"q": "after"}).body["data"][0]["inputs"]["q"]
        report["parent_async_after"] = loop.run_until_complete(acall("after-async"))
        report["parent_loops_kept"] = parent_thread_loop.handle is not None and parent_event_loop_loop.handle is not None
        loop.close()
        client.close()
        print(json.dumps(report))
    """, srv.base_url)
    assert outcome == {"forgotten": True, "blocking": True, "new_loop": True, "stream": True, "async": True,
                       "parent_after": "after", "parent_async_after": "after-async", "parent_loops_kept": True}


def test_child_interpreter_ctrl_c_within_200ms_with_its_own_handler(fresh_server, tmp_path):
    """A sync stream waiting in a child interpreter (SIGINT possibly ignored by the parent's job
    control: the child sets the handler): KeyboardInterrupt within 200 ms (asserted < 1 s)."""
    fresh_server.script([{"stream": {"events": [event("a")], "hold_after": 1, "hold": 30}}])
    script = tmp_path / "child.py"
    script.write_text(
        CHILD_SIGINT_PRELUDE +
        "import sys, time\n"
        f"sys.path.insert(0, {str(PACKAGE_DIR)!r})\n"
        "from humanloop_native import Humanloop\n"
        f"client = Humanloop(api_key='k', host={fresh_server.base_url!r}, max_retries=0)\n"
        "stream = client.complete_stream(model_config={'model': 'm', 'prompt_template': 'x'})\n"
        "next(stream)\n"
        "print('READY', flush=True)\n"
        "try:\n"
        "    next(stream)\n"
        "    print('RETURNED', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('INTERRUPTED %.6f' % time.monotonic(), flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "READY"
        time.sleep(0.3)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert out.startswith("INTERRUPTED"), out
    latency = float(out.split()[1]) - sent
    assert latency < 1.0, f"KeyboardInterrupt came {latency:.3f} s after SIGINT"
    assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)


def test_the_binding_uses_no_engine_callback():
    """Nothing of the binding may start calls with hl_call_start (its callback signature is
    changing) or keep a ctypes callback for items."""
    package = Path(humanloop_native.__file__).resolve().parent
    for path in package.glob("*.py"):
        text = path.read_text()
        assert "hl_call_start" not in text, path
        assert "CALL_CALLBACK" not in text, path
        assert "call_soon_threadsafe" not in text, path


def test_a_closed_event_loops_loop_is_freed_when_another_event_loop_starts_calls(srv):
    """An event loop that is closed but still referenced: its loop (and connections) go as soon
    as another event loop makes its first call, or with the client."""
    client = Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0)
    first = asyncio.new_event_loop()
    first.run_until_complete(client.acomplete(model_config=MODEL_CONFIG))
    driver = _loops.loop_driver_now(first, client._native)
    first.close()
    assert driver.handle is not None  # `first` is still referenced here
    asyncio.run(client.acomplete(model_config=MODEL_CONFIG))
    assert driver.handle is None
    client.close()


def test_an_async_stream_closed_from_another_thread_ends_its_iteration(fresh_server):
    """close() from another thread: the waiting ``async for`` is woken through the loop's
    descriptor (no call_soon_threadsafe) and ends; the connection closes."""
    fresh_server.script([{"stream": {"events": [event("a")], "hold_after": 1, "hold": 30}}])

    async def main():
        with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
            stream = client.acomplete_stream(model_config=MODEL_CONFIG)
            seen = []
            closer = threading.Timer(0.3, stream.close)

            async def consume():
                async for e in stream:
                    seen.append(e)
                    if len(seen) == 1:
                        closer.start()

            await asyncio.wait_for(consume(), 10)
            closer.join()
            return seen, stream

    seen, stream = asyncio.run(main())
    assert outputs(seen) == ["a"] and stream.closed
    assert wait_for(lambda: fresh_server.stats()["connections_open"] == 0)
