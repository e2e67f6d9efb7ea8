"""Which driver runs a call: one per thread, and one per asyncio event loop.

* ``LoopDriver`` (asyncio): one per (event loop, native client), made on the event loop's thread
  at its first call and watched with ``loop.add_reader(hl_loop_fd(l), run0)``. ``run0`` calls
  ``hl_loop_run(l, 0, items, 256)`` once per wake-up (a run that stopped at 256 leaves the fd
  readable, so the event loop calls it again) and wakes the futures and stream iterators of the
  calls that got items. Freed when its client is released, when its event loop is garbage-
  collected, or at interpreter exit; always on the event loop's thread, or once nobody can run it.
* ``Driver`` per thread (``threading.local``, ``thread_driver``), one per native client, run in
  slices by the blocking callers of that thread. Items of other calls on the same loop (another
  stream of this thread) go to their own inboxes. Freed when its client is released, when its
  thread ends, or at interpreter exit.

A loop needs a few descriptors: while the process has none free, making one waits (up to the
call's timeout) as the library's calls do, then fails with "too many open files". In a forked
child, new loops are made on first use.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import threading
import time
import weakref
from typing import Any, Dict, Iterator, List, Optional

from ._calls import Call, NativeClient, Notify, current_generation
from . import _engine
from ._engine import Driver, NoLoop
from ._errors import error_from_envelope

__all__ = ["LoopDriver", "thread_driver", "loop_driver", "loop_driver_now", "submit", "out_of_descriptors",
           "too_many_open_files"]

_local = threading.local()  # .drivers: Dict[NativeClient, Driver] of this thread
_loop_drivers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dict[NativeClient, LoopDriver]]" = \
    weakref.WeakKeyDictionary()


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
            _engine._notify([call for call in list(self.calls.values()) if call.inbox])
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
        if self.handle is not None and loop is not None and not loop.is_closed() and self.generation == current_generation():
            try:
                loop.remove_reader(self.fd)
            except Exception:  # noqa: BLE001 - a loop being torn down
                pass
        super()._free()



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
        except NoLoop:
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
        except NoLoop:
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
        if not out_of_descriptors():
            raise MemoryError("hl_loop_new returned NULL (out of memory)")
        now = time.monotonic()
        if deadline is None:
            deadline = now + _call_timeout(native, options)
        if now >= deadline:
            raise too_many_open_files()
        yield min(0.05, deadline - now)


def out_of_descriptors() -> bool:
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


def too_many_open_files() -> Exception:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    limit = f"its limit of {soft} open files (RLIMIT_NOFILE)" if soft != resource.RLIM_INFINITY else \
        "its limit of open files"
    message = (f"too many open files: the process reached {limit}, so the library could not make its event "
               "loop; lower max_connections or raise the limit")
    return error_from_envelope({"ok": False, "error": {"type": "connection_error", "message": message},
                                "attempts": 0})


def _after_fork_in_child() -> None:
    global _local, _loop_drivers
    _local = threading.local()
    _loop_drivers = weakref.WeakKeyDictionary()


os.register_at_fork(after_in_child=_after_fork_in_child)
