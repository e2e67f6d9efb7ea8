"""The Humanloop client: the four completion calls of the official SDK 0.5.16, over libhumanloop."""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import json
import math
import re
import threading
from typing import (Any, Callable, Concatenate, Coroutine, Dict, List, Mapping, Optional, ParamSpec, Tuple,
                    TypeVar, Union)

from ._errors import InvalidConfigError, InvalidRequestError, error_from_envelope
from ._logging import sync_level as sync_log_level
from ._native import lib, take_string
from ._stream import AsyncCompletionStream, CompletionStream

__all__ = ["Humanloop", "ApiResponse", "Headers"]


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
    "retry_max_delay", "max_response_bytes", "ca_bundle", "proxy", "log_level",
)


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
    method, in signature order) without ``self``; ``_encode`` drops the ones left at None."""
    return {name: value for name, value in scope.items() if name != "self"}


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


def _asynchronous(method: Callable[Concatenate["Humanloop", P], R]) -> Callable[Concatenate["Humanloop", P], Coroutine[Any, Any, R]]:
    """``a<method>``: the blocking call run in the default thread executor."""

    async def call(self: "Humanloop", /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(method, self, *args, **kwargs)

    _variant(call, "a" + method.__name__, inspect.signature(method), "ApiResponse",
             f"""Async ``{method.__name__}``: runs the blocking call in the default thread executor
        (``asyncio.to_thread``), so the event loop stays free. Same arguments, result and errors.""")
    return call


_STREAM_DOC = """Streaming ``{name}``: returns an iterator of whole event dicts, in arrival order.

        ``stream`` is accepted for compatibility with the SDK's signature and ignored (the
        library always sends ``"stream": true``). Arguments are validated at once
        (``InvalidRequestError``); every other error (``ApiStreamingException`` for a non-2xx
        status, connection errors, timeouts, a stream cut short) is raised from the iterator.
        Breaking out of the loop, ``close()``, ``with`` or garbage collection closes the
        connection. After the end, ``.status``, ``.headers``, ``.round_trip_time`` are set.
        """


def _stream_name(method: Callable[..., Any]) -> str:
    # The SDK's name for the model-config stream is shorter than its blocking call's.
    return method.__name__.replace("_model_configuration", "_model_config") + "_stream"


def _streaming(method: Callable[Concatenate["Humanloop", P], Any],
               function: Callable[[Optional[int], bytes], Optional[int]]) -> Callable[Concatenate["Humanloop", P], CompletionStream]:
    """``<method>_stream``: the same keyword arguments, an iterator of events."""
    signature = inspect.signature(method)

    def call(self: "Humanloop", /, *args: P.args, **kwargs: P.kwargs) -> CompletionStream:
        bound = signature.bind(self, *args, **kwargs)  # TypeError for unknown or missing arguments
        return self._open_stream(function, _given(bound.arguments))

    _variant(call, _stream_name(method), signature, "CompletionStream", _STREAM_DOC.format(name=method.__name__))
    return call


def _asynchronous_streaming(method: Callable[Concatenate["Humanloop", P], Any],
                            function: Callable[[Optional[int], bytes], Optional[int]]) -> Callable[Concatenate["Humanloop", P], AsyncCompletionStream]:
    """``a<method>_stream``: the async-iterator twin of the stream."""
    stream = _streaming(method, function)

    def call(self: "Humanloop", /, *args: P.args, **kwargs: P.kwargs) -> AsyncCompletionStream:
        return AsyncCompletionStream(stream(self, *args, **kwargs))

    name = "a" + _stream_name(method)
    _variant(call, name, inspect.signature(method), "AsyncCompletionStream",
             f"""Async-iterator twin of ``{stream.__name__}`` (each step runs in ``asyncio.to_thread``):
        ``async for event in humanloop.{name}(...)``.""")
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
    pooled and kept alive; ctypes releases the GIL during every call). Close it with
    ``close()``, a ``with`` block, or let garbage collection do it; calls in flight finish
    first. The ``a``-prefixed async methods run the blocking call in the default thread
    executor (``asyncio.to_thread``).
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
        timeout: Optional[float] = None,
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
    ) -> None:
        """Create a client.

        Args:
            api_key: the Humanloop API key (sent as ``X-API-KEY``); default: the environment
                variable HUMANLOOP_API_KEY. A dict ``{"APIKeyHeader": key}`` (SDK style) works too.
            openai_api_key, openai_azure_api_key, openai_azure_endpoint_api_key, ai21_api_key,
                mock_api_key, anthropic_api_key, cohere_api_key: client-level provider keys,
                merged into every request's ``provider_api_keys`` (a key given in the call wins).
            host: base URL, default HUMANLOOP_HOST else ``https://api.humanloop.com/v4``.
            timeout: seconds for each attempt of a call (default 600).
            connect_timeout: seconds to establish a connection (default 10).
            low_speed_timeout: seconds without receiving a byte that end an attempt (default 60).
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

        Raises:
            InvalidConfigError: (also a ValueError) the configuration is unusable.
        """
        self._handle: Optional[int] = None
        self._lock = threading.Lock()
        self._inflight = 0
        self._closed = False
        if isinstance(api_key, Mapping):
            api_key = api_key.get("APIKeyHeader")
        values = locals()
        config = {key: values[key] for key in _CONFIG_KEYS if values[key] is not None}
        try:
            config_json = json.dumps(config, separators=(",", ":"), ensure_ascii=False,
                                     allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidConfigError(f"invalid configuration: {exc}") from None
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
        self._handle = handle

    # -- lifetime ----------------------------------------------------------------------------
    def _acquire(self) -> int:
        with self._lock:
            if self._closed or self._handle is None:
                raise RuntimeError("this Humanloop client is closed")
            self._inflight += 1
            return self._handle

    def _release(self) -> None:
        with self._lock:
            self._inflight -= 1
            if self._closed and self._inflight == 0:
                self._free_locked()

    def _free_locked(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            lib.hl_client_free(handle)

    def close(self) -> None:
        """Release the client and its connections. Idempotent. Calls still running in other
        threads finish first (the release happens when the last one returns); open streams
        keep working until they are closed."""
        with self._lock:
            self._closed = True
            if self._inflight == 0:
                self._free_locked()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Humanloop":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            handle, self._handle = self._handle, None
            if handle is not None:
                lib.hl_client_free(handle)
        except Exception:  # interpreter shutdown, or __init__ failed early
            pass

    def __repr__(self) -> str:
        return f"<Humanloop {'closed' if self._closed else 'open'}>"

    @property
    def completions(self) -> _Completions:
        """The SDK's tag-API spelling: ``humanloop.completions.create(...)``,
        ``create_deployed``, ``create_experiment``, ``create_model_config`` (and ``a``-prefixed)."""
        return _Completions(self)

    # -- calls -------------------------------------------------------------------------------
    def _call(self, function: Callable[[int, bytes], Optional[int]],
              body: Mapping[str, Any]) -> ApiResponse:
        payload = _encode(body)
        handle = self._acquire()
        try:
            pointer = function(handle, payload)
        finally:
            self._release()
        raw = take_string(pointer)
        if raw is None:
            raise MemoryError("libhumanloop returned NULL")
        envelope = json.loads(raw)
        if envelope.get("ok"):
            return ApiResponse(envelope)
        raise error_from_envelope(envelope)

    def _open_stream(self, function: Callable[[int, bytes], Optional[int]],
                     body: Mapping[str, Any]) -> CompletionStream:
        fields = dict(body)
        fields.pop("stream", None)  # the library sets "stream": true itself
        payload = _encode(fields)
        handle = self._acquire()
        try:
            pointer = function(handle, payload)
        finally:
            self._release()
        if not pointer:
            raise MemoryError("libhumanloop returned NULL")
        return CompletionStream(pointer)

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

        Returns:
            ApiResponse: ``.body`` (the parsed CompletionResponse: ``body["data"]``,
            ``body["provider_responses"]``, ...), ``.headers``, ``.status``, ``.round_trip_time``.

        Raises:
            ApiException: the server answered non-2xx.
            InvalidRequestError: the arguments are not a valid request (nothing sent).
            ApiConnectionError, ApiTimeoutError, InvalidResponseError: see their docs.
        """
        return self._call(lib.hl_complete, _given(locals()))
    acomplete = _asynchronous(complete)
    complete_stream = _streaming(complete, lib.hl_complete_stream)
    acomplete_stream = _asynchronous_streaming(complete, lib.hl_complete_stream)

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

        Returns:
            ApiResponse: ``.body`` (the parsed CompletionResponse: ``body["data"]``,
            ``body["provider_responses"]``, ...), ``.headers``, ``.status``, ``.round_trip_time``.

        Raises:
            ApiException: the server answered non-2xx.
            InvalidRequestError: the arguments are not a valid request (nothing sent).
            ApiConnectionError, ApiTimeoutError, InvalidResponseError: see their docs.
        """
        return self._call(lib.hl_complete_deployed, _given(locals()))
    acomplete_deployed = _asynchronous(complete_deployed)
    complete_deployed_stream = _streaming(complete_deployed, lib.hl_complete_deployed_stream)
    acomplete_deployed_stream = _asynchronous_streaming(complete_deployed, lib.hl_complete_deployed_stream)

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

        Returns:
            ApiResponse: ``.body`` (the parsed CompletionResponse: ``body["data"]``,
            ``body["provider_responses"]``, ...), ``.headers``, ``.status``, ``.round_trip_time``.

        Raises:
            ApiException: the server answered non-2xx.
            InvalidRequestError: the arguments are not a valid request (nothing sent).
            ApiConnectionError, ApiTimeoutError, InvalidResponseError: see their docs.
        """
        return self._call(lib.hl_complete_experiment, _given(locals()))
    acomplete_experiment = _asynchronous(complete_experiment)
    complete_experiment_stream = _streaming(complete_experiment, lib.hl_complete_experiment_stream)
    acomplete_experiment_stream = _asynchronous_streaming(complete_experiment, lib.hl_complete_experiment_stream)

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

        Returns:
            ApiResponse: ``.body`` (the parsed CompletionResponse: ``body["data"]``,
            ``body["provider_responses"]``, ...), ``.headers``, ``.status``, ``.round_trip_time``.

        Raises:
            ApiException: the server answered non-2xx.
            InvalidRequestError: the arguments are not a valid request (nothing sent).
            ApiConnectionError, ApiTimeoutError, InvalidResponseError: see their docs.
        """
        return self._call(lib.hl_complete_model_configuration, _given(locals()))
    acomplete_model_configuration = _asynchronous(complete_model_configuration)
    complete_model_config_stream = _streaming(complete_model_configuration, lib.hl_complete_model_configuration_stream)
    acomplete_model_config_stream = _asynchronous_streaming(complete_model_configuration, lib.hl_complete_model_configuration_stream)
