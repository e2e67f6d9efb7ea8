"""``AsyncCompletionStream``: the async iterator over a streaming completion's events, driven
by the event loop itself (its loop's ``add_reader``; no thread). A consumer that falls behind
pauses the transfer; cancelling the task cancels it."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Dict, Generator, Optional, Tuple

from . import _loops
from ._calls import LOOP_GONE, Call, parse_item, stream_arrived, wake_waiter
from ._errors import error_from_envelope
from ._native import ITEM_EVENT
from ._stream_base import StreamAttributes, StreamRequest, StreamState, cancelled_error, forked_error, sdk_items
from ._types import Headers

__all__ = ["AsyncCompletionStream"]


class AsyncCompletionStream(StreamAttributes, AsyncIterator[Dict[str, Any]]):
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
        self._state = StreamState(request)
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
        driver = (_loops.loop_driver_now(loop, request.native)
                  or await _loops.loop_driver(loop, request.native, request.client, request.options))
        self._call = state._begin(driver, stream_arrived)
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
                state.error = cancelled_error()
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
                return kind, parse_item(raw)
            if state.closed or self._ended:
                return None
            if call.foreign:
                state._release()
                state.error = forked_error()
                raise state.error
            if call.driver.handle is None:  # its loop was freed (its event loop went away)
                call.inbox.append(LOOP_GONE)
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
        call = self._call
        if call is not None and call.inbox and self._peeked is None:
            # An item is here already (a burst): no second coroutine to await.
            kind, raw = call.take()
            event = self._consume((kind, parse_item(raw)))
            if event is None:
                raise StopAsyncIteration
            return event
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
            wake_waiter(call)
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
