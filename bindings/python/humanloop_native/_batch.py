"""``Humanloop.complete_batch`` / ``acomplete_batch``: many calls on the engine, a bounded
number in flight, results in request order (responses or exceptions), optional progress."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import queue
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, TextIO, Tuple, Union

from . import _engine
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

_WAIT_SLICE = 0.1
_SIGNATURES: Dict[str, inspect.Signature] = {}
Prepared = Union[Tuple[bytes, bytes, Optional[bytes]], Exception]


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
    requests, the calls in flight (at most ``concurrency``), the results in request order and the
    progress meter. The runners differ only in how they wait for the next finished call."""

    def __init__(self, client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int,
                 progress: bool, sink_for: Callable[[int], _engine.Sink]) -> None:
        _check(concurrency)
        self.client = client
        self.concurrency = concurrency
        self.prepared = [_prepare(client, request) for request in requests]
        self.total = len(self.prepared)
        self.results: List[Optional[Result]] = [None] * self.total
        self.inflight: Dict[int, _engine.Call] = {}
        self.meter = _Progress(self.total) if progress else None
        self.sink_for = sink_for
        self.position = 0
        self.completed = 0

    @property
    def finished(self) -> bool:
        return self.completed >= self.total

    def record(self, index: int, result: Result) -> None:
        self.results[index] = result
        self.completed += 1
        if self.meter is not None:
            self.meter.update(not _is_response(result))

    def fill(self) -> None:
        """Start calls until ``concurrency`` are in flight or none is left."""
        while len(self.inflight) < self.concurrency and self.position < self.total:
            index, self.position = self.position, self.position + 1
            item = self.prepared[index]
            if isinstance(item, Exception):
                self.record(index, item)
                continue
            name, payload, options = item
            try:
                native, handle = self.client._acquire()
                self.inflight[index] = _engine.start(handle, name, payload, options, self.sink_for(index), native=native)
            except Exception as exc:  # noqa: BLE001 - a closed client: every remaining item says so
                self.record(index, exc)

    def complete(self, index: int, item: bytes) -> None:
        """A call's terminal item arrived."""
        self.inflight.pop(index).free()
        self.record(index, _result(_engine.parse_item(item)))

    def abandon(self) -> None:
        """Cancel and free every call in flight (Ctrl-C, a cancelled task)."""
        calls = list(self.inflight.values())
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
    finished: "queue.SimpleQueue[Tuple[int, bytes]]" = queue.SimpleQueue()

    def sink_for(index: int) -> _engine.Sink:
        return lambda item, terminal: finished.put_nowait((index, item))

    window = _Window(client, requests, concurrency, progress, sink_for)
    try:
        while not window.finished:
            window.fill()
            if window.finished:
                break
            try:
                index, item = finished.get(timeout=_WAIT_SLICE)  # in slices: Ctrl-C is seen
            except queue.Empty:
                if window.meter is not None and window.meter.bar is None:
                    window.meter._line()
                continue
            window.complete(index, item)
    except BaseException:
        window.abandon()
        raise
    finally:
        results = window.close()
    return results


def _is_response(result: Result) -> bool:
    return not isinstance(result, BaseException)


async def arun_batch(client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int,
                     progress: bool) -> List[Result]:
    loop = asyncio.get_running_loop()
    finished: "asyncio.Queue[Tuple[int, bytes]]" = asyncio.Queue()

    def sink_for(index: int) -> _engine.Sink:
        def sink(item: bytes, terminal: bool) -> None:
            try:
                loop.call_soon_threadsafe(finished.put_nowait, (index, item))
            except RuntimeError:  # the loop is closed
                pass
        return sink

    window = _Window(client, requests, concurrency, progress, sink_for)
    try:
        while not window.finished:
            window.fill()
            if window.finished:
                break
            index, item = await finished.get()
            window.complete(index, item)
    except BaseException:
        window.abandon()
        raise
    finally:
        results = window.close()
    return results
