"""Iterators over the events of a streaming completion, on loops the consumer's thread runs.

A stream is submitted lazily (first ``next()``, ``async for`` step or ``await``) with
``{"stream": true}``: the blocking iterator to its thread's loop, which ``next()`` runs in
slices of at most 100 ms while no event is buffered; the async one to its event loop's loop, run
by the event loop itself (``_engine``). Items land in the call's inbox; a stream whose consumer
falls HIGH_WATER events behind is paused (``hl_call_pause``) until it has caught up. No thread is
started and no executor is used.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Dict, Generator, Iterator, Optional, Tuple

from . import _engine
from ._engine import ITEM_EVENT, Call, Driver, NativeClient
from ._errors import ApiCancelledError, ApiConnectionError, HumanloopError, error_from_envelope

__all__ = ["CompletionStream", "AsyncCompletionStream", "StreamRequest"]

_CLOSED = object()  # what CompletionStream._wait returns once the stream was closed


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


class _StreamState:
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

    def _begin(self, driver: Driver, notify: _engine.Notify) -> Optional[Call]:
        """Submit the call once; None when the stream is already released."""
        request = self._request
        if request is None or request.native is None:
            return None
        call = _engine.submit(driver, request.name, request.payload, request.options, stream=True, notify=notify)
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
        from ._client import Headers

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


def _cancelled_error() -> ApiCancelledError:
    return ApiCancelledError("the stream was cancelled before it started", attempts=0,
                             error={"type": "cancelled", "message": "the stream was cancelled before it started"})


def _forked_error() -> ApiConnectionError:
    message = ("this stream was opened in another process (before fork()); it belongs to that "
               "process: open a new stream here")
    return ApiConnectionError(message, error={"type": "connection_error", "message": message})


class _StreamAttributes:
    """The attributes both stream classes read from their shared state (terminal ones are set
    when the stream ends)."""

    _state: _StreamState

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


class CompletionStream(_StreamAttributes, Iterator[Dict[str, Any]]):
    """A plain iterator over the events of one streaming call, each a whole event dict.

    Each item is the JSON object the server sent (``{"data": [{"id": ..., "output": ...,
    "finish_reason": ..., "index": ...}], ...}``), untouched, in arrival order. The call starts at
    the first ``next()`` and the connection is closed when the stream ends, when ``close()`` is
    called, when a ``with`` block exits, or when the object is garbage-collected (so breaking
    out of ``for event in humanloop.complete_stream(...)`` closes it at once). Ctrl-C while
    waiting for an event raises ``KeyboardInterrupt`` and closes the stream.

    An error (non-2xx status, connection failure, timeout, a stream cut short, invalid request)
    is raised from the iterator as the matching ``HumanloopError`` subclass; a non-2xx status
    raises ``ApiStreamingException`` (a subclass of ``ApiException``), which for 400, 401, 403,
    404, 409, 422, 429 and 5xx is also an instance of the status's class (``NotFoundError``, ...).

    After the stream ended cleanly, ``status``, ``headers``, ``round_trip_time``, ``attempts``
    and ``event_count`` describe the response; before that they are ``None``.

    ``await stream`` (the official SDK's ``r = await humanloop.complete_stream(...)``) turns it
    into an ``AsyncCompletionStream`` (``r.content``, ``r.status``, ``r.headers``); so does
    ``async for``. A stream may be consumed from any thread, from one thread at a time.
    """

    def __init__(self, request: StreamRequest) -> None:
        self._state = _StreamState(request)
        self._call: Optional[Call] = None  # kept after release: its inbox may hold events still
        self._started = False

    # -- iteration -------------------------------------------------------------------------
    def __iter__(self) -> "CompletionStream":
        return self

    def __next__(self) -> Dict[str, Any]:
        state = self._state
        if not self._started:
            if state.closed:
                raise StopIteration
            if state._cancelled:
                state._release()
                state.error = _cancelled_error()
                raise state.error
            self._started = True
            request = state._request
            if request is None or request.native is None:
                raise StopIteration
            driver = _engine.thread_driver(request.native, request.client, request.options)
            self._call = state._begin(driver, _engine.check_pause)
            if self._call is None:
                raise StopIteration
        raw = self._wait()
        if raw is _CLOSED:
            raise StopIteration
        kind, data = raw
        item = _engine.parse_item(data)
        if kind == ITEM_EVENT and item.get("ok"):
            event = item.get("event")
            if event is not None:
                result: Dict[str, Any] = event
                return result
        if item.get("ok"):
            state._finish(item)
            state._release()
            raise StopIteration
        state._release()
        state.error = error_from_envelope(item, streaming=True)
        raise state.error

    def _wait(self) -> Any:
        """The next item of the call, running its loop on this thread in slices while none is
        buffered; _CLOSED once the stream was closed (and its buffered events taken)."""
        state = self._state
        call = self._call
        if call is None:
            return _CLOSED
        driver = call.driver
        try:
            while True:
                if call.inbox:
                    return call.take()
                if state.closed:
                    return _CLOSED
                if call.foreign:
                    state._release()
                    state.error = _forked_error()
                    raise state.error
                if driver.handle is None:  # its loop was freed (interpreter exit)
                    call.inbox.append(_engine._LOOP_GONE)
                    continue
                driver.run_slice(call.inbox)
        except BaseException as exc:
            driver.disown()
            if not isinstance(exc, HumanloopError):  # KeyboardInterrupt & co: stop the transfer
                state._release()
            raise

    # -- asyncio ---------------------------------------------------------------------------
    def _to_async(self) -> "AsyncCompletionStream":
        if self._started:
            raise RuntimeError("this stream is already being iterated synchronously")
        self._started = True
        state = self._state
        with state._guard:
            request, state._request = state._request, None
        return AsyncCompletionStream(request, cancelled=state._cancelled)

    def __await__(self) -> Generator[Any, None, "AsyncCompletionStream"]:
        """``r = await humanloop.complete_stream(...)``: the SDK's spelling; returns an
        ``AsyncCompletionStream`` once the answer has started (raises its error if it failed)."""
        return self._to_async().__await__()

    def __aiter__(self) -> "AsyncCompletionStream":
        return self._to_async()

    # -- closing ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (if still open) and release the stream. Idempotent; any
        thread (a ``next()`` waiting in another thread then ends)."""
        self._state._release()
        call = self._call
        if call is not None:
            call.driver._wake()  # a next() waiting in another thread looks again

    def cancel(self) -> None:
        """Cancel the transfer from any thread: the iterator raises ``ApiCancelledError``."""
        self._state.cancel()

    def __enter__(self) -> "CompletionStream":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "done" if self.done else ("closed" if self.closed else "open")
        return f"<CompletionStream {state} status={self.status}>"



class AsyncCompletionStream(_StreamAttributes, AsyncIterator[Dict[str, Any]]):
    """The asyncio twin of CompletionStream: ``async for event in stream`` yields whole event
    dicts as they arrive, on the event loop's own libhumanloop loop, which the event loop runs on
    its thread (``add_reader``; no other thread, no executor). A consumer that falls HIGH_WATER
    events behind pauses the transfer until it has caught up (nothing is dropped).

    Also ``async with``, ``await aclose()``, and the official SDK's shape: ``r = await stream``
    waits until the answer has started (raising ``ApiStreamingException`` for a non-2xx status,
    as the SDK does) and returns the stream, whose ``r.content`` is an async iterator of the
    SDK's items (``tok["output"]``, ``tok["id"]``, ...), with ``r.status`` and ``r.headers``
    (``headers`` is filled in when the stream ends). Cancelling the task that iterates it closes
    the connection. Attributes as on CompletionStream.
    """

    def __init__(self, request: Optional[StreamRequest], *, cancelled: bool = False) -> None:
        self._state = _StreamState(request)
        self._state._cancelled = cancelled
        self._call: Optional[Call] = None  # kept after release: its inbox may hold events still
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._ended = False
        self._peeked: Optional[Tuple[int, Dict[str, Any]]] = None  # the first item, looked at by ``await``

    # -- the loop side ----------------------------------------------------------------------
    async def _begin(self) -> Optional[Call]:
        """Submit the call to the event loop's loop; None when the stream is already released."""
        state = self._state
        request = state._request
        if request is None or request.native is None:
            return None
        loop = self._loop = asyncio.get_running_loop()
        driver = (_engine.loop_driver_now(loop, request.native)
                  or await _engine.loop_driver(loop, request.native, request.client, request.options))
        self._call = state._begin(driver, _engine.stream_arrived)
        return self._call

    async def _next_item(self) -> Optional[Tuple[int, Dict[str, Any]]]:
        """The next item ((kind, envelope dict)), or None when the stream is over (closed)."""
        if self._peeked is not None:
            item, self._peeked = self._peeked, None
            return item
        state = self._state
        call = self._call
        if call is None:
            if self._loop is not None or state.closed:
                return None
            if state._cancelled:
                state._release()
                state.error = _cancelled_error()
                raise state.error
            try:
                call = await self._begin()
            except BaseException:
                state._release()
                raise
            if call is None:
                return None
        while True:
            if call.inbox:
                kind, raw = call.take()
                return kind, _engine.parse_item(raw)
            if state.closed or self._ended:
                return None
            if call.foreign:
                state._release()
                state.error = _forked_error()
                raise state.error
            if call.driver.handle is None:  # its loop was freed (its event loop went away)
                call.inbox.append(_engine._LOOP_GONE)
                continue
            assert self._loop is not None
            waiter: "asyncio.Future[None]" = self._loop.create_future()
            call.waiter = waiter
            try:
                await waiter
            except BaseException:  # the task was cancelled: stop the transfer
                state._release()
                raise
            finally:
                call.waiter = None

    def _consume(self, taken: Tuple[int, Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        """An event dict, or None at the clean end; raises the stream's error."""
        state = self._state
        kind, item = taken
        if item.get("ok"):
            event = item.get("event") if kind == ITEM_EVENT else None
            if event is not None:
                result: Dict[str, Any] = event
                return result
            self._ended = True
            state._finish(item)
            state._release()
            return None
        self._ended = True
        state._release()
        state.error = error_from_envelope(item, streaming=True)
        raise state.error

    def __aiter__(self) -> "AsyncCompletionStream":
        return self

    async def __anext__(self) -> Dict[str, Any]:
        if self._ended:
            raise StopAsyncIteration
        item = await self._next_item()
        if item is None:
            self._ended = True
            raise StopAsyncIteration
        event = self._consume(item)
        if event is None:
            raise StopAsyncIteration
        return event

    async def _started(self) -> "AsyncCompletionStream":
        """Wait for the first item without consuming it (the SDK's ``await``)."""
        call = self._call
        if self._ended or self._peeked is not None or (call is not None and call.inbox) or self._state.done:
            return self
        taken = await self._next_item()
        if taken is None:
            return self
        kind, item = taken
        if not item.get("ok"):
            self._consume(taken)  # raises
        self._peeked = taken
        if kind == ITEM_EVENT:
            from ._client import Headers

            state = self._state
            if state.status is None:
                # Events only come with a 2xx answer; the exact status and the headers are in
                # the terminal item (headers are filled in then).
                state.status = item.get("status", 200)
                state.headers = Headers(item.get("headers") or {})
        else:
            self._state._finish(item)
        return self

    def __await__(self) -> Generator[Any, None, "AsyncCompletionStream"]:
        # ``stream = await humanloop.acomplete_stream(...)`` (the SDK's streams are awaited)
        return self._started().__await__()

    @property
    def content(self) -> AsyncIterator[Dict[str, Any]]:
        """The official SDK's item stream: ``async for tok in r.content: tok["output"], tok["id"]``."""
        return self._content()

    async def _content(self) -> AsyncIterator[Dict[str, Any]]:
        async for event in self:
            for token in sdk_items(event):
                yield token

    # -- closing ---------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the connection (if still open) and release the stream."""
        self.close()

    def close(self) -> None:
        """Close the connection (if still open) and release the stream. Idempotent; any thread
        (an ``async for`` waiting on the event loop then ends)."""
        self._state._release()
        call = self._call
        if call is None or call.waiter is None:
            return
        loop = self._loop
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            _engine.wake_waiter(call)
        else:  # the event loop's thread wakes it, through the loop's descriptor
            call.driver.poke(call)

    def cancel(self) -> None:
        """Cancel the transfer (any thread): the iterator raises ``ApiCancelledError``."""
        self._state.cancel()

    async def __aenter__(self) -> "AsyncCompletionStream":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()


    def __repr__(self) -> str:
        state = "done" if self.done else ("closed" if self.closed else "open")
        return f"<AsyncCompletionStream {state} status={self.status}>"
