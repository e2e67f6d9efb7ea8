"""Drivers of libhumanloop's loops (``hl_loop``): each run by the thread that waits for its calls.

No thread of the library runs code of the binding: every call is submitted to a loop
(``hl_loop_submit``) and makes progress only inside ``hl_loop_run``, which the binding calls on
the thread that wants the items (only the library's log callback, see ``_logging``, runs Python
code inside ``hl_loop_run``, on that same thread).

A ``Driver`` owns one ``hl_loop`` of one native client and the calls submitted to it, by key.
One thread runs it at a time (its ``_runner`` lock); any thread may submit, cancel, pause or free
a call of it. Blocking calls, sync streams and ``complete_batch`` run it in slices of at most
100 ms (``run_slice``) until the item they wait for arrives, so Ctrl-C (KeyboardInterrupt
between slices) interrupts them. Which driver a thread or an event loop uses: ``_loops``.

Items
-----
``hl_loop_run`` fills a reused array of 256 ``hl_item``. They are handed to their calls (the tag
is the call's integer key) by C-level code only (``struct``, ``map``, ``deque.append``), so a
KeyboardInterrupt never splits the hand-over of a run: used array entries are zeroed in the same
C-level pass, and an interrupted run's items are recovered from the entries still set
(``_rescue``). Each call's consumer parses its items (``_calls``).

fork: in a child, the parent's loops are dead. ``os.register_at_fork(after_in_child=...)`` frees
them (``hl_loop_free`` only closes the child's copies of their descriptors there) and forgets
their calls.
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import itertools
import operator
import os
import struct
import threading
import weakref
from typing import Any, Deque, Dict, List, Optional, Sized

from ._calls import LOOP_GONE, Call, Item, NativeClient, Notify, current_generation
from ._native import HlItem, lib, lib_keeping_gil

__all__ = ["Driver", "NoLoop", "pending_count", "item_layout", "string_at", "BATCH", "SLICE_MS"]

#: Items taken per hl_loop_run (one crossing of the FFI per wake-up).
BATCH = 256
#: The longest wait in hl_loop_run of a blocking caller: Ctrl-C is seen between slices.
SLICE_MS = 100

_ITEM_SIZE = ctypes.sizeof(HlItem)
_ITEM_FORMAT = "PPiPN"  # call, tag, kind, json, len (native alignment, as HlItem)
if struct.calcsize("@" + _ITEM_FORMAT * 2) != 2 * _ITEM_SIZE:  # pragma: no cover - exotic ABI
    raise ImportError("humanloop_native: hl_item's layout is not the one this binding reads")
_layouts: Dict[int, struct.Struct] = {}

# C-level helpers of the hand-over (no Python frame: KeyboardInterrupt cannot land inside).
string_at = getattr(ctypes, "string_at", ctypes.string_at)
# memset keeping the GIL (ctypes.memset releases it: a thread switch when other threads wait)
_memset = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)(
    ctypes.cast(ctypes.memset, ctypes.c_void_p).value or 0)
_append = collections.deque.append
_inbox_of = operator.attrgetter("inbox")
_exhaust = collections.deque  # deque(iterable, 0) consumes an iterator in C
_repeat = itertools.repeat
_chain = itertools.chain

_all_drivers: "weakref.WeakSet[Driver]" = weakref.WeakSet()


def item_layout(count: int) -> struct.Struct:
    layout = _layouts.get(count)
    if layout is None:
        layout = _layouts[count] = struct.Struct("@" + _ITEM_FORMAT * count)
    return layout



class _Nobody:
    """Where items of an unknown tag go (never expected: calls stay registered until freed)."""

    inbox: Deque[Item] = collections.deque(maxlen=0)
    notify: Optional[Notify] = None


_NOBODY = _Nobody()


class Driver:
    """One ``hl_loop`` of a native client and its calls. ``run_slice`` runs it for a blocking
    caller (any thread, one at a time); ``close`` frees it now or when its runner's step ends."""

    def __init__(self, client: int) -> None:
        handle = lib.hl_loop_new(client, None)
        if not handle:
            raise NoLoop()
        self.handle: Optional[int] = handle
        self.fd = lib.hl_loop_fd(handle)
        self.calls: Dict[int, Call] = {}
        self.generation = current_generation()
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
        return self.handle is not None and not self._closing and self.generation == current_generation()

    # -- submitting ---------------------------------------------------------------------------
    def submit(self, name: bytes, request: bytes, options: Optional[bytes], *, stream: bool = False,
               native: Optional[NativeClient] = None, notify: Optional[Notify] = None) -> Call:
        """Submit a call (any thread); ``native`` (when given) is a reference it holds until freed."""
        call = Call(self, stream, native, notify)
        self.calls[call.key] = call
        handle = lib_keeping_gil.hl_loop_submit(self.handle, name, request, options, call.key) if self.handle else None
        if not handle:
            self.calls.pop(call.key, None)
            call.native = None
            raise MemoryError("hl_loop_submit returned NULL")
        call.handle = handle
        return call

    # -- running ------------------------------------------------------------------------------
    def _take(self, count: int) -> List[Any]:
        """Hand the run's items to their calls' inboxes and zero the used entries, in one C-level
        pass; returns the call of each item (``_NOBODY`` for an unknown tag)."""
        flat = item_layout(count).unpack_from(self._items)
        calls = list(map(self.calls.get, flat[1::5], _repeat(_NOBODY, count)))
        _exhaust(_chain(map(_append, map(_inbox_of, calls), zip(flat[2::5], map(string_at, flat[3::5], flat[4::5]))),
                        map(_memset, (self._address,), (0,), (count * _ITEM_SIZE,))), 0)
        return calls

    def _rescue(self) -> List[Call]:
        """The items of a run interrupted before ``_take`` finished: the entries whose kind is
        set (every entry handed over is zeroed in the same pass)."""
        count = 0
        for kind in item_layout(BATCH).unpack_from(self._items)[2::5]:
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
                    inbox.append(LOOP_GONE)
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
            if self.handle is not None and self.generation == current_generation():
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
            call.inbox.append(LOOP_GONE)
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
            if handle is not None and self.generation == current_generation():
                lib.hl_loop_free(handle)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _notify(calls: Any) -> None:
    for call in dict.fromkeys(calls):  # each call once, in arrival order
        notify = call.notify
        if notify is not None:
            notify(call)



class NoLoop(Exception):
    """hl_loop_new returned NULL."""


# -- bookkeeping -----------------------------------------------------------------------------------

def pending_count() -> int:
    """How many calls are registered (submitted and not freed) in this process's drivers."""
    return sum(len(driver.calls) for driver in list(_all_drivers) if driver.generation == current_generation())


def _after_fork_in_child() -> None:
    drivers = list(_all_drivers)
    _all_drivers.clear()
    for driver in drivers:
        driver._forget()


def _at_exit() -> None:
    """Free the calls still in flight and the loops nobody runs, before the interpreter goes."""
    for driver in list(_all_drivers):
        if driver.generation != current_generation():
            continue
        try:
            for call in list(driver.calls.values()):
                call.free()
            driver.close()
        except Exception:  # noqa: BLE001
            pass


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
