"""The Humanloop client: the four completion calls of the official SDK 0.5.16, over libhumanloop.

``Humanloop`` is made here (its configuration, ``with_options``, the SDK's ``completions`` tag
API and the batch methods); the endpoints' methods come from ``_endpoints``, the machinery of a
call from ``_base_client``."""

from __future__ import annotations

import ctypes
import json
import os
import threading
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Union

from ._batch_iter import AsyncBatchIterator, BatchIterator, aiter_batch, arun_batch, iter_batch, run_batch
from ._calls import NativeClient
from ._endpoints import Endpoints
from ._errors import HumanloopError, error_from_envelope
from ._logging import sync_level as sync_log_level
from ._native import lib, take_string
from ._request import client_config_json, config_problem, configured_timeout, header_dict, in_python_words, timeout_fields
from ._types import NOT_GIVEN, ApiResponse, Headers, NotGiven, Timeout

__all__ = ["Humanloop", "ApiResponse", "Headers", "NOT_GIVEN", "NotGiven"]


class _Completions:
    """``humanloop.completions``: the SDK's tag API names (create, create_deployed, ...), each the
    client's method of the same call, with its full signature."""

    __slots__ = ("create", "create_deployed", "create_experiment", "create_model_config",
                 "acreate", "acreate_deployed", "acreate_experiment", "acreate_model_config")

    def __init__(self, client: "Humanloop") -> None:
        self.create = client.complete
        self.create_deployed = client.complete_deployed
        self.create_experiment = client.complete_experiment
        self.create_model_config = client.complete_model_configuration
        self.acreate = client.acomplete
        self.acreate_deployed = client.acomplete_deployed
        self.acreate_experiment = client.acomplete_experiment
        self.acreate_model_config = client.acomplete_model_configuration



class Humanloop(Endpoints):
    """A Humanloop v4 completions client (drop-in for the official SDK 0.5.16's four completion
    calls), backed by libhumanloop.

    Thread-safe: one client may be used by any number of threads at once (connections are
    pooled and kept alive). Every call runs on a libhumanloop loop (libcurl's multi interface)
    that the waiting thread drives itself: the ``a``-prefixed methods on the asyncio event loop's
    thread (one loop per event loop, watched with ``add_reader``; no other thread), the blocking
    methods on the calling thread (one loop per thread) in slices of at most 100 ms, so Ctrl-C
    interrupts them (``KeyboardInterrupt``) and cancels the transfer. Close the client with
    ``close()``, a ``with`` block, or let garbage collection do it; calls in flight finish
    first. ``with_options(...)`` (or ``copy(...)``) makes a client with other per-call defaults
    (``timeout``, ``max_retries``, ``default_headers``) that shares this one's connections.
    """

    def __init__(
        self,
        *,
        api_key: Union[str, Mapping[str, str], None] = None,
        openai_api_key: Optional[str] = None,
        openai_azure_api_key: Optional[str] = None,
        openai_azure_endpoint_api_key: Optional[str] = None,
        ai21_api_key: Optional[str] = None,
        mock_api_key: Optional[str] = None,
        anthropic_api_key: Optional[str] = None,
        cohere_api_key: Optional[str] = None,
        host: Optional[str] = None,
        timeout: Timeout = NOT_GIVEN,
        connect_timeout: Optional[float] = None,
        low_speed_timeout: Optional[float] = None,
        user_agent: Optional[str] = None,
        max_retries: Optional[int] = None,
        retry_base_delay: Optional[float] = None,
        retry_max_delay: Optional[float] = None,
        max_response_bytes: Optional[int] = None,
        ca_bundle: Optional[str] = None,
        proxy: Optional[str] = None,
        log_level: Optional[str] = None,
        max_connections: Optional[int] = None,
        default_headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        """Create a client.

        Args:
            api_key: the Humanloop API key (sent as ``X-API-KEY``); default: the environment
                variable HUMANLOOP_API_KEY. A dict ``{"APIKeyHeader": key}`` (SDK style) works too.
            openai_api_key, openai_azure_api_key, openai_azure_endpoint_api_key, ai21_api_key,
                mock_api_key, anthropic_api_key, cohere_api_key: client-level provider keys,
                merged into every request's ``provider_api_keys`` (a key given in the call wins).
            host: base URL, default HUMANLOOP_HOST else ``https://api.humanloop.com/v4``.
            timeout: the overall limit of an attempt (default: 600 s). A number: seconds for
                each attempt of a non-stream call; for a stream, the time until the answer's
                head and first event, after which only ``low_speed_timeout`` applies (a stream
                that keeps sending never times out). ``None``: no overall limit at all (only
                ``connect_timeout`` and ``low_speed_timeout`` apply). A ``(connect, read)`` pair,
                as httpx and requests users write it (an ``httpx.Timeout`` works too): sets
                ``connect_timeout=connect`` and ``low_speed_timeout=read`` (httpx's read timeout
                is the longest gap between bytes) and no overall limit. An overall deadline for
                a stream is asyncio's ``wait_for`` / task cancellation or ``stream.close()``.
            connect_timeout: seconds to establish a connection (default 10).
            low_speed_timeout: the longest gap between received bytes, in seconds, before an
                attempt ends as a timeout (default 60).
            user_agent: the User-Agent header (default ``libhumanloop/<version>``).
            max_retries: retries of connection failures and 408/409/429/5xx (default 2).
            retry_base_delay, retry_max_delay: exponential backoff bounds in seconds (0.5, 8).
            max_response_bytes: largest response body accepted (default 64 MiB).
            ca_bundle: path of a CA certificate bundle for TLS.
            proxy: proxy URL.
            log_level: "off", "info" (one line per HTTP attempt) or "debug" (also headers and
                bodies; never a key); default HUMANLOOP_LOG. Lines go to
                ``logging.getLogger("humanloop_native")`` (to stderr when logging is not
                configured); that logger's level also turns them on.
            max_connections: the most connections opened to the host at once (default 1000,
                as in openai-python); more calls wait in a queue.
            default_headers: request headers sent with every call (openai-python's name); a
                call's ``extra_headers`` win over them.

        Raises:
            InvalidConfigError: (also a ValueError) the configuration is unusable.
        """
        self._native: Optional[NativeClient] = None
        self._lock = threading.Lock()
        self._closed = False
        self._defaults: Dict[str, Any] = {}
        if default_headers is not None:
            headers = header_dict(default_headers, "default_headers")
            if headers:
                self._defaults["headers"] = headers
        if isinstance(api_key, Mapping):
            api_key = api_key.get("APIKeyHeader")
        config_json = client_config_json(locals())
        sync_log_level()
        error = ctypes.c_void_p()
        handle = lib.hl_client_new(config_json, ctypes.byref(error))
        raw_error = take_string(error.value)
        if not handle:
            if raw_error is None:
                raise MemoryError("hl_client_new failed")
            envelope = json.loads(raw_error)
            details = envelope.get("error") or {}
            if details.get("type") == "invalid_config":  # the keyword arguments' spelling
                details["message"] = in_python_words(str(details.get("message", "")))
                for problem in details.get("errors") or []:
                    problem["message"] = in_python_words(str(problem.get("message", "")))
            raise error_from_envelope(envelope)
        self._native = NativeClient(handle, configured_timeout(config_json))


    def close(self) -> None:
        """Release the client. Idempotent. Calls and streams still running finish first (the
        library client, shared with the clients made by ``with_options``, is released when the
        last of them is done); a call on this object afterwards raises RuntimeError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            native = self._native
        if native is not None:
            native.release()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def max_connections(self) -> int:
        """The most connections asynchronous calls, streams and batches use at once: the
        ``max_connections`` given (default 1000), lowered to what the process's open-file limit
        (the soft ``RLIMIT_NOFILE`` when the client was made) leaves room for, keeping a quarter
        of it for the rest of the program. See ``client_info()``."""
        return int(self.client_info()["engine_max_connections"])

    def client_info(self) -> Dict[str, Any]:
        """The library's settings in effect for this client (``hl_client_info``):
        ``max_connections`` (as configured), ``engine_max_connections`` (asynchronous calls),
        ``blocking_max_connections`` (blocking calls and streams), ``open_file_limit``."""
        native, handle = self._acquire()
        try:
            text = take_string(lib.hl_client_info(handle))
        finally:
            native.release()
        if text is None:
            raise MemoryError("hl_client_info returned NULL")
        info: Dict[str, Any] = json.loads(text)
        return info

    def __enter__(self) -> "Humanloop":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown, or __init__ failed early
            pass

    def __repr__(self) -> str:
        return f"<Humanloop {'closed' if self._closed else 'open'}>"

    def with_options(
        self,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Optional[int] = None,
        connect_timeout: Optional[float] = None,
        low_speed_timeout: Optional[float] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        set_default_headers: Optional[Mapping[str, str]] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> "Humanloop":
        """A client with other defaults for every call, sharing this client's connections and
        configuration (openai-python's ``client.with_options(timeout=..., max_retries=...,
        default_headers=...)``; ``copy(...)`` is the same method).

        Args:
            timeout: as in the constructor: a number (seconds for each attempt of a non-stream
                call; for a stream, until the answer's head and first event, after which only
                ``low_speed_timeout`` applies), ``None`` (no overall limit at all) or a
                ``(connect, read)`` pair (sets ``connect_timeout`` and ``low_speed_timeout``,
                no overall limit). Not given: this client's.
            max_retries: retries of connection failures and 408/409/429/5xx.
            connect_timeout: seconds to establish a connection.
            low_speed_timeout: the longest gap between received bytes, in seconds.
            default_headers: request headers sent with every call of the new client, merged
                over this client's (a call's ``extra_headers`` win over them).
            set_default_headers: the new client's headers instead of this client's (not merged);
                not together with ``default_headers``.
            extra_headers: the same as ``default_headers`` (this binding's earlier name).

        The library client lives as long as any client sharing it (or a call of one) does;
        closing one of them does not disturb the others.

        Raises:
            InvalidConfigError: a malformed ``timeout`` (e.g. a pair given with
                ``connect_timeout``) or headers that are not a dict. Other values are checked
                by the library when a call is made (``InvalidRequestError``, path ``options.*``).
        """
        if default_headers is not None and set_default_headers is not None:
            raise config_problem("give default_headers= (merged) or set_default_headers= (replacing), not both",
                                  "default_headers")
        try:
            timing = timeout_fields(timeout, connect_timeout, low_speed_timeout)
        except ValueError as exc:
            raise config_problem(str(exc), "timeout") from None
        defaults = dict(self._defaults)
        defaults.update(timing)
        if max_retries is not None:
            defaults["max_retries"] = max_retries
        headers: Dict[str, str] = dict(defaults.get("headers", {}))
        if set_default_headers is not None:
            headers = header_dict(set_default_headers, "set_default_headers")
        for name, given in (("default_headers", default_headers), ("extra_headers", extra_headers)):
            if given is not None:
                headers.update(header_dict(given, name))
        if headers:
            defaults["headers"] = headers
        else:
            defaults.pop("headers", None)
        native, _ = self._acquire()
        clone = object.__new__(type(self))
        clone._native = native
        clone._lock = threading.Lock()
        clone._closed = False
        clone._defaults = defaults
        return clone

    copy = with_options

    @property
    def completions(self) -> _Completions:
        """The SDK's tag-API spelling: ``humanloop.completions.create(...)``,
        ``create_deployed``, ``create_experiment``, ``create_model_config`` (and ``a``-prefixed)."""
        return _Completions(self)


    # -- batches ---------------------------------------------------------------------------
    def iter_batch(self, requests: Iterable[Mapping[str, Any]], *, concurrency: int = 16,
                   checkpoint: Union[str, "os.PathLike[str]", None] = None,
                   progress: Union[bool, Callable[[int, int, int], Any]] = False,
                   rate_aware: bool = True) -> "BatchIterator":
        """Run many calls on the library's engine, at most ``concurrency`` at once, and yield
        ``(index, result)`` for each request as it finishes (completion order, like
        ``concurrent.futures.as_completed``): ``result`` is the call's ``ApiResponse`` or its
        exception (yielded, not raised). Each request is a dict as for ``complete_batch``.

        The batch starts at the first ``next()``. Leaving the loop early (``break``, an exception,
        Ctrl-C, ``close()``, the end of a ``with`` block) cancels the calls in flight and starts no
        more; what was yielded stays yours. Ctrl-C raises KeyboardInterrupt within 200 ms.

        Args:
            concurrency: calls in flight at once (1..10000; fewer while the server answers 429).
            checkpoint: a file recording each finished result at once (one JSON line each); a
                rerun with the same file and requests sends only the requests without a result
                there and yields the recorded ones first. ``CheckpointError`` if the file's
                records were made for other requests. The file is kept (it is yours).
            progress: True for done/total, failures and requests/s on stderr (an updating line
                on a terminal; else a log line at most every 10 s), or a callable called as
                ``progress(done, total, failed)``.
            rate_aware: slow down on 429 (and 503 with Retry-After): fewer calls in flight,
                Retry-After pauses new calls, a 429'd request is requeued (up to 10 times)
                instead of failing. ``False``: each 429 is the request's result (after its
                retries).
        """
        return iter_batch(self, requests, concurrency, checkpoint, progress, rate_aware)

    def aiter_batch(self, requests: Iterable[Mapping[str, Any]], *, concurrency: int = 16,
                    checkpoint: Union[str, "os.PathLike[str]", None] = None,
                    progress: Union[bool, Callable[[int, int, int], Any]] = False,
                    rate_aware: bool = True) -> "AsyncBatchIterator":
        """``iter_batch`` for asyncio: ``async for index, result in humanloop.aiter_batch(...)``.
        The batch's queue is watched by the event loop (``add_reader``; no other thread);
        ``break``, an exception, cancelling the task or an ``asyncio.wait_for`` timeout cancels
        the calls in flight (``await it.aclose()`` does it explicitly)."""
        return aiter_batch(self, requests, concurrency, checkpoint, progress, rate_aware)

    def complete_batch(self, requests: Iterable[Mapping[str, Any]], *, concurrency: int = 16,
                       progress: Union[bool, Callable[[int, int, int], Any]] = False,
                       checkpoint: Union[str, "os.PathLike[str]", None] = None,
                       rate_aware: bool = True) -> List[Union["ApiResponse", HumanloopError, Exception]]:
        """Run many calls on the library's engine, at most ``concurrency`` at once, and return, in
        request order, each call's ``ApiResponse`` or its exception (returned, not raised).

        Each request is a dict of the call's keyword arguments plus ``"call"``, the method
        (``"complete"`` when absent, ``"complete_deployed"``, ``"complete_experiment"``,
        ``"complete_model_configuration"``, or the SDK's ``"create"``, ``"create_deployed"``,
        ``"create_experiment"``, ``"create_model_config"``); per-call options (``timeout``,
        ``max_retries``, ``extra_headers``) may be given in it too. ``progress``, ``checkpoint``
        and ``rate_aware`` as for ``iter_batch`` (on which this is built): with a checkpoint, a
        rerun after an interruption sends only the requests without a recorded result and
        returns the full list. Ctrl-C cancels the calls in flight and raises KeyboardInterrupt.
        """
        return run_batch(self, requests, concurrency, progress, checkpoint, rate_aware)

    async def acomplete_batch(self, requests: Iterable[Mapping[str, Any]], *, concurrency: int = 16,
                              progress: Union[bool, Callable[[int, int, int], Any]] = False,
                              checkpoint: Union[str, "os.PathLike[str]", None] = None,
                              rate_aware: bool = True) -> List[Union["ApiResponse", HumanloopError, Exception]]:
        """``complete_batch`` awaited (built on ``aiter_batch``): the same requests, results and
        checkpoints; cancelling the task cancels the calls in flight."""
        return await arun_batch(self, requests, concurrency, progress, checkpoint, rate_aware)
