"""``CompletionStream``: the blocking iterator over a streaming completion's events. Its call
runs on the consumer's thread's loop, which ``next()`` runs in slices of at most 100 ms while no
event is buffered (Ctrl-C interrupts it). ``await`` or ``async for`` turns it into an
``AsyncCompletionStream`` (the SDK's async spelling)."""

from __future__ import annotations

from typing import Any, Dict, Generator, Iterator, Optional

from . import _loops
from ._async_stream import AsyncCompletionStream
from ._calls import LOOP_GONE, Call, check_pause, parse_item
from ._errors import HumanloopError, error_from_envelope
from ._native import ITEM_EVENT
from ._stream_base import StreamAttributes, StreamRequest, StreamState, cancelled_error, forked_error

__all__ = ["CompletionStream", "AsyncCompletionStream", "StreamRequest"]

_CLOSED = object()  # what CompletionStream._wait returns once the stream was closed

class CompletionStream(StreamAttributes, Iterator[Dict[str, Any]]):
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
        self._state = StreamState(request)
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
                state.error = cancelled_error()
                raise state.error
            self._started = True
            request = state._request
            if request is None or request.native is None:
                raise StopIteration
            driver = _loops.thread_driver(request.native, request.client, request.options)
            self._call = state._begin(driver, check_pause)
            if self._call is None:
                raise StopIteration
        raw = self._wait()
        if raw is _CLOSED:
            raise StopIteration
        kind, data = raw
        item = parse_item(data)
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
                    state.error = forked_error()
                    raise state.error
                if driver.handle is None:  # its loop was freed (interpreter exit)
                    call.inbox.append(LOOP_GONE)
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
