"""Calls on the library's engine (``hl_call_start``): one callback for the whole process, a
registry of pending calls, and the shared native client.

How a call travels:

* ``start()`` registers a ``Call`` under a fresh integer id (the ``user_data`` the library hands
  back), then calls ``hl_call_start``. The library runs the call on its engine thread and calls
  ``_on_item`` (the single, module-level ``CFUNCTYPE`` object, alive for the life of the process)
  with every item. ``_on_item`` copies the item (``ctypes.string_at``), releases it (``hl_free``)
  and passes the bytes to the call's *sink*, on the engine thread. Sinks only hand the item
  over: a lock/queue for the blocking API, ``loop.call_soon_threadsafe`` for asyncio. They never
  block, and they do not parse: the consumer does (``parse_item``), on its own thread, so the
  engine thread holds the GIL as briefly as possible.
* The handle is released (``hl_call_free``) by the consumer once it has the terminal item, or
  when it gives up (Ctrl-C, a cancelled task, a closed stream): ``hl_call_free`` cancels an
  unfinished call and, when it returns, no callback of that call runs any more.
* No Python lock is held while calling into the library, so a callback (which takes
  ``_lock`` briefly) never waits for a thread that waits for the library.

After ``os.fork()`` the child forgets the parent's pending calls (they belong to the parent and
never deliver anything in the child); the library gives the child a fresh engine on first use.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import json
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Set

from ._native import CALL_CALLBACK, lib, lib_holding_gil

__all__ = ["NativeClient", "Call", "start", "in_callback", "Sink", "parse_item"]

#: sink(item, terminal): called on the engine thread with every item of a call, as the JSON
#: bytes the library delivered (``parse_item`` reads them).
Sink = Callable[[bytes, bool], None]

#: How the library begins every stream event item (and no other item): {"ok":true,"event":...}.
_EVENT_PREFIX = b'{"ok":true,"event":'


def parse_item(raw: bytes) -> Dict[str, Any]:
    """The envelope dict of an item's bytes (an ``invalid_response`` envelope if unreadable)."""
    try:
        item = json.loads(raw)
        if isinstance(item, dict):
            return item
        problem = "not an object"
    except ValueError as exc:
        problem = str(exc)
    return {"ok": False, "error": {"type": "invalid_response",
                                   "message": f"libhumanloop delivered an unreadable item: {problem}"}}

_lock = threading.Lock()
_pending: Dict[int, "Call"] = {}
_ids = itertools.count(1)
#: The engine threads that ran a callback (each keeps one Python thread state for good).
_engine_threads: Set[int] = set()


def in_callback() -> bool:
    """True on an engine thread: there, Python code runs only inside our callbacks."""
    return threading.get_ident() in _engine_threads


class NativeClient:
    """An ``hl_client`` shared by every ``Humanloop`` made from it (``with_options``) and kept
    alive by them and by the calls and streams in flight: released when the last one lets go.

    ``refs`` counts the holders (clients not closed, calls in flight, open streams)."""

    __slots__ = ("handle", "refs", "pid", "__weakref__")

    def __init__(self, handle: int) -> None:
        self.handle: Optional[int] = handle
        self.refs = 1
        self.pid = os.getpid()

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
        _free_client(handle)


def _free_client(handle: int) -> None:
    if in_callback():
        # hl_client_free must not run on the engine thread it would wait for.
        threading.Thread(target=lib.hl_client_free, args=(handle,), name="humanloop-client-free",
                         daemon=True).start()
    else:
        lib.hl_client_free(handle)


class Call:
    """One call started with ``hl_call_start``. ``free()`` (idempotent, any thread) cancels it if
    unfinished and releases the handle; ``cancel()`` only cancels (the terminal item, type
    "cancelled", still arrives)."""

    __slots__ = ("key", "handle", "sink", "stream", "native", "pid", "_guard", "__weakref__")

    def __init__(self, sink: Sink, stream: bool, native: Optional[NativeClient]) -> None:
        self.key = 0
        self.handle: Optional[int] = None
        self.sink = sink
        self.stream = stream
        self.native = native  # released by free() when this call holds a reference
        self.pid = os.getpid()
        self._guard = threading.Lock()  # serialises hl_call_cancel / hl_call_free on the handle

    @property
    def foreign(self) -> bool:
        """True in a child process for a call started before fork() (it never delivers)."""
        return self.pid != os.getpid()

    def cancel(self) -> None:
        if self.foreign:
            return
        with self._guard:
            if self.handle is not None:
                lib.hl_call_cancel(self.handle)

    def free(self) -> None:
        native = None
        if self.foreign:
            self.handle = None  # the parent's: never touched here
        else:
            with self._guard:
                handle, self.handle = self.handle, None
                native, self.native = self.native, None
            if handle is not None:
                lib.hl_call_free(handle)
        with _lock:
            _pending.pop(self.key, None)
        if native is not None:
            native.release()


def start(client: int, name: bytes, request: bytes, options: Optional[bytes], sink: Sink, *,
          stream: bool = False, native: Optional[NativeClient] = None) -> Call:
    """Start a call; ``native`` (when given) is a reference the call holds until ``free()``."""
    call = Call(sink, stream, native)
    with _lock:
        call.key = next(_ids)
        _pending[call.key] = call
    handle = lib.hl_call_start(client, name, request, options, _CALLBACK, call.key)
    if not handle:
        with _lock:
            _pending.pop(call.key, None)
        call.native = None
        if native is not None:
            native.release()
        raise MemoryError("hl_call_start returned NULL")
    with call._guard:
        call.handle = handle
    return call


_bursts: Dict[Any, List[Callable[[], None]]] = {}


def start_soon(loop: Any, begin: Callable[[], None]) -> None:
    """Run ``begin`` (which starts a call) in the loop's next turn, together with every other
    call begun in this turn: the coroutines of an ``asyncio.gather`` all prepare their requests,
    then their calls start one after the other, in one burst."""
    pending = _bursts.get(loop)
    if pending is None:
        pending = _bursts[loop] = []
        loop.call_soon(_start_burst, loop)
    pending.append(begin)


def _start_burst(loop: Any) -> None:
    for begin in _bursts.pop(loop, []):
        begin()


def _on_item(call_ptr: Optional[int], item_ptr: Optional[int], user_data: Optional[int]) -> None:
    """The engine's callback (engine thread). Never lets an exception cross into C. Kept lean:
    it runs once per stream event, on a thread just woken from poll()."""
    try:
        thread = threading.get_ident()
        if thread not in _engine_threads:
            # One Python thread state for good (an unreleased PyGILState_Ensure): ctypes would
            # otherwise make and destroy one for every callback, which costs more than the rest.
            ctypes.pythonapi.PyGILState_Ensure()
            _engine_threads.add(thread)
        if not item_ptr:
            return
        try:
            raw = _string_at(item_ptr)
        finally:
            _free(item_ptr)
        call = _pending.get(user_data or 0)  # one dict operation: atomic under the GIL
        if call is None:
            return
        terminal = not (call.stream and raw.startswith(_EVENT_PREFIX))
        if terminal:
            _pending.pop(call.key, None)
        call.sink(raw, terminal)
    except BaseException:  # noqa: BLE001 - nothing may propagate into the library
        pass


_string_at = ctypes.string_at
_free = lib_holding_gil.hl_free


# Kept for the life of the process: the library may call it at any time from its engine thread.
_CALLBACK = CALL_CALLBACK(_on_item)


def pending_count() -> int:
    """How many calls are registered (started, terminal item not delivered or not freed)."""
    with _lock:
        return len(_pending)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at fork()
    _engine_threads.clear()  # no engine thread survives fork()
    calls: List[Call] = list(_pending.values())
    _pending.clear()
    for call in calls:  # the parent's calls: drop their references without touching the library
        call.handle = None
        native, call.native = call.native, None
        if native is not None:
            native.refs -= 1


def _at_exit() -> None:
    """Free the calls still in flight before the interpreter goes away, so that no callback
    runs into a finalizing interpreter."""
    with _lock:
        calls = list(_pending.values())
    for call in calls:
        try:
            call.free()
        except Exception:  # noqa: BLE001
            pass


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
