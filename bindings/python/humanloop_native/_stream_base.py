"""What the blocking and the async stream share: the request a stream will start
(``StreamRequest``), the SDK's view of an event (``sdk_items``), the state of one stream's call
(``StreamState``) and the attributes set once it has ended (``StreamAttributes``).

A stream is submitted lazily (first ``next()``, ``async for`` step or ``await``) with
``{"stream": true}``: the blocking iterator (``_stream``) to its thread's loop, which ``next()``
runs in slices of at most 100 ms while no event is buffered; the async one (``_async_stream``)
to its event loop's loop, run by the event loop itself (``_loops``). Items land in the call's
inbox; a stream whose consumer falls HIGH_WATER events behind is paused (``hl_call_pause``)
until it has caught up. No thread is started and no executor is used.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator, Optional

from . import _loops
from ._calls import Call, NativeClient, Notify
from ._engine import Driver
from ._errors import ApiCancelledError, ApiConnectionError, HumanloopError
from ._types import Headers

__all__ = ["StreamRequest", "StreamState", "StreamAttributes", "sdk_items", "cancelled_error", "forked_error"]


class StreamRequest:
    """What a stream will start: the native client (a reference is held until the stream is
    released), the call name, the request JSON and the options JSON."""

    __slots__ = ("native", "client", "name", "payload", "options")

    def __init__(self, native: NativeClient, name: bytes, payload: bytes, options: bytes) -> None:
        self.client = native.acquire()  # RuntimeError when the client is closed
        self.native: Optional[NativeClient] = native
        self.name = name
        self.payload = payload
        self.options = options

    def release(self) -> None:
        native, self.native = self.native, None
        if native is not None:
            native.release()


def sdk_items(event: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """The official SDK's stream items of one event: one per sample of ``event["data"]``,
    ``{"output", "id", "index", "finish_reason", "model_config_id", "tool_calls",
    "output_message", "project_id", "tool_results"}`` (missing fields are None)."""
    data = event.get("data")
    samples = data if isinstance(data, list) else []
    project_id = event.get("project_id")
    for sample in samples:
        if not isinstance(sample, dict):
            continue
        yield {
            "output": sample.get("output"),
            "id": sample.get("id"),
            "index": sample.get("index"),
            "finish_reason": sample.get("finish_reason"),
            "model_config_id": sample.get("model_config_id"),
            "tool_calls": sample.get("tool_calls"),
            "output_message": sample.get("output_message"),
            "project_id": project_id,
            "tool_results": sample.get("tool_results"),
        }


class StreamState:
    """What both iterators share: the request, the call, the terminal attributes."""

    status: Optional[int]
    headers: Optional[Any]
    round_trip_time: Optional[float]
    attempts: Optional[int]
    event_count: Optional[int]

    def __init__(self, request: Optional[StreamRequest]) -> None:
        self._request = request
        self._call: Optional[Call] = None
        self._guard = threading.Lock()
        self._cancelled = False
        self.status = None
        self.headers = None
        self.round_trip_time = None
        self.attempts = None
        self.event_count = None
        self.done = False
        self.error: Optional[HumanloopError] = None

    def _begin(self, driver: Driver, notify: Notify) -> Optional[Call]:
        """Submit the call once; None when the stream is already released."""
        request = self._request
        if request is None or request.native is None:
            return None
        call = _loops.submit(driver, request.name, request.payload, request.options, stream=True, notify=notify)
        with self._guard:
            if self._request is None:  # closed meanwhile (another thread)
                release = True
            else:
                self._call, release = call, False
        if release:
            call.free()
            return None
        return call

    def _finish(self, item: Dict[str, Any]) -> None:
        self.done = True
        self.status = item.get("status")
        received = Headers(item.get("headers") or {})
        if isinstance(self.headers, dict):  # handed out already (SDK style): fill it in place
            self.headers.clear()
            self.headers.update(received)
        else:
            self.headers = received
        self.round_trip_time = item.get("round_trip_time")
        self.attempts = item.get("attempts")
        self.event_count = item.get("events")

    def _release(self) -> None:
        """Cancel the transfer if unfinished, free the call, drop the client reference.
        Idempotent, any thread."""
        with self._guard:
            call, self._call = self._call, None
            request, self._request = self._request, None
        if call is not None:
            call.free()
        if request is not None:
            request.release()

    def _foreign(self) -> bool:
        call = self._call
        return call is not None and call.foreign

    def cancel(self) -> None:
        """Cancel the transfer from any thread: the iterator then raises ``ApiCancelledError``
        (after the events already received). No effect once the stream has ended."""
        self._cancelled = True
        call = self._call
        if call is not None:
            call.cancel()

    @property
    def closed(self) -> bool:
        """True once the stream was released (finished, failed or closed)."""
        return self._request is None

    def __del__(self) -> None:
        try:
            self._release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def cancelled_error() -> ApiCancelledError:
    return ApiCancelledError("the stream was cancelled before it started", attempts=0,
                             error={"type": "cancelled", "message": "the stream was cancelled before it started"})


def forked_error() -> ApiConnectionError:
    message = ("this stream was opened in another process (before fork()); it belongs to that "
               "process: open a new stream here")
    return ApiConnectionError(message, error={"type": "connection_error", "message": message})


class StreamAttributes:
    """The attributes both stream classes read from their shared state (terminal ones are set
    when the stream ends)."""

    _state: StreamState

    @property
    def closed(self) -> bool:
        return self._state.closed

    @property
    def done(self) -> bool:
        return self._state.done

    @property
    def error(self) -> Optional[HumanloopError]:
        return self._state.error

    @property
    def status(self) -> Optional[int]:
        return self._state.status

    @property
    def headers(self) -> Optional[Any]:
        return self._state.headers

    @property
    def round_trip_time(self) -> Optional[float]:
        return self._state.round_trip_time

    @property
    def attempts(self) -> Optional[int]:
        return self._state.attempts

    @property
    def event_count(self) -> Optional[int]:
        return self._state.event_count
