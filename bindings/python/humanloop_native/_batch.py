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


def run_batch(client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int,
              progress: bool) -> List[Result]:
    _check(concurrency)
    prepared = [_prepare(client, request) for request in requests]
    total = len(prepared)
    results: List[Optional[Result]] = [None] * total
    finished: "queue.SimpleQueue[Tuple[int, Dict[str, Any]]]" = queue.SimpleQueue()
    inflight: Dict[int, _engine.Call] = {}
    meter = _Progress(total) if progress else None
    position = 0
    completed = 0

    def sink_for(index: int) -> Callable[[Dict[str, Any], bool], None]:
        return lambda item, terminal: finished.put_nowait((index, item))

    def record(index: int, result: Result) -> None:
        nonlocal completed
        results[index] = result
        completed += 1
        if meter is not None:
            meter.update(not _is_response(result))

    try:
        while completed < total:
            while len(inflight) < concurrency and position < total:
                index, position = position, position + 1
                item = prepared[index]
                if isinstance(item, Exception):
                    record(index, item)
                    continue
                name, payload, options = item
                try:
                    native, handle = client._acquire()
                    inflight[index] = _engine.start(handle, name, payload, options, sink_for(index), native=native)
                except Exception as exc:  # noqa: BLE001 - a closed client: every remaining item says so
                    record(index, exc)
            if completed >= total:
                break
            try:
                index, envelope = finished.get(timeout=_WAIT_SLICE)
            except queue.Empty:
                if meter is not None and meter.bar is None:
                    meter._line()
                continue
            call = inflight.pop(index)
            call.free()
            record(index, _result(envelope))
    except BaseException:
        calls = list(inflight.values())
        inflight.clear()
        for call in calls:
            call.cancel()
        for call in calls:
            call.free()
        raise
    finally:
        if meter is not None:
            meter.close()
    return [r if r is not None else RuntimeError("no result") for r in results]


def _is_response(result: Result) -> bool:
    return not isinstance(result, BaseException)


async def arun_batch(client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int,
                     progress: bool) -> List[Result]:
    _check(concurrency)
    loop = asyncio.get_running_loop()
    prepared = [_prepare(client, request) for request in requests]
    total = len(prepared)
    results: List[Optional[Result]] = [None] * total
    finished: "asyncio.Queue[Tuple[int, Dict[str, Any]]]" = asyncio.Queue()
    inflight: Dict[int, _engine.Call] = {}
    meter = _Progress(total) if progress else None
    position = 0
    completed = 0

    def sink_for(index: int) -> Callable[[Dict[str, Any], bool], None]:
        def sink(item: Dict[str, Any], terminal: bool) -> None:
            try:
                loop.call_soon_threadsafe(finished.put_nowait, (index, item))
            except RuntimeError:  # the loop is closed
                pass
        return sink

    def record(index: int, result: Result) -> None:
        nonlocal completed
        results[index] = result
        completed += 1
        if meter is not None:
            meter.update(not _is_response(result))

    try:
        while completed < total:
            while len(inflight) < concurrency and position < total:
                index, position = position, position + 1
                item = prepared[index]
                if isinstance(item, Exception):
                    record(index, item)
                    continue
                name, payload, options = item
                try:
                    native, handle = client._acquire()
                    inflight[index] = _engine.start(handle, name, payload, options, sink_for(index), native=native)
                except Exception as exc:  # noqa: BLE001
                    record(index, exc)
            if completed >= total:
                break
            index, envelope = await finished.get()
            call = inflight.pop(index)
            call.free()
            record(index, _result(envelope))
    except BaseException:
        calls = list(inflight.values())
        inflight.clear()
        for call in calls:
            call.cancel()
        for call in calls:
            call.free()
        raise
    finally:
        if meter is not None:
            meter.close()
    return [r if r is not None else RuntimeError("no result") for r in results]
