"""Calls on libhumanloop's loops (``hl_loop``), run by the thread that waits for them.

No thread of the library runs code of the binding: every call is submitted to a loop
(``hl_loop_submit``) and makes progress only inside ``hl_loop_run``, which the binding calls on
the thread that wants the items (only the library's log callback, see ``_logging``, runs Python
code inside ``hl_loop_run``, on that same thread).

Drivers
-------
A ``Driver`` owns one ``hl_loop`` of one native client and the calls submitted to it, by key.
One thread runs it at a time (its ``_runner`` lock); any thread may submit, cancel, pause or free
a call of it.

* ``LoopDriver`` (asyncio): one per (event loop, native client), made on the event loop's thread
  at its first call and watched with ``loop.add_reader(hl_loop_fd(l), run0)``. ``run0`` calls
  ``hl_loop_run(l, 0, items, 256)`` once per wake-up (a run that stopped at 256 leaves the fd
  readable, so the event loop calls it again) and wakes the futures and stream iterators of the
  calls that got items. Freed when its client is released, when its event loop is garbage-
  collected, or at interpreter exit; always on the event loop's thread, or once nobody can run it.
* ``Driver`` per thread (``threading.local``), one per native client: blocking calls, sync
  streams and ``complete_batch`` run it in slices of at most 100 ms (``run_slice``) until the item
  they wait for arrives, so Ctrl-C (KeyboardInterrupt between slices) interrupts them. Items of
  other calls on the same loop (another stream of this thread) go to their own inboxes. Freed
  when its client is released, when its thread ends, or at interpreter exit.

Items
-----
``hl_loop_run`` fills a reused array of 256 ``hl_item``. They are handed to their calls (the tag
is the call's integer key) by C-level code only (``struct``, ``map``, ``deque.append``), so a
KeyboardInterrupt never splits the hand-over of a run: used array entries are zeroed in the same
C-level pass, and an interrupted run's items are recovered from the entries still set
(``_rescue``). Each ``Call`` has an ``inbox`` (a deque of ``(kind, json bytes)``); its consumer
parses them (``parse_item``). A stream whose inbox holds more than ``HIGH_WATER`` events is paused
(``hl_call_pause(call, 1)``) and resumed once its consumer has taken it down to ``LOW_WATER``.

Lifetimes: a call is registered in its driver from before ``hl_loop_submit`` until after
``hl_call_free`` (the library returns no item of a freed call). Its consumer frees it once it has
the terminal item, or when it gives up (Ctrl-C, a cancelled task, a closed stream).

fork: in a child, the parent's loops are dead. ``os.register_at_fork(after_in_child=...)`` frees
them (``hl_loop_free`` only closes the child's copies of their descriptors there), forgets their
calls, and new loops are made on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import ctypes
import errno
import itertools
import json
import operator
import os
import resource
import struct
import threading
import time
import weakref
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sized, Tuple

from ._native import ITEM_EVENT, ITEM_RESULT, HlItem, lib

__all__ = ["NativeClient", "Call", "Driver", "LoopDriver", "submit", "thread_driver", "loop_driver",
           "parse_item", "pending_count", "ITEM_EVENT", "ITEM_RESULT", "HIGH_WATER", "LOW_WATER"]

#: Items taken per hl_loop_run (one crossing of the FFI per wake-up).
BATCH = 256
#: The longest wait in hl_loop_run of a blocking caller: Ctrl-C is seen between slices.
SLICE_MS = 100
#: A stream with more buffered events than this is paused; resumed at LOW_WATER.
HIGH_WATER = 256
LOW_WATER = 64

#: notify(call): run on the thread that ran the loop, after items arrived for the call.
Notify = Callable[["Call"], None]
Item = Tuple[int, bytes]

_ITEM_SIZE = ctypes.sizeof(HlItem)
_ITEM_FORMAT = "PPiPN"  # call, tag, kind, json, len (native alignment, as HlItem)
if struct.calcsize("@" + _ITEM_FORMAT * 2) != 2 * _ITEM_SIZE:  # pragma: no cover - exotic ABI
    raise ImportError("humanloop_native: hl_item's layout is not the one this binding reads")
_layouts: Dict[int, struct.Struct] = {}

# C-level helpers of the hand-over (no Python frame: KeyboardInterrupt cannot land inside).
_string_at = getattr(ctypes, "_string_at", ctypes.string_at)
_memset = ctypes.memset
_append = collections.deque.append
_inbox_of = operator.attrgetter("inbox")
_exhaust = collections.deque  # deque(iterable, 0) consumes an iterator in C
_repeat = itertools.repeat
_chain = itertools.chain

_loads = json.loads
_lock = threading.Lock()  # NativeClient.refs
_ids = itertools.count(1)
#: Incremented in a forked child: objects of an older generation belong to the parent.
_generation = 0
_all_drivers: "weakref.WeakSet[Driver]" = weakref.WeakSet()
_local = threading.local()  # .drivers: Dict[NativeClient, Driver] of this thread
_loop_drivers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dict[NativeClient, LoopDriver]]" = \
    weakref.WeakKeyDictionary()


def _layout(count: int) -> struct.Struct:
    layout = _layouts.get(count)
    if layout is None:
        layout = _layouts[count] = struct.Struct("@" + _ITEM_FORMAT * count)
    return layout


def parse_item(raw: bytes) -> Dict[str, Any]:
    """The envelope dict of an item's bytes (an ``invalid_response`` envelope if unreadable)."""
    try:
        item = _loads(raw.decode("utf-8"))  # the library writes UTF-8 (saves json's detection)
        if isinstance(item, dict):
            return item
        problem = "not an object"
    except ValueError as exc:
        problem = str(exc)
    return {"ok": False, "error": {"type": "invalid_response",
                                   "message": f"libhumanloop delivered an unreadable item: {problem}"}}


_LOOP_GONE = (ITEM_RESULT, json.dumps({"ok": False, "error": {
    "type": "cancelled", "message": "the call was cancelled: its loop was freed (its client, thread or event "
                                    "loop ended)"}, "attempts": 0}).encode())


class NativeClient:
    """An ``hl_client`` shared by every ``Humanloop`` made from it (``with_options``) and kept
    alive by them and by the calls and streams in flight: released when the last one lets go,
    which also frees the client's loops (their connections close).

    ``refs`` counts the holders (clients not closed, calls in flight, open streams); ``timeout``
    is the configured overall timeout (None: no limit), used while waiting for descriptors."""

    __slots__ = ("handle", "refs", "timeout", "drivers", "__weakref__")

    def __init__(self, handle: int, timeout: Optional[float] = 600.0) -> None:
        self.handle: Optional[int] = handle
        self.refs = 1
        self.timeout = timeout
        self.drivers: "weakref.WeakSet[Driver]" = weakref.WeakSet()

    def acquire(self) -> int:
        """One more holder; returns the handle. RuntimeError once released."""
        with _lock:
            if self.handle is None or self.refs <= 0:
                raise RuntimeError("this Humanloop client is closed")
            self.refs += 1
            return self.handle

    def release(self) -> None:
        with _lock:
            self.refs -= 1
            if self.refs > 0 or self.handle is None:
                return
            handle, self.handle = self.handle, None
        for driver in list(self.drivers):
            driver.close()
        lib.hl_client_free(handle)


class Call:
    """One call submitted to a driver's loop. Its items arrive in ``inbox`` (on the thread that
    runs the loop); ``notify`` (if any) then runs on that thread. ``free()`` (idempotent, any
    thread) cancels it if unfinished and releases the handle; ``cancel()`` only cancels (the
    terminal item, type "cancelled", still arrives). ``waiter`` is the future an asyncio consumer
    awaits (set by ``wake_waiter``)."""

    __slots__ = ("key", "handle", "driver", "inbox", "stream", "native", "generation", "notify", "waiter",
                 "paused", "ended", "_guard", "__weakref__")

    def __init__(self, driver: "Driver", stream: bool, native: Optional[NativeClient],
                 notify: Optional[Notify]) -> None:
        self.key = next(_ids)
        self.handle: Optional[int] = None
        self.driver = driver
        self.inbox: Deque[Item] = collections.deque()
        self.stream = stream
        self.native = native  # released by free() when this call holds a reference
        self.generation = _generation
        self.notify = notify
        self.waiter: Optional["asyncio.Future[None]"] = None
        self.paused = False
        self.ended = False  # its terminal item was taken
        self._guard = threading.Lock()  # serialises cancel / pause / free on the handle

    @property
    def foreign(self) -> bool:
        """True in a child process for a call submitted before fork() (it never delivers)."""
        return self.generation != _generation

    def take(self) -> Item:
        """The oldest item (the consumer's thread); resumes a paused stream that has drained."""
        item = self.inbox.popleft()
        if item[0] == ITEM_RESULT:
            self.ended = True
        elif self.paused and len(self.inbox) <= LOW_WATER:
            self.pause(False)
        return item

    def pause(self, paused: bool) -> None:
        """Pause or resume receiving (hl_call_pause). Any thread."""
        with self._guard:
            if self.handle is None or self.paused == paused or self.foreign:
                return
            self.paused = paused
            lib.hl_call_pause(self.handle, 1 if paused else 0)

    def cancel(self) -> None:
        if self.foreign:
            return
        with self._guard:
            if self.handle is not None:
                lib.hl_call_cancel(self.handle)

    def free(self) -> None:
        with self._guard:
            handle, self.handle = self.handle, None
            native, self.native = self.native, None
        if handle is not None and not self.foreign:
            lib.hl_call_free(handle)  # no item of the call is returned after this
            if not self.ended:
                self.driver.flush()  # the cancellation takes effect (its connection closes)
        self.driver.calls.pop(self.key, None)
        if native is not None:
            native.release()

    def __del__(self) -> None:
        # Only reached for a call nobody freed (a cycle with its driver, collected together).
        handle = self.handle
        if handle is not None and not self.foreign:
            try:
                lib.hl_call_free(handle)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


class _Nobody:
    """Where items of an unknown tag go (never expected: calls stay registered until freed)."""

    inbox: Deque[Item] = collections.deque(maxlen=0)
    notify: Optional[Notify] = None


_NOBODY = _Nobody()


def check_pause(call: Call) -> None:
    """A stream's notify: pause it when its consumer has fallen HIGH_WATER events behind."""
    if not call.paused and len(call.inbox) > HIGH_WATER:
        call.pause(True)


def wake_waiter(call: Call) -> None:
    """An asyncio consumer's notify (the event loop's thread): complete the awaited future."""
    waiter = call.waiter
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def stream_arrived(call: Call) -> None:
    """An async stream's notify: flow control, then wake the iterator."""
    if not call.paused and len(call.inbox) > HIGH_WATER:
        call.pause(True)
    waiter = call.waiter
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class Driver:
    """One ``hl_loop`` of a native client and its calls. ``run_slice`` runs it for a blocking
    caller (any thread, one at a time); ``close`` frees it now or when its runner's step ends."""

    def __init__(self, client: int) -> None:
        handle = lib.hl_loop_new(client, None)
        if not handle:
            raise _NoLoop()
        self.handle: Optional[int] = handle
        self.fd = lib.hl_loop_fd(handle)
        self.calls: Dict[int, Call] = {}
        self.generation = _generation
        self._items = (HlItem * BATCH)()
        self._address = ctypes.addressof(self._items)
        self._runner = threading.RLock()  # held by the thread running the loop
        self._state = threading.Lock()    # orders hl_loop_wake before hl_loop_free
        self._stepping = False            # inside _step (the runner may re-enter: log callback, GC)
        self._closing = False
        self._poked: Deque[Call] = collections.deque()  # calls to notify, from other threads
        _all_drivers.add(self)

    @property
    def usable(self) -> bool:
        return self.handle is not None and not self._closing and self.generation == _generation

    # -- submitting ---------------------------------------------------------------------------
    def submit(self, name: bytes, request: bytes, options: Optional[bytes], *, stream: bool = False,
               native: Optional[NativeClient] = None, notify: Optional[Notify] = None) -> Call:
        """Submit a call (any thread); ``native`` (when given) is a reference it holds until freed."""
        call = Call(self, stream, native, notify)
        self.calls[call.key] = call
        handle = lib.hl_loop_submit(self.handle, name, request, options, call.key) if self.handle else None
        if not handle:
            self.calls.pop(call.key, None)
            call.native = None
            raise MemoryError("hl_loop_submit returned NULL")
        call.handle = handle
        return call

    # -- running ------------------------------------------------------------------------------
    def _take(self, count: int) -> List[Call]:
        """Hand the run's items to their calls' inboxes and zero the used entries, in one C-level
        pass; returns the call of each item."""
        flat = _layout(count).unpack_from(self._items)
        calls = list(map(self.calls.get, flat[1::5], _repeat(_NOBODY, count)))
        _exhaust(_chain(map(_append, map(_inbox_of, calls), zip(flat[2::5], map(_string_at, flat[3::5], flat[4::5]))),
                        map(_memset, (self._address,), (0,), (count * _ITEM_SIZE,))), 0)
        return calls

    def _rescue(self) -> List[Call]:
        """The items of a run interrupted before ``_take`` finished: the entries whose kind is
        set (every entry handed over is zeroed in the same pass)."""
        count = 0
        for kind in _layout(BATCH).unpack_from(self._items)[2::5]:
            if not kind:
                break
            count += 1
        return self._take(count) if count else []

    def _step(self, timeout_ms: int) -> None:
        """One hl_loop_run and the hand-over of its items, then the notifications. The runner
        lock is held."""
        handle = self.handle
        if handle is None:
            return
        self._stepping = True
        try:
            count = lib.hl_loop_run(handle, timeout_ms, self._address, BATCH)
            calls = self._take(count) if count else ()
        except BaseException:  # KeyboardInterrupt: keep what the run stored, then let it go
            self._stepping = False
            _notify(self._rescue())
            raise
        self._stepping = False
        if calls:
            _notify(calls)
        poked = self._poked
        while poked:
            _notify((poked.popleft(),))

    def run_slice(self, ready: Sized) -> None:
        """Run the loop once for up to SLICE_MS on this thread, unless ``ready`` (what the caller
        waits for: an inbox) is non-empty; when another thread is running it, wait up to a slice
        for that thread's step to end instead (it hands over this thread's items too)."""
        runner = self._runner
        if not runner.acquire(True, SLICE_MS / 1000):
            return
        try:
            if not ready:
                self._step(SLICE_MS)
        finally:
            runner.release()
        if self._closing:
            self.close()

    def wait(self, call: Call) -> None:
        """Run slices until the call has an item (blocking callers). Ctrl-C: KeyboardInterrupt."""
        inbox = call.inbox
        try:
            while not inbox:
                if self.handle is None:  # freed under the call (interpreter exit, fork)
                    inbox.append(_LOOP_GONE)
                    break
                self.run_slice(inbox)
        except BaseException:
            self.disown()
            raise

    def disown(self) -> None:
        """Release the runner lock if an exception left this thread holding it (a KeyboardInterrupt
        can land right after ``acquire`` returned)."""
        is_owned = getattr(self._runner, "_is_owned", None)
        while is_owned is not None and is_owned():
            self._runner.release()

    def flush(self) -> None:
        """After a call was freed unfinished: one hl_loop_run without waiting, so that its
        cancellation takes effect (its transfer stops, its connection closes) even if this loop
        is not run again soon. Skipped when another thread is running the loop (it does it)."""
        runner = self._runner
        if not runner.acquire(False):
            return
        try:
            if not self._stepping:
                self._step(0)
        finally:
            runner.release()

    def poke(self, call: Call) -> None:
        """Have ``call.notify`` run on the thread that runs the loop (from any thread)."""
        self._poked.append(call)
        self._wake()

    # -- freeing ------------------------------------------------------------------------------
    def _wake(self) -> None:
        with self._state:
            if self.handle is not None and self.generation == _generation:
                lib.hl_loop_wake(self.handle)

    def close(self) -> None:
        """Free the loop (any thread): now if no thread runs it, else when its step ends."""
        self._closing = True
        if not self._runner.acquire(False):
            self._wake()  # the running thread frees it after its step
            return
        try:
            if not self._stepping:
                self._free()
        finally:
            self._runner.release()

    def _free(self) -> None:
        """hl_loop_free (the runner lock is held and no step is running); calls still registered
        get a "cancelled" item so that nobody waits for them forever."""
        with self._state:
            handle, self.handle = self.handle, None
        if handle is None:
            return
        lib.hl_loop_free(handle)
        for call in list(self.calls.values()):
            call.inbox.append(_LOOP_GONE)
            try:
                _notify((call,))
            except RuntimeError:  # its event loop is closed: nobody waits for it
                pass

    def _forget(self) -> None:
        """In a forked child: the parent's loop. Close this process's copies of its descriptors
        (hl_loop_free does only that in a child) and drop its calls without touching them."""
        self._runner = threading.RLock()
        self._state = threading.Lock()
        handle, self.handle = self.handle, None
        if handle is not None:
            lib.hl_loop_free(handle)
        for call in list(self.calls.values()):
            call.handle = None  # the parent's: never touched here
            native, call.native = call.native, None
            if native is not None:
                native.refs -= 1
        self.calls.clear()

    def __del__(self) -> None:
        try:
            handle, self.handle = self.handle, None
            if handle is not None and self.generation == _generation:
                lib.hl_loop_free(handle)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _notify(calls: Any) -> None:
    for call in dict.fromkeys(calls):  # each call once, in arrival order
        notify = call.notify
        if notify is not None:
            notify(call)


class LoopDriver(Driver):
    """The driver of one (asyncio event loop, native client): run by ``run0`` from
    ``loop.add_reader``, on the event loop's thread only."""

    def __init__(self, client: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(client)
        self._loop = weakref.ref(loop)
        try:
            loop.add_reader(self.fd, self.run0)
        except BaseException:
            self.close()
            raise

    def run0(self) -> None:
        """The reader callback: one hl_loop_run without waiting; its items to their calls."""
        runner = self._runner
        if not runner.acquire(False):
            return
        try:
            self._step(0)
        except BaseException:  # KeyboardInterrupt in a loop without asyncio.Runner's handler
            _notify([call for call in list(self.calls.values()) if call.inbox])
            raise
        finally:
            runner.release()
        if self._closing:
            self.close()

    def flush(self) -> None:
        """Nothing to do: the event loop runs ``run0`` when the cancellation makes the fd readable."""

    def _on_loop_thread(self, loop: asyncio.AbstractEventLoop) -> bool:
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False

    def close(self) -> None:
        """Free the loop: at once on the event loop's thread (or once the event loop is closed,
        gone or not running); from another thread the event loop's next ``run0`` does it."""
        loop = self._loop()
        if loop is not None and not loop.is_closed() and loop.is_running() and not self._on_loop_thread(loop):
            self._closing = True
            self._wake()
            return
        super().close()

    def _free(self) -> None:
        loop = self._loop()
        if self.handle is not None and loop is not None and not loop.is_closed() and self.generation == _generation:
            try:
                loop.remove_reader(self.fd)
            except Exception:  # noqa: BLE001 - a loop being torn down
                pass
        super()._free()


class _NoLoop(Exception):
    """hl_loop_new returned NULL."""


# -- finding the driver of a thread or of an event loop ----------------------------------------

def thread_driver(native: NativeClient, client: int, options: Optional[bytes]) -> Driver:
    """This thread's driver of ``native``'s calls, made on first use (waiting, in slices, for
    free descriptors while the process has none, up to the call's timeout)."""
    try:
        drivers: Dict[NativeClient, Driver] = _local.drivers
    except AttributeError:
        drivers = _local.drivers = {}
    driver = drivers.get(native)
    if driver is not None and driver.usable:
        return driver
    for stale in [key for key, value in drivers.items() if not value.usable]:
        del drivers[stale]
    for delay in _descriptor_waits(native, options):
        if delay:
            time.sleep(delay)
        try:
            driver = Driver(client)
            break
        except _NoLoop:
            continue
    assert driver is not None
    drivers[native] = driver
    native.drivers.add(driver)
    return driver


def loop_driver_now(loop: asyncio.AbstractEventLoop, native: NativeClient) -> Optional[LoopDriver]:
    """The event loop's existing driver of ``native``'s calls, if any (the fast path)."""
    drivers = _loop_drivers.get(loop)
    if drivers is None:
        return None
    driver = drivers.get(native)
    return driver if driver is not None and driver.usable else None


async def loop_driver(loop: asyncio.AbstractEventLoop, native: NativeClient, client: int,
                      options: Optional[bytes]) -> LoopDriver:
    """The event loop's driver of ``native``'s calls, made on first use (on this, the event
    loop's thread; waiting for free descriptors as ``thread_driver`` does)."""
    for delay in _descriptor_waits(native, options):
        if delay:
            await asyncio.sleep(delay)
        driver = loop_driver_now(loop, native)
        if driver is not None:
            return driver
        _sweep_closed_loops()
        try:
            driver = LoopDriver(client, loop)
        except _NoLoop:
            continue
        drivers = _loop_drivers.get(loop)
        if drivers is None:
            drivers = _loop_drivers[loop] = {}
            weakref.finalize(loop, _close_all, drivers)
        old = drivers.get(native)
        drivers[native] = driver
        native.drivers.add(driver)
        if old is not None:
            old.close()
        return driver
    raise AssertionError("unreachable")  # pragma: no cover


def _sweep_closed_loops() -> None:
    """Free the drivers of event loops that were closed but are still referenced (nothing runs
    them any more; their connections close)."""
    for loop, drivers in list(_loop_drivers.items()):
        if loop.is_closed():
            _close_all(drivers)
            _loop_drivers.pop(loop, None)


def _close_all(drivers: Dict[NativeClient, LoopDriver]) -> None:
    """An event loop was garbage-collected: free its drivers (nobody can run them any more)."""
    for driver in list(drivers.values()):
        try:
            driver.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
    drivers.clear()


def submit(driver: Driver, name: bytes, request: bytes, options: Optional[bytes], *, stream: bool = False,
           native: Optional[NativeClient] = None, notify: Optional[Notify] = None) -> Call:
    """Submit a call to ``driver`` (every call of the binding goes through here)."""
    return driver.submit(name, request, options, stream=stream, native=native, notify=notify)


# -- no free descriptor --------------------------------------------------------------------------

def _descriptor_waits(native: NativeClient, options: Optional[bytes]) -> Iterator[float]:
    """Delays between attempts at making a loop: the first attempt is free; while the process
    has no free descriptor, one every 50 ms until the call's timeout (as the library's calls wait
    for a descriptor), then ApiConnectionError "too many open files". A loop that cannot be made
    for another reason: MemoryError."""
    yield 0.0
    deadline = None
    while True:
        if not _out_of_descriptors():
            raise MemoryError("hl_loop_new returned NULL (out of memory)")
        now = time.monotonic()
        if deadline is None:
            deadline = now + _call_timeout(native, options)
        if now >= deadline:
            raise _too_many_open_files()
        yield min(0.05, deadline - now)


def _out_of_descriptors() -> bool:
    """True when the process cannot open the descriptors a loop needs (a few)."""
    held: List[int] = []
    try:
        for _ in range(4):
            held.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        return False
    except OSError as exc:
        return exc.errno in (errno.EMFILE, errno.ENFILE)
    finally:
        for fd in held:
            os.close(fd)


def _call_timeout(native: NativeClient, options: Optional[bytes]) -> float:
    timeout: Any = native.timeout
    if options and b'"timeout"' in options:
        timeout = json.loads(options).get("timeout", timeout)
    return float("inf") if timeout is None else float(timeout)


def _too_many_open_files() -> Exception:
    from ._errors import error_from_envelope

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    limit = f"its limit of {soft} open files (RLIMIT_NOFILE)" if soft != resource.RLIM_INFINITY else \
        "its limit of open files"
    message = (f"too many open files: the process reached {limit}, so the library could not make its event "
               "loop; lower max_connections or raise the limit")
    return error_from_envelope({"ok": False, "error": {"type": "connection_error", "message": message},
                                "attempts": 0})


# -- bookkeeping -----------------------------------------------------------------------------------

def pending_count() -> int:
    """How many calls are registered (submitted and not freed) in this process's drivers."""
    return sum(len(driver.calls) for driver in list(_all_drivers) if driver.generation == _generation)


def _after_fork_in_child() -> None:
    global _lock, _generation, _local, _loop_drivers
    _lock = threading.Lock()  # another thread may have held it at fork()
    _generation += 1
    drivers = list(_all_drivers)
    _all_drivers.clear()
    _local = threading.local()
    _loop_drivers = weakref.WeakKeyDictionary()
    for driver in drivers:
        driver._forget()


def _at_exit() -> None:
    """Free the calls still in flight and the loops nobody runs, before the interpreter goes."""
    for driver in list(_all_drivers):
        if driver.generation != _generation:
            continue
        try:
            for call in list(driver.calls.values()):
                call.free()
            driver.close()
        except Exception:  # noqa: BLE001
            pass


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
