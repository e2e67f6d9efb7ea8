"""``Humanloop.complete_batch`` / ``acomplete_batch``: many calls, a bounded number in flight,
results in request order (responses or exceptions), optional progress.

``complete_batch`` submits its calls to the calling thread's loop and runs it in slices of at
most 100 ms (Ctrl-C cancels the calls in flight); ``acomplete_batch`` to the event loop's loop,
which the event loop runs on its own thread (``_engine``)."""

from __future__ import annotations

import asyncio
import collections
import importlib
import inspect
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, TextIO, Tuple, Union

from . import _engine
from ._engine import Call, Driver, NativeClient
from ._errors import HumanloopError, error_from_envelope

if TYPE_CHECKING:
    from ._client import ApiResponse, Humanloop

__all__ = ["run_batch", "arun_batch", "CALL_NAMES"]

Result = Union["ApiResponse", HumanloopError, Exception]

#: "call" of a batch request -> (the library's call name, the client method giving the signature)
CALL_NAMES: Dict[str, str] = {
    "complete": "complete",
    "complete_deployed": "complete_deployed",
    "complete_experiment": "complete_experiment",
    "complete_model_configuration": "complete_model_configuration",
    "create": "complete",
    "create_deployed": "complete_deployed",
    "create_experiment": "complete_experiment",
    "create_model_config": "complete_model_configuration",
}

_SIGNATURES: Dict[str, inspect.Signature] = {}
Prepared = Union[Tuple[bytes, bytes, Optional[bytes]], Exception]
#: submit(native, client handle, call name, request JSON, options JSON) -> the submitted call,
#: which holds the reference to ``native``.
Submit = Callable[[NativeClient, int, bytes, bytes, Optional[bytes]], Call]


def _prepare(client: "Humanloop", request: Any) -> Prepared:
    """(call name, request JSON, options JSON) of one batch item, or the exception it gets."""
    try:
        if not isinstance(request, Mapping):
            raise TypeError(f"a batch request must be a dict of keyword arguments, not {type(request).__name__}")
        arguments = dict(request)
        call = arguments.pop("call", "complete")
        name = CALL_NAMES.get(call) if isinstance(call, str) else None
        if name is None:
            raise TypeError(f"unknown call {call!r} in a batch request (one of: {', '.join(CALL_NAMES)})")
        signature = _SIGNATURES.get(name)
        if signature is None:
            signature = _SIGNATURES[name] = inspect.signature(getattr(type(client), name))
        bound = signature.bind(client, **arguments)  # TypeError for bad keywords
        payload, options = client._prepare(bound.arguments)
        return name.encode("ascii"), payload, options
    except Exception as exc:  # noqa: BLE001 - the item's own error, returned in its place
        return exc


def _result(item: Mapping[str, Any]) -> Result:
    from ._client import ApiResponse

    if item.get("ok"):
        return ApiResponse(item)
    return error_from_envelope(item)


class _Progress:
    """done/total, rate and errors on stderr: a tqdm bar when tqdm is installed, else one line
    rewritten in place (at most 10 times a second, and once at the end)."""

    def __init__(self, total: int, stream: Optional[TextIO] = None) -> None:
        self.total = total
        self.done = 0
        self.errors = 0
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self.shown = 0.0
        self.bar: Any = None
        try:
            tqdm: Any = importlib.import_module("tqdm").tqdm  # optional
        except (ImportError, AttributeError):
            tqdm = None
        if tqdm is not None:
            self.bar = tqdm(total=total, unit="call", desc="batch", file=self.stream, dynamic_ncols=True)
            self.bar.set_postfix(errors=0, refresh=False)
        else:
            self._line(force=True)

    def update(self, failed: bool) -> None:
        self.done += 1
        if failed:
            self.errors += 1
        if self.bar is not None:
            if failed:
                self.bar.set_postfix(errors=self.errors, refresh=False)
            self.bar.update(1)
        else:
            self._line(force=self.done == self.total)

    def _line(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.shown < 0.1:
            return
        self.shown = now
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        self.stream.write(f"\rbatch: {self.done}/{self.total} done, {rate:.1f} calls/s, {self.errors} errors")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            self._line(force=True)
            self.stream.write("\n")
            self.stream.flush()


def _check(concurrency: int) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an integer >= 1, not {concurrency!r}")


class _Window:
    """The state of one batch, shared by the blocking and the asyncio runner: the prepared
    requests, the calls in flight (at most ``concurrency``, by call key), the results in request
    order and the progress meter. The runners differ only in how they wait for finished calls
    (they queue in ``finished``: each call's notify appends it there)."""

    def __init__(self, client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int,
                 progress: bool, submit: Submit) -> None:
        _check(concurrency)
        self.client = client
        self.concurrency = concurrency
        self.prepared = [_prepare(client, request) for request in requests]
        self.total = len(self.prepared)
        self.results: List[Optional[Result]] = [None] * self.total
        self.inflight: Dict[int, Tuple[int, Call]] = {}
        self.finished: Deque[Call] = collections.deque()
        self.meter = _Progress(self.total) if progress else None
        self.submit = submit
        self.driver: Optional[Driver] = None  # the loop of the calls in flight
        self.position = 0
        self.completed = 0

    @property
    def done(self) -> bool:
        return self.completed >= self.total

    def record(self, index: int, result: Result) -> None:
        self.results[index] = result
        self.completed += 1
        if self.meter is not None:
            self.meter.update(not _is_response(result))

    def fill(self) -> None:
        """Submit calls until ``concurrency`` are in flight or none is left."""
        while len(self.inflight) < self.concurrency and self.position < self.total:
            index, self.position = self.position, self.position + 1
            item = self.prepared[index]
            if isinstance(item, Exception):
                self.record(index, item)
                continue
            name, payload, options = item
            try:
                native, handle = self.client._acquire()
            except Exception as exc:  # noqa: BLE001 - a closed client: every remaining item says so
                self.record(index, exc)
                continue
            try:
                call = self.submit(native, handle, name, payload, options)
            except Exception as exc:  # noqa: BLE001 - e.g. no descriptor for a loop until the timeout
                native.release()
                self.record(index, exc)
                continue
            self.inflight[call.key] = (index, call)
            self.driver = call.driver

    def complete_finished(self) -> None:
        """Record the calls whose terminal item arrived."""
        finished = self.finished
        while finished:
            call = finished.popleft()
            entry = self.inflight.pop(call.key, None)
            if entry is None or not call.inbox:
                continue
            raw = call.take()[1]
            call.free()
            self.record(entry[0], _result(_engine.parse_item(raw)))

    def abandon(self) -> None:
        """Cancel and free every call in flight (Ctrl-C, a cancelled task)."""
        calls = [call for _, call in self.inflight.values()]
        self.inflight.clear()
        for call in calls:
            call.cancel()
        for call in calls:
            call.free()

    def close(self) -> List[Result]:
        if self.meter is not None:
            self.meter.close()
        return [r if r is not None else RuntimeError("no result") for r in self.results]


def run_batch(client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int,
              progress: bool) -> List[Result]:
    """The blocking batch: the calls on this thread's loop, run here in slices."""
    window: Optional[_Window] = None

    def submit(native: NativeClient, handle: int, name: bytes, payload: bytes, options: Optional[bytes]) -> Call:
        driver = _engine.thread_driver(native, handle, options)
        assert window is not None
        return _engine.submit(driver, name, payload, options, native=native, notify=window.finished.append)

    window = _Window(client, requests, concurrency, progress, submit)
    try:
        while not window.done:
            window.fill()
            window.complete_finished()
            if window.done:
                break
            driver = window.driver
            assert driver is not None
            driver.run_slice(window.finished)  # at most 100 ms: Ctrl-C is seen between slices
            if not window.finished and window.meter is not None and window.meter.bar is None:
                window.meter._line()
    except BaseException:
        if window.driver is not None:
            window.driver.disown()
        window.abandon()
        raise
    finally:
        results = window.close()
    return results


def _is_response(result: Result) -> bool:
    return not isinstance(result, BaseException)


async def arun_batch(client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int,
                     progress: bool) -> List[Result]:
    """The asyncio batch: the calls on the event loop's loop, which the event loop runs."""
    loop = asyncio.get_running_loop()
    window: Optional[_Window] = None
    waiter: List[Optional["asyncio.Future[None]"]] = [None]

    def arrived(call: Call) -> None:  # the event loop's thread
        assert window is not None
        window.finished.append(call)
        future = waiter[0]
        if future is not None and not future.done():
            future.set_result(None)

    def submit(native: NativeClient, handle: int, name: bytes, payload: bytes, options: Optional[bytes]) -> Call:
        driver = _engine.loop_driver_now(loop, native)
        if driver is None:
            raise RuntimeError("this Humanloop client is closed")
        return _engine.submit(driver, name, payload, options, native=native, notify=arrived)

    window = _Window(client, requests, concurrency, progress, submit)
    try:
        await _prepare_driver(client, loop)
        while not window.done:
            window.fill()
            window.complete_finished()
            if window.done:
                break
            if not window.finished:
                waiter[0] = loop.create_future()
                try:
                    await waiter[0]
                finally:
                    waiter[0] = None
    except BaseException:
        window.abandon()
        raise
    finally:
        results = window.close()
    return results


async def _prepare_driver(client: "Humanloop", loop: asyncio.AbstractEventLoop) -> None:
    """Make the event loop's driver of the client's calls (``fill`` only looks it up)."""
    try:
        native, handle = client._acquire()
    except RuntimeError:
        return  # a closed client: every item says so
    try:
        if _engine.loop_driver_now(loop, native) is None:
            await _engine.loop_driver(loop, native, handle, None)
    finally:
        native.release()
