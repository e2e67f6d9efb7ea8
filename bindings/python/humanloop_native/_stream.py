"""Iterators over the events of a streaming completion."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, AsyncIterator, Dict, Generator, Iterator, Optional

from ._errors import HumanloopError, error_from_envelope
from ._native import lib, take_string

__all__ = ["CompletionStream", "AsyncCompletionStream"]

_END = object()


class CompletionStream(Iterator[Dict[str, Any]]):
    """A plain iterator over the events of one streaming call, each a whole event dict.

    Each item is the JSON object the server sent (``{"data": [{"id": ..., "output": ...,
    "finish_reason": ..., "index": ...}], ...}``), untouched, in arrival order. The connection is
    opened lazily by the first ``next()`` and closed when the stream ends, when ``close()`` is
    called, when a ``with`` block exits, or when the object is garbage-collected (so breaking
    out of ``for event in humanloop.complete_stream(...)`` closes it at once).

    An error (non-2xx status, connection failure, timeout, a stream cut short, invalid request)
    is raised from the iterator as the matching ``HumanloopError`` subclass; a non-2xx status
    raises ``ApiStreamingException`` (a subclass of ``ApiException``).

    After the stream ended cleanly, ``status``, ``headers``, ``round_trip_time``, ``attempts``
    and ``event_count`` describe the response; before that they are ``None``.

    A stream may be consumed from any thread, but from one thread at a time.
    """

    status: Optional[int]
    headers: Optional[Any]
    round_trip_time: Optional[float]
    attempts: Optional[int]
    event_count: Optional[int]

    def __init__(self, handle: int) -> None:
        self._handle: Optional[int] = handle
        self._lock = threading.Lock()
        self.status = None
        self.headers = None
        self.round_trip_time = None
        self.attempts = None
        self.event_count = None
        self.done = False
        self.error: Optional[HumanloopError] = None

    # -- iteration -------------------------------------------------------------------------
    def __iter__(self) -> "CompletionStream":
        return self

    def __next__(self) -> Dict[str, Any]:
        item = self._next_item()
        if item is _END:
            raise StopIteration
        event: Dict[str, Any] = item
        return event

    def _next_item(self) -> Any:
        """The next event dict, or _END; raises the stream's error. Never raises StopIteration
        (so it can run in a thread executor)."""
        with self._lock:
            handle = self._handle
            if handle is None:
                return _END
            raw = take_string(lib.hl_stream_next(handle))
            if raw is None:
                self._free_locked()
                return _END
            item = json.loads(raw)
            if item.get("ok"):
                if "event" in item:
                    return item["event"]
                self._finish(item)
                self._free_locked()
                return _END
            self._free_locked()
            self.error = error_from_envelope(item, streaming=True)
            raise self.error

    def _finish(self, item: Dict[str, Any]) -> None:
        from ._client import Headers

        self.done = True
        self.status = item.get("status")
        self.headers = Headers(item.get("headers") or {})
        self.round_trip_time = item.get("round_trip_time")
        self.attempts = item.get("attempts")
        self.event_count = item.get("events")

    # -- closing ---------------------------------------------------------------------------
    def _free_locked(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            lib.hl_stream_free(handle)

    def close(self) -> None:
        """Close the connection (if still open) and release the stream. Idempotent."""
        with self._lock:
            self._free_locked()

    @property
    def closed(self) -> bool:
        """True once the stream was released (finished, failed or closed)."""
        return self._handle is None

    def __enter__(self) -> "CompletionStream":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            handle, self._handle = self._handle, None
            if handle is not None:
                lib.hl_stream_free(handle)
        except Exception:  # interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "done" if self.done else ("closed" if self.closed else "open")
        return f"<CompletionStream {state} status={self.status}>"


class AsyncCompletionStream(AsyncIterator[Dict[str, Any]]):
    """The async-iterator twin of CompletionStream: each ``hl_stream_next`` runs in the default
    thread executor (``asyncio.to_thread``), so the event loop is never blocked.

    ``async for event in humanloop.acomplete_stream(...)`` works directly; the object can also be
    awaited (it returns itself) and used as ``async with``. Attributes as on CompletionStream.
    """

    def __init__(self, stream: CompletionStream) -> None:
        self._stream = stream

    def __aiter__(self) -> "AsyncCompletionStream":
        return self

    async def __anext__(self) -> Dict[str, Any]:
        item = await asyncio.to_thread(self._stream._next_item)
        if item is _END:
            raise StopAsyncIteration
        event: Dict[str, Any] = item
        return event

    def __await__(self) -> Generator[Any, None, "AsyncCompletionStream"]:
        # ``stream = await humanloop.acomplete_stream(...)`` (the SDK's streams are awaited)
        async def _self() -> "AsyncCompletionStream":
            return self
        return _self().__await__()

    async def aclose(self) -> None:
        """Close the connection (if still open) and release the stream."""
        await asyncio.to_thread(self._stream.close)

    def close(self) -> None:
        """Synchronous close (may wait for a ``next`` running in another thread)."""
        self._stream.close()

    async def __aenter__(self) -> "AsyncCompletionStream":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._stream.closed

    @property
    def done(self) -> bool:
        return self._stream.done

    @property
    def status(self) -> Optional[int]:
        return self._stream.status

    @property
    def headers(self) -> Optional[Any]:
        return self._stream.headers

    @property
    def round_trip_time(self) -> Optional[float]:
        return self._stream.round_trip_time

    @property
    def attempts(self) -> Optional[int]:
        return self._stream.attempts

    @property
    def event_count(self) -> Optional[int]:
        return self._stream.event_count

    def __repr__(self) -> str:
        return "<Async" + repr(self._stream)[1:]
