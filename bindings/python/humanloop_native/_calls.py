"""Calls submitted to libhumanloop's loops (``hl_loop``) and the library client they share.

A ``NativeClient`` is one ``hl_client``, shared by every ``Humanloop`` made from it and kept
alive by the calls in flight. A ``Call`` is one call submitted to a driver's loop (``_engine``):
its items arrive in its ``inbox`` (a deque of ``(kind, json bytes)``) on the thread that runs
the loop, and its consumer parses them (``parse_item``). A stream whose inbox holds more than
``HIGH_WATER`` events is paused (``hl_call_pause(call, 1)``) and resumed once its consumer has
taken it down to ``LOW_WATER``.

Lifetimes: a call is registered in its driver from before ``hl_loop_submit`` until after
``hl_call_free`` (the library returns no item of a freed call). Its consumer frees it once it has
the terminal item, or when it gives up (Ctrl-C, a cancelled task, a closed stream).

fork: the generation (``current_generation``) is incremented in a child; calls and loops of an
older generation belong to the parent and are never touched.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import threading
import weakref
from typing import Any, Callable, Deque, Dict, Optional, Protocol, Sized, Tuple

from ._native import ITEM_RESULT, lib, lib_keeping_gil

__all__ = ["NativeClient", "Call", "Loop", "Notify", "Item", "parse_item", "check_pause", "wake_waiter",
           "stream_arrived", "current_generation", "LOOP_GONE", "HIGH_WATER", "LOW_WATER"]

#: A stream with more buffered events than this is paused; resumed at LOW_WATER.
HIGH_WATER = 256
LOW_WATER = 64

#: notify(call): run on the thread that ran the loop, after items arrived for the call.
Notify = Callable[["Call"], None]
Item = Tuple[int, bytes]

_loads = json.loads
# json's C scanner without json.loads' layers (BOM check, two whitespace regexes): the library's
# items are one object with nothing around it. Its memo of keys is cleared after every call.
_scan_once: Callable[[str, int], Tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")
_lock = threading.Lock()  # NativeClient.refs
_ids = itertools.count(1)
#: Incremented in a forked child: objects of an older generation belong to the parent.
_generation = 0


def current_generation() -> int:
    """This process's generation: 0, plus one per fork() that made it."""
    return _generation


class Loop(Protocol):
    """What calls and native clients ask of the driver of a loop (``_engine.Driver``)."""

    calls: Dict[int, "Call"]
    handle: Optional[int]

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def run_slice(self, ready: Sized) -> None: ...

    def disown(self) -> None: ...

    def poke(self, call: "Call") -> None: ...

    def _wake(self) -> None: ...


def parse_item(raw: bytes) -> Dict[str, Any]:
    """The envelope dict of an item's bytes (an ``invalid_response`` envelope if unreadable)."""
    try:
        text = raw.decode("utf-8")  # the library writes UTF-8 (saves json's detection)
        found, end = _scan_once(text, 0)
        if end == len(text) and isinstance(found, dict):
            return found
    except (StopIteration, ValueError):
        pass
    try:  # anything else: json.loads says what is wrong
        item = _loads(raw.decode("utf-8"))
        if isinstance(item, dict):
            return item
        problem = "not an object"
    except ValueError as exc:
        problem = str(exc)
    return {"ok": False, "error": {"type": "invalid_response",
                                   "message": f"libhumanloop delivered an unreadable item: {problem}"}}


LOOP_GONE = (ITEM_RESULT, json.dumps({"ok": False, "error": {
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
        self.drivers: "weakref.WeakSet[Loop]" = weakref.WeakSet()

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

    def __init__(self, driver: Loop, stream: bool, native: Optional[NativeClient],
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
            lib_keeping_gil.hl_call_free(handle)  # no item of the call is returned after this
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



def _after_fork_in_child() -> None:
    global _lock, _generation
    _lock = threading.Lock()  # another thread may have held it at fork()
    _generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)
