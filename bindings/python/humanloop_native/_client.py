"""The Humanloop client: the four completion calls of the official SDK 0.5.16, over libhumanloop."""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import json
import math
import os
import re
import threading
from typing import (TYPE_CHECKING, Any, Callable, Concatenate, Coroutine, Dict, Iterable, List, Mapping, Optional,
                    ParamSpec, Protocol, Tuple, TypeVar, Union)

from . import _engine
from ._engine import NativeClient
from ._errors import HumanloopError, InvalidConfigError, InvalidRequestError, error_from_envelope
from ._logging import sync_level as sync_log_level
from ._native import lib, take_string
from ._stream import AsyncCompletionStream, CompletionStream, StreamRequest

if TYPE_CHECKING:
    from ._batch import AsyncBatchIterator, BatchIterator

__all__ = ["Humanloop", "ApiResponse", "Headers", "NOT_GIVEN", "NotGiven"]


class NotGiven:
    """The type of ``NOT_GIVEN``, the default of ``timeout=`` (and of ``with_options``'
    arguments): "not given", so that ``timeout=None`` can mean "no overall limit", as in
    openai-python."""

    __slots__ = ()
    _instance: Optional["NotGiven"] = None

    def __new__(cls) -> "NotGiven":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


#: "Not given": the default of ``timeout=`` (``None`` means no overall limit).
NOT_GIVEN = NotGiven()

class ConnectRead(Protocol):
    """An object with ``connect`` and ``read`` timeouts in seconds, such as ``httpx.Timeout``."""

    connect: Optional[float]
    read: Optional[float]


#: What ``timeout=`` takes: seconds, ``None`` (no overall limit), a ``(connect, read)`` pair
#: (or an object with ``.connect`` and ``.read``, such as ``httpx.Timeout``), or NOT_GIVEN.
Timeout = Union[float, Tuple[float, float], ConnectRead, None, NotGiven]


class Headers(Dict[str, str]):
    """Response headers: a dict with lower-case names whose lookups ignore case
    (``headers["Content-Type"]`` and ``headers["content-type"]`` are the same). Repeated headers
    are joined with ", "."""

    def __init__(self, items: Union[Mapping[str, str], None] = None) -> None:
        super().__init__()
        for key, value in (items or {}).items():
            super().__setitem__(key.lower() if isinstance(key, str) else key, value)

    @staticmethod
    def _k(key: Any) -> Any:
        return key.lower() if isinstance(key, str) else key

    def __getitem__(self, key: Any) -> str:
        return super().__getitem__(self._k(key))

    def __setitem__(self, key: Any, value: str) -> None:
        super().__setitem__(self._k(key), value)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(self._k(key))

    def __contains__(self, key: Any) -> bool:
        return super().__contains__(self._k(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._k(key), default)


class ApiResponse:
    """A successful (2xx) answer, with the attributes of the official SDK's response object.

    Attributes:
        body: the parsed JSON body (the CompletionResponse: ``body["data"]``,
            ``body["provider_responses"]``, ``body["usage"]``, ...).
        headers: the response headers (case-insensitive ``Headers``).
        status: the HTTP status code.
        round_trip_time: seconds taken by the (last) attempt, body included.
        attempts: number of HTTP attempts made (retries + 1).
        timings: per-phase timings of the last attempt (namelookup, connect, tls, pretransfer,
            starttransfer, total) or None.
        events: for a call made with ``stream=True``, every event as received; else None.
    """

    __slots__ = ("body", "headers", "status", "round_trip_time", "attempts", "timings", "events")

    def __init__(self, envelope: Mapping[str, Any]) -> None:
        self.body: Any = envelope.get("body")
        self.headers: Headers = Headers(envelope.get("headers") or {})
        self.status: int = envelope.get("status", 0)
        self.round_trip_time: float = envelope.get("round_trip_time", 0.0)
        self.attempts: int = envelope.get("attempts", 1)
        self.timings: Optional[Dict[str, float]] = envelope.get("timings")
        self.events: Optional[List[Dict[str, Any]]] = envelope.get("events")

    def __repr__(self) -> str:
        return f"<ApiResponse status={self.status} round_trip_time={self.round_trip_time:.4f}>"


_CONFIG_KEYS = (
    "api_key", "host", "openai_api_key", "openai_azure_api_key", "openai_azure_endpoint_api_key",
    "ai21_api_key", "mock_api_key", "anthropic_api_key", "cohere_api_key", "timeout",
    "connect_timeout", "low_speed_timeout", "user_agent", "max_retries", "retry_base_delay",
    "retry_max_delay", "max_response_bytes", "ca_bundle", "proxy", "log_level", "max_connections",
)

_TIMEOUT_FORMS = ("a number of seconds, None (no overall limit) or a (connect, read) pair of numbers "
                  "(httpx.Timeout too)")


def _is_seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _timeout_fields(timeout: Any, connect_timeout: Any = None, low_speed_timeout: Any = None) -> Dict[str, Any]:
    """The JSON fields (configuration or call options) for ``timeout=`` and the
    ``connect_timeout`` / ``low_speed_timeout`` given with it (None: not given).

    * NOT_GIVEN: nothing (the library's default, or the client's for a call);
    * None: ``{"timeout": null}``, no overall limit;
    * a ``(connect, read)`` pair (a tuple or list of two numbers, or an object with ``.connect``
      and ``.read`` such as ``httpx.Timeout``): ``{"timeout": null, "connect_timeout": connect,
      "low_speed_timeout": read}`` (httpx's read timeout is the longest gap between bytes);
    * anything else (a number): ``{"timeout": value}``, checked by the library.

    Raises ValueError (the caller's error class is made from its message) for a malformed pair,
    or a pair given with connect_timeout / low_speed_timeout.
    """
    fields: Dict[str, Any] = {}
    pair: Optional[Tuple[Any, Any]] = None
    if isinstance(timeout, (tuple, list)):
        if len(timeout) != 2:
            raise ValueError(f"timeout must be {_TIMEOUT_FORMS}, not a sequence of {len(timeout)}")
        pair = (timeout[0], timeout[1])
    elif hasattr(timeout, "connect") and hasattr(timeout, "read"):
        pair = (getattr(timeout, "connect"), getattr(timeout, "read"))
    if pair is not None:
        if not all(_is_seconds(part) for part in pair):
            raise ValueError(f"timeout=(connect, read) takes two numbers of seconds, not {pair!r} "
                             "(the connect and read timeouts always have a limit)")
        for name, value in (("connect_timeout", connect_timeout), ("low_speed_timeout", low_speed_timeout)):
            if value is not None:
                raise ValueError(f"timeout=(connect, read) and {name}= both set the {name}: give one of them")
        fields["timeout"] = None
        fields["connect_timeout"], fields["low_speed_timeout"] = pair
        return fields
    if not isinstance(timeout, NotGiven):
        fields["timeout"] = timeout
    if connect_timeout is not None:
        fields["connect_timeout"] = connect_timeout
    if low_speed_timeout is not None:
        fields["low_speed_timeout"] = low_speed_timeout
    return fields


def _config_problem(message: str, path: str) -> InvalidConfigError:
    return InvalidConfigError(message, path=path, errors=[{"path": path, "message": message}])


def _config_json(values: Mapping[str, Any]) -> bytes:
    """config_json for hl_client_new from the constructor's arguments: the given ones (not
    None), ``timeout`` as ``_timeout_fields`` makes it (``null`` for no overall limit)."""
    config = {key: values[key] for key in _CONFIG_KEYS
              if key not in ("timeout", "connect_timeout", "low_speed_timeout") and values.get(key) is not None}
    try:
        timing = _timeout_fields(values.get("timeout", NOT_GIVEN), values.get("connect_timeout"),
                                 values.get("low_speed_timeout"))
    except ValueError as exc:
        raise _config_problem(str(exc), "timeout") from None
    config.update(timing)
    try:
        return json.dumps(config, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidConfigError(f"invalid configuration: {exc}") from None


def _configured_timeout(config_json: bytes) -> Optional[float]:
    """The overall timeout of a configuration (seconds; None: no limit; 600 by default)."""
    timeout = json.loads(config_json).get("timeout", 600.0)
    return float(timeout) if _is_seconds(timeout) else None


def _header_dict(headers: Any, name: str) -> Dict[str, str]:
    """``headers`` (a mapping) as a dict, else an InvalidConfigError naming the argument."""
    if not isinstance(headers, Mapping):
        raise _config_problem(f"{name}: expected a dict of header names to values, not {type(headers).__name__}",
                              name)
    return dict(headers)


#: Per-call options (keyword arguments of every call, named as in openai-python).
_OPTION_NAMES = frozenset(("timeout", "max_retries", "extra_headers"))


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        raise TypeError("a set is not JSON")
    if hasattr(value, "__iter__") and not isinstance(value, (str, bytes, bytearray)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _bad_value(value: Any, path: str) -> Optional[Tuple[str, str]]:
    """(path, problem) of the first value json cannot encode faithfully, else None."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"{value!r} is not a JSON number")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return (path, f"key {key!r} is not a string")
            found = _bad_value(item, f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _bad_value(item, f"{path}[{index}]")
            if found:
                return found
        return None
    return (path, f"a {type(value).__name__} cannot be sent as JSON")


def _given(scope: Mapping[str, Any]) -> Dict[str, Any]:
    """The body fields of a call: its keyword arguments (``locals()`` at the top of the
    method, in signature order) without ``self`` and the per-call options; ``_encode`` drops
    the ones left at None."""
    return {name: value for name, value in scope.items() if name != "self" and name not in _OPTION_NAMES}


def _outcome(envelope: Mapping[str, Any]) -> "ApiResponse":
    if envelope.get("ok"):
        return ApiResponse(envelope)
    raise error_from_envelope(envelope)


def _encode(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON of the given (not None) fields; floats via repr (0.7 -> 0.7)."""
    fields = {key: value for key, value in body.items() if value is not None}
    try:
        text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_json_default)
    except (TypeError, ValueError, RecursionError) as exc:
        found = _bad_value(fields, "") or ("", str(exc))
        path, problem = found
        message = f"{path or 'the request'}: {problem}"
        raise InvalidRequestError(message, path=path, errors=[{"path": path, "message": message}]) from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: let the library judge the \\u escapes
        return json.dumps(fields, separators=(",", ":"), default=_json_default).encode("ascii")


P = ParamSpec("P")
R = TypeVar("R")


def _variant(call: Callable[..., Any], name: str, signature: inspect.Signature, returns: Any, doc: str) -> None:
    """Names, documents and signs a generated variant of a completion method."""
    call.__name__ = name
    call.__qualname__ = f"Humanloop.{name}"
    call.__doc__ = doc
    call.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]


def _asynchronous(method: Callable[Concatenate["Humanloop", P], R], name: bytes) -> Callable[Concatenate["Humanloop", P], Coroutine[Any, Any, R]]:
    """``a<method>``: the call on the event loop's own libhumanloop loop, awaited (no thread)."""
    signature = inspect.signature(method)

    async def call(self: "Humanloop", /, *args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(self, *args, **kwargs)  # TypeError for unknown or missing arguments
        payload, options = self._prepare(bound.arguments)
        envelope = await self._arun(name, payload, options)
        result: R = _outcome(envelope)  # type: ignore[assignment]
        return result

    _variant(call, "a" + method.__name__, signature, "ApiResponse",
             f"""Async ``{method.__name__}``: the call runs on a libhumanloop loop (libcurl's multi
        interface) that the event loop itself drives on its own thread (``add_reader``; no other
        thread, no executor), and the coroutine awaits its answer, so thousands can be in
        flight. Same arguments, result and errors. Cancelling the task (``task.cancel()``,
        ``asyncio.wait_for`` running out) cancels the transfer and closes its connection.""")
    return call


_STREAM_DOC = """Streaming ``{name}``: returns an iterator of whole event dicts, in arrival order.

        ``stream`` is accepted for compatibility with the SDK's signature and ignored (the
        library always sends ``"stream": true``). Arguments Python cannot send raise
        ``InvalidRequestError`` at once; every other error (``InvalidRequestError`` from the
        library, ``ApiStreamingException`` for a non-2xx status (also an instance of the
        status's class, e.g. ``NotFoundError``), connection errors, timeouts, a
        stream cut short) is raised from the iterator. Breaking out of the loop, ``close()``,
        ``with``, garbage collection or Ctrl-C closes the connection. After the end,
        ``.status``, ``.headers``, ``.round_trip_time`` are set. ``r = await
        humanloop.{stream_name}(...)`` gives the official SDK's async form (``r.content``).
        """


def _stream_name(method: Callable[..., Any]) -> str:
    # The SDK's name for the model-config stream is shorter than its blocking call's.
    return method.__name__.replace("_model_configuration", "_model_config") + "_stream"


def _streaming(method: Callable[Concatenate["Humanloop", P], Any], name: bytes) -> Callable[Concatenate["Humanloop", P], CompletionStream]:
    """``<method>_stream``: the same keyword arguments, an iterator of events."""
    signature = inspect.signature(method)

    def call(self: "Humanloop", /, *args: P.args, **kwargs: P.kwargs) -> CompletionStream:
        bound = signature.bind(self, *args, **kwargs)  # TypeError for unknown or missing arguments
        return CompletionStream(self._stream_request(name, bound.arguments))

    _variant(call, _stream_name(method), signature, "CompletionStream",
             _STREAM_DOC.format(name=method.__name__, stream_name=_stream_name(method)))
    return call


def _asynchronous_streaming(method: Callable[Concatenate["Humanloop", P], Any], name: bytes) -> Callable[Concatenate["Humanloop", P], AsyncCompletionStream]:
    """``a<method>_stream``: the async-iterator twin of the stream."""
    signature = inspect.signature(method)

    def call(self: "Humanloop", /, *args: P.args, **kwargs: P.kwargs) -> AsyncCompletionStream:
        bound = signature.bind(self, *args, **kwargs)
        return AsyncCompletionStream(self._stream_request(name, bound.arguments))

    stream_name = "a" + _stream_name(method)
    _variant(call, stream_name, signature, "AsyncCompletionStream",
             f"""Async-iterator twin of ``{_stream_name(method)}``, driven by the event loop itself
        (no thread; a consumer that falls behind pauses the transfer): ``async for event in humanloop.{stream_name}(...)``, or the SDK's
        ``r = await humanloop.{stream_name}(...)`` then ``async for tok in r.content``.""")
    return call


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


def _in_python_words(text: str) -> str:
    """A configuration message of the C library, with the keyword argument's spelling."""
    text = text.replace('give "api_key" in the configuration or set HUMANLOOP_API_KEY',
                        "pass api_key=... or set HUMANLOOP_API_KEY")
    return re.sub(r'configuration key "([a-z_]+)"', r"\1=", text)


class Humanloop:
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
            headers = _header_dict(default_headers, "default_headers")
            if headers:
                self._defaults["headers"] = headers
        if isinstance(api_key, Mapping):
            api_key = api_key.get("APIKeyHeader")
        config_json = _config_json(locals())
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
                details["message"] = _in_python_words(str(details.get("message", "")))
                for problem in details.get("errors") or []:
                    problem["message"] = _in_python_words(str(problem.get("message", "")))
            raise error_from_envelope(envelope)
        self._native = NativeClient(handle, _configured_timeout(config_json))

    # -- lifetime ----------------------------------------------------------------------------
    def _acquire(self) -> Tuple[NativeClient, int]:
        """A reference to the native client for one call (released by the call)."""
        native = self._native
        if self._closed or native is None:
            raise RuntimeError("this Humanloop client is closed")
        return native, native.acquire()

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
        return json.loads(text)

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
            raise _config_problem("give default_headers= (merged) or set_default_headers= (replacing), not both",
                                  "default_headers")
        try:
            timing = _timeout_fields(timeout, connect_timeout, low_speed_timeout)
        except ValueError as exc:
            raise _config_problem(str(exc), "timeout") from None
        defaults = dict(self._defaults)
        defaults.update(timing)
        if max_retries is not None:
            defaults["max_retries"] = max_retries
        headers: Dict[str, str] = dict(defaults.get("headers", {}))
        if set_default_headers is not None:
            headers = _header_dict(set_default_headers, "set_default_headers")
        for name, given in (("default_headers", default_headers), ("extra_headers", extra_headers)):
            if given is not None:
                headers.update(_header_dict(given, name))
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

    # -- calls -------------------------------------------------------------------------------
    def _options(self, scope: Mapping[str, Any], stream: bool = False) -> Optional[bytes]:
        """options_json of a call: the client's defaults (constructor's ``default_headers``,
        with_options), then the call's ``timeout`` (``_timeout_fields``: ``"timeout": null`` for
        None or a pair), ``max_retries``, ``extra_headers``; None when there are none."""
        options = dict(self._defaults)
        timeout, max_retries, extra_headers = (scope.get("timeout", NOT_GIVEN), scope.get("max_retries"),
                                               scope.get("extra_headers"))
        try:
            options.update(_timeout_fields(timeout))
        except ValueError as exc:
            message = f"options.timeout: {exc}"
            raise InvalidRequestError(message, path="options.timeout",
                                      errors=[{"path": "options.timeout", "message": message}]) from None
        if max_retries is not None:
            options["max_retries"] = max_retries
        if extra_headers:
            if not isinstance(extra_headers, Mapping):
                message = "extra_headers: expected a dict of header names to values"
                raise InvalidRequestError(message, path="options.headers",
                                          errors=[{"path": "options.headers", "message": message}])
            options["headers"] = {**options.get("headers", {}), **dict(extra_headers)}
        if stream:
            options["stream"] = True
        if not options:
            return None
        try:
            return json.dumps(options, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            message = f"options: {exc}"
            raise InvalidRequestError(message, path="options", errors=[{"path": "options", "message": message}]) from None

    def _prepare(self, scope: Mapping[str, Any], stream: bool = False) -> Tuple[bytes, Optional[bytes]]:
        body = _given(scope)
        if stream:
            body.pop("stream", None)  # the library sets "stream": true itself
        return _encode(body), self._options(scope, stream)

    def _run(self, name: bytes, payload: bytes, options: Optional[bytes]) -> Dict[str, Any]:
        """A call on this thread's loop, run here in slices of at most 100 ms until its answer
        arrives (Ctrl-C: KeyboardInterrupt, the transfer is cancelled and its connection closed)."""
        native, handle = self._acquire()
        try:
            driver = _engine.thread_driver(native, handle, options)
            call = _engine.submit(driver, name, payload, options, native=native)
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
        return _engine.parse_item(raw)

    async def _arun(self, name: bytes, payload: bytes, options: Optional[bytes]) -> Dict[str, Any]:
        """A call on the event loop's loop (run by the event loop itself, on its thread), awaited;
        a cancelled task cancels the transfer."""
        loop = asyncio.get_running_loop()
        native, handle = self._acquire()
        try:
            driver = (_engine.loop_driver_now(loop, native)
                      or await _engine.loop_driver(loop, native, handle, options))
            call = _engine.submit(driver, name, payload, options, native=native, notify=_engine.wake_waiter)
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
        return _engine.parse_item(raw)

    def _call(self, name: bytes, scope: Mapping[str, Any]) -> "ApiResponse":
        payload, options = self._prepare(scope)
        return _outcome(self._run(name, payload, options))

    def _stream_request(self, name: bytes, scope: Mapping[str, Any]) -> StreamRequest:
        payload, options = self._prepare(scope, stream=True)
        native = self._native
        if self._closed or native is None:
            raise RuntimeError("this Humanloop client is closed")
        return StreamRequest(native, name, payload, options or b"{}")

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
        from ._batch import iter_batch

        return iter_batch(self, requests, concurrency, checkpoint, progress, rate_aware)

    def aiter_batch(self, requests: Iterable[Mapping[str, Any]], *, concurrency: int = 16,
                    checkpoint: Union[str, "os.PathLike[str]", None] = None,
                    progress: Union[bool, Callable[[int, int, int], Any]] = False,
                    rate_aware: bool = True) -> "AsyncBatchIterator":
        """``iter_batch`` for asyncio: ``async for index, result in humanloop.aiter_batch(...)``.
        The batch's queue is watched by the event loop (``add_reader``; no other thread);
        ``break``, an exception, cancelling the task or an ``asyncio.wait_for`` timeout cancels
        the calls in flight (``await it.aclose()`` does it explicitly)."""
        from ._batch import aiter_batch

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
        from ._batch import run_batch

        return run_batch(self, requests, concurrency, progress, checkpoint, rate_aware)

    async def acomplete_batch(self, requests: Iterable[Mapping[str, Any]], *, concurrency: int = 16,
                              progress: Union[bool, Callable[[int, int, int], Any]] = False,
                              checkpoint: Union[str, "os.PathLike[str]", None] = None,
                              rate_aware: bool = True) -> List[Union["ApiResponse", HumanloopError, Exception]]:
        """``complete_batch`` awaited (built on ``aiter_batch``): the same requests, results and
        checkpoints; cancelling the task cancels the calls in flight."""
        from ._batch import arun_batch

        return await arun_batch(self, requests, concurrency, progress, checkpoint, rate_aware)

    # -- the four endpoints (blocking, async, streaming, async streaming) -------------------

    def complete(
        self,
        *,
        model_config: Mapping[str, Any],
        project: Optional[str] = None,
        project_id: Optional[str] = None,
        session_id: Optional[str] = None,
        session_reference_id: Optional[str] = None,
        parent_id: Optional[str] = None,
        parent_reference_id: Optional[str] = None,
        inputs: Optional[Mapping[str, Any]] = None,
        source: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        provider_api_keys: Optional[Mapping[str, Any]] = None,
        num_samples: Optional[int] = None,
        logprobs: Optional[int] = None,
        stream: Optional[bool] = None,
        suffix: Optional[str] = None,
        user: Optional[str] = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> ApiResponse:
        """Create a completion by providing details of the model configuration in the request.

        POST ``{host}/completion``. Only the arguments you give (not ``None``) are sent.

        Args:
            model_config: (required) the model configuration: ``model`` and ``prompt_template``
                required, plus ``provider``, ``max_tokens``, ``temperature``, ``top_p``, ``stop``,
                ``presence_penalty``, ``frequency_penalty``, ``other``, ``endpoint``, ``name``,
                ``description``.
            project: project name; a project with that name is created if none exists.
            project_id: project ID; one of ``project`` / ``project_id`` is expected.
            session_id: session to attach the datapoint to.
            session_reference_id: your own session key (not with ``session_id``).
            parent_id: parent datapoint ID inside a session.
            parent_reference_id: your own key of an earlier parent datapoint (not with
                ``parent_id``).
            inputs: values for the ``{{NAME}}`` placeholders of the prompt template.
            source: free label of where the call came from.
            metadata: arbitrary data recorded with the log.
            provider_api_keys: per-request provider keys; merged over the client's (a key given here
                wins).
            num_samples: number of generations (server default 1).
            logprobs: include log-probabilities of the top n tokens.
            stream: with True the server streams events; this call then consumes them and returns
                the merged result, with every event in ``.events`` (use ``complete_stream`` to
                iterate instead).
            suffix: text that follows the completion.
            user: end-user ID passed through to the provider.
            timeout: this call's timeout (overrides the client's), in the constructor's forms:
                seconds for each attempt (for a stream: until the head and first event), ``None``
                for no overall limit, or a ``(connect, read)`` pair.
            max_retries: retries for this call (overrides the client's).
            extra_headers: request headers added to this call (a dict of strings; X-API-KEY,
                Content-Type, Content-Length and Host cannot be replaced).

        Returns:
            ApiResponse: ``.body`` (the parsed CompletionResponse: ``body["data"]``,
            ``body["provider_responses"]``, ...), ``.headers``, ``.status``, ``.round_trip_time``.

        Raises:
            ApiException: the server answered non-2xx.
            InvalidRequestError: the arguments are not a valid request (nothing sent).
            ApiConnectionError, ApiTimeoutError, InvalidResponseError: see their docs.
        """
        return self._call(b"complete", locals())
    acomplete = _asynchronous(complete, b"complete")
    complete_stream = _streaming(complete, b"complete")
    acomplete_stream = _asynchronous_streaming(complete, b"complete")

    def complete_deployed(
        self,
        *,
        project: Optional[str] = None,
        project_id: Optional[str] = None,
        session_id: Optional[str] = None,
        session_reference_id: Optional[str] = None,
        parent_id: Optional[str] = None,
        parent_reference_id: Optional[str] = None,
        inputs: Optional[Mapping[str, Any]] = None,
        source: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        provider_api_keys: Optional[Mapping[str, Any]] = None,
        num_samples: Optional[int] = None,
        logprobs: Optional[int] = None,
        stream: Optional[bool] = None,
        suffix: Optional[str] = None,
        user: Optional[str] = None,
        environment: Optional[str] = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> ApiResponse:
        """Create a completion using the project's active deployment (a model configuration or an experiment).

        POST ``{host}/completion-deployed``. Only the arguments you give (not ``None``) are sent.

        Args:
            project: project name; a project with that name is created if none exists.
            project_id: project ID; one of ``project`` / ``project_id`` is expected.
            session_id: session to attach the datapoint to.
            session_reference_id: your own session key (not with ``session_id``).
            parent_id: parent datapoint ID inside a session.
            parent_reference_id: your own key of an earlier parent datapoint (not with
                ``parent_id``).
            inputs: values for the ``{{NAME}}`` placeholders of the prompt template.
            source: free label of where the call came from.
            metadata: arbitrary data recorded with the log.
            provider_api_keys: per-request provider keys; merged over the client's (a key given here
                wins).
            num_samples: number of generations (server default 1).
            logprobs: include log-probabilities of the top n tokens.
            stream: with True the server streams events; this call then consumes them and returns
                the merged result, with every event in ``.events`` (use ``complete_deployed_stream``
                to iterate instead).
            suffix: text that follows the completion.
            user: end-user ID passed through to the provider.
            environment: name of the environment whose deployment to use (default: the project's
                default environment).
            timeout: this call's timeout (overrides the client's), in the constructor's forms:
                seconds for each attempt (for a stream: until the head and first event), ``None``
                for no overall limit, or a ``(connect, read)`` pair.
            max_retries: retries for this call (overrides the client's).
            extra_headers: request headers added to this call (a dict of strings; X-API-KEY,
                Content-Type, Content-Length and Host cannot be replaced).

        Returns:
            ApiResponse: ``.body`` (the parsed CompletionResponse: ``body["data"]``,
            ``body["provider_responses"]``, ...), ``.headers``, ``.status``, ``.round_trip_time``.

        Raises:
            ApiException: the server answered non-2xx.
            InvalidRequestError: the arguments are not a valid request (nothing sent).
            ApiConnectionError, ApiTimeoutError, InvalidResponseError: see their docs.
        """
        return self._call(b"complete_deployed", locals())
    acomplete_deployed = _asynchronous(complete_deployed, b"complete_deployed")
    complete_deployed_stream = _streaming(complete_deployed, b"complete_deployed")
    acomplete_deployed_stream = _asynchronous_streaming(complete_deployed, b"complete_deployed")

    def complete_experiment(
        self,
        *,
        experiment_id: str,
        project: Optional[str] = None,
        project_id: Optional[str] = None,
        session_id: Optional[str] = None,
        session_reference_id: Optional[str] = None,
        parent_id: Optional[str] = None,
        parent_reference_id: Optional[str] = None,
        inputs: Optional[Mapping[str, Any]] = None,
        source: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        provider_api_keys: Optional[Mapping[str, Any]] = None,
        num_samples: Optional[int] = None,
        logprobs: Optional[int] = None,
        stream: Optional[bool] = None,
        suffix: Optional[str] = None,
        user: Optional[str] = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> ApiResponse:
        """Create a completion for a specific experiment.

        POST ``{host}/completion-experiment``. Only the arguments you give (not ``None``) are sent.

        Args:
            experiment_id: (required) the experiment; a configuration is sampled from its active
                model configs.
            project: project name; a project with that name is created if none exists.
            project_id: project ID; one of ``project`` / ``project_id`` is expected.
            session_id: session to attach the datapoint to.
            session_reference_id: your own session key (not with ``session_id``).
            parent_id: parent datapoint ID inside a session.
            parent_reference_id: your own key of an earlier parent datapoint (not with
                ``parent_id``).
            inputs: values for the ``{{NAME}}`` placeholders of the prompt template.
            source: free label of where the call came from.
            metadata: arbitrary data recorded with the log.
            provider_api_keys: per-request provider keys; merged over the client's (a key given here
                wins).
            num_samples: number of generations (server default 1).
            logprobs: include log-probabilities of the top n tokens.
            stream: with True the server streams events; this call then consumes them and returns
                the merged result, with every event in ``.events`` (use
                ``complete_experiment_stream`` to iterate instead).
            suffix: text that follows the completion.
            user: end-user ID passed through to the provider.
            timeout: this call's timeout (overrides the client's), in the constructor's forms:
                seconds for each attempt (for a stream: until the head and first event), ``None``
                for no overall limit, or a ``(connect, read)`` pair.
            max_retries: retries for this call (overrides the client's).
            extra_headers: request headers added to this call (a dict of strings; X-API-KEY,
                Content-Type, Content-Length and Host cannot be replaced).

        Returns:
            ApiResponse: ``.body`` (the parsed CompletionResponse: ``body["data"]``,
            ``body["provider_responses"]``, ...), ``.headers``, ``.status``, ``.round_trip_time``.

        Raises:
            ApiException: the server answered non-2xx.
            InvalidRequestError: the arguments are not a valid request (nothing sent).
            ApiConnectionError, ApiTimeoutError, InvalidResponseError: see their docs.
        """
        return self._call(b"complete_experiment", locals())
    acomplete_experiment = _asynchronous(complete_experiment, b"complete_experiment")
    complete_experiment_stream = _streaming(complete_experiment, b"complete_experiment")
    acomplete_experiment_stream = _asynchronous_streaming(complete_experiment, b"complete_experiment")

    def complete_model_configuration(
        self,
        *,
        model_config_id: str,
        project: Optional[str] = None,
        project_id: Optional[str] = None,
        session_id: Optional[str] = None,
        session_reference_id: Optional[str] = None,
        parent_id: Optional[str] = None,
        parent_reference_id: Optional[str] = None,
        inputs: Optional[Mapping[str, Any]] = None,
        source: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        provider_api_keys: Optional[Mapping[str, Any]] = None,
        num_samples: Optional[int] = None,
        logprobs: Optional[int] = None,
        stream: Optional[bool] = None,
        suffix: Optional[str] = None,
        user: Optional[str] = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Optional[int] = None,
        extra_headers: Optional[Mapping[str, str]] = None,
    ) -> ApiResponse:
        """Create a completion for a specific model configuration.

        POST ``{host}/completion-model-config``. Only the arguments you give (not ``None``) are sent.

        Args:
            model_config_id: (required) ID of a stored model configuration to generate with.
            project: project name; a project with that name is created if none exists.
            project_id: project ID; one of ``project`` / ``project_id`` is expected.
            session_id: session to attach the datapoint to.
            session_reference_id: your own session key (not with ``session_id``).
            parent_id: parent datapoint ID inside a session.
            parent_reference_id: your own key of an earlier parent datapoint (not with
                ``parent_id``).
            inputs: values for the ``{{NAME}}`` placeholders of the prompt template.
            source: free label of where the call came from.
            metadata: arbitrary data recorded with the log.
            provider_api_keys: per-request provider keys; merged over the client's (a key given here
                wins).
            num_samples: number of generations (server default 1).
            logprobs: include log-probabilities of the top n tokens.
            stream: with True the server streams events; this call then consumes them and returns
                the merged result, with every event in ``.events`` (use
                ``complete_model_config_stream`` to iterate instead).
            suffix: text that follows the completion.
            user: end-user ID passed through to the provider.
            timeout: this call's timeout (overrides the client's), in the constructor's forms:
                seconds for each attempt (for a stream: until the head and first event), ``None``
                for no overall limit, or a ``(connect, read)`` pair.
            max_retries: retries for this call (overrides the client's).
            extra_headers: request headers added to this call (a dict of strings; X-API-KEY,
                Content-Type, Content-Length and Host cannot be replaced).

        Returns:
            ApiResponse: ``.body`` (the parsed CompletionResponse: ``body["data"]``,
            ``body["provider_responses"]``, ...), ``.headers``, ``.status``, ``.round_trip_time``.

        Raises:
            ApiException: the server answered non-2xx.
            InvalidRequestError: the arguments are not a valid request (nothing sent).
            ApiConnectionError, ApiTimeoutError, InvalidResponseError: see their docs.
        """
        return self._call(b"complete_model_configuration", locals())
    acomplete_model_configuration = _asynchronous(complete_model_configuration, b"complete_model_configuration")
    complete_model_config_stream = _streaming(complete_model_configuration, b"complete_model_configuration")
    acomplete_model_config_stream = _asynchronous_streaming(complete_model_configuration, b"complete_model_configuration")
