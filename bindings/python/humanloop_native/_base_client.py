"""The machinery under every call of a client: its reference to the library client, and
running one call on this thread's loop (blocking), on the event loop's loop (asyncio), or as a
stream. ``Humanloop`` adds the constructor, the options and the public methods."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Dict, Mapping, Optional, Tuple

from . import _loops
from ._calls import NativeClient, parse_item, wake_waiter
from ._request import encode, given, options_json, outcome
from ._stream_base import StreamRequest
from ._types import ApiResponse

__all__ = ["BaseClient"]


class BaseClient:
    """A client's state (set by ``Humanloop.__init__`` and ``with_options``) and how it runs calls."""

    _native: Optional[NativeClient]
    _lock: threading.Lock
    _closed: bool
    _defaults: Dict[str, Any]

    def _acquire(self) -> Tuple[NativeClient, int]:
        """A reference to the native client for one call (released by the call)."""
        native = self._native
        if self._closed or native is None:
            raise RuntimeError("this Humanloop client is closed")
        return native, native.acquire()

    def _prepare(self, scope: Mapping[str, Any], stream: bool = False) -> Tuple[bytes, Optional[bytes]]:
        body = given(scope)
        if stream:
            body.pop("stream", None)  # the library sets "stream": true itself
        return encode(body), options_json(self._defaults, scope, stream)

    def _run(self, name: bytes, payload: bytes, options: Optional[bytes]) -> Dict[str, Any]:
        """A call on this thread's loop, run here in slices of at most 100 ms until its answer
        arrives (Ctrl-C: KeyboardInterrupt, the transfer is cancelled and its connection closed)."""
        native, handle = self._acquire()
        try:
            driver = _loops.thread_driver(native, handle, options)
            call = _loops.submit(driver, name, payload, options, native=native)
        except BaseException:
            native.release()
            raise
        try:
            driver.wait(call)
        except BaseException:
            call.cancel()
            call.free()
            raise
        raw = call.take()[1]
        call.free()
        return parse_item(raw)

    async def _arun(self, name: bytes, payload: bytes, options: Optional[bytes]) -> Dict[str, Any]:
        """A call on the event loop's loop (run by the event loop itself, on its thread), awaited;
        a cancelled task cancels the transfer."""
        loop = asyncio.get_running_loop()
        native, handle = self._acquire()
        try:
            driver = (_loops.loop_driver_now(loop, native)
                      or await _loops.loop_driver(loop, native, handle, options))
            call = _loops.submit(driver, name, payload, options, native=native, notify=wake_waiter)
        except BaseException:
            native.release()
            raise
        try:
            if not call.inbox:
                call.waiter = loop.create_future()
                await call.waiter
            raw = call.take()[1]
        except BaseException:
            call.cancel()
            raise
        finally:
            call.free()
        return parse_item(raw)

    def _call(self, name: bytes, scope: Mapping[str, Any]) -> "ApiResponse":
        payload, options = self._prepare(scope)
        return outcome(self._run(name, payload, options))

    def _stream_request(self, name: bytes, scope: Mapping[str, Any]) -> StreamRequest:
        payload, options = self._prepare(scope, stream=True)
        native = self._native
        if self._closed or native is None:
            raise RuntimeError("this Humanloop client is closed")
        return StreamRequest(native, name, payload, options or b"{}")
