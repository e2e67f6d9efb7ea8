"""Exceptions raised by humanloop_native.

    HumanloopError                      base of everything below; .message, .type, .attempts, .error
    ├── ApiException                    the server answered non-2xx: .status .reason .body .headers
    │   └── ApiStreamingException           .round_trip_time  (raised by the stream iterators)
    ├── InvalidRequestError (ValueError)    invalid arguments, nothing was sent: .path .errors
    ├── InvalidConfigError (ValueError)     unusable client configuration (from Humanloop(...))
    ├── ApiConnectionError (ConnectionError)  connection refused/reset, DNS, TLS
    ├── ApiTimeoutError (TimeoutError)      the call or its connection phase ran out of time
    ├── InvalidResponseError            a 2xx answer whose body is not a JSON object: .status .body
    └── ApiCancelledError               the call or stream was cancelled (stream.cancel(), ...)

A cancelled asyncio task raises ``asyncio.CancelledError`` as usual, and Ctrl-C during a
blocking call ``KeyboardInterrupt``; ``ApiCancelledError`` is what a call or stream that was
cancelled by other means reports.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple, Type

__all__ = [
    "HumanloopError",
    "ApiException",
    "ApiStreamingException",
    "InvalidRequestError",
    "InvalidConfigError",
    "ClientConfigurationError",
    "ApiConnectionError",
    "ApiTimeoutError",
    "InvalidResponseError",
    "ApiCancelledError",
    "error_from_envelope",
]


class HumanloopError(Exception):
    """Base class of every error this package raises for a failed call.

    Attributes:
        message: one readable sentence (never contains an API key).
        type: the library's error type ("api_error", "invalid_request", "invalid_config",
            "connection_error", "timeout", "invalid_response" or "cancelled").
        attempts: how many HTTP attempts were made (0 when nothing was sent).
        error: the library's error object as a dict (every field it reported).
    """

    type: str = "error"

    def __init__(self, message: str = "", *, attempts: int = 0,
                 error: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.error: Dict[str, Any] = dict(error) if error is not None else {"type": self.type, "message": message}

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Tuple[Any, ...]:  # keep keyword-only attributes when pickled
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: Type["HumanloopError"], state: Dict[str, Any]) -> "HumanloopError":
    obj = cls.__new__(cls)
    Exception.__init__(obj, state.get("message", ""))
    obj.__dict__.update(state)
    return obj


class ApiException(HumanloopError):
    """The server answered with a non-2xx status (the official SDK's ApiException).

    Attributes:
        status: the HTTP status code (int).
        reason: the HTTP reason phrase, e.g. "Unprocessable Entity".
        body: the response body, parsed JSON when it is JSON (``e.body["detail"]`` for a 422),
            else the text.
        headers: the response headers (case-insensitive mapping, lower-case names).
        round_trip_time: seconds taken by the (last) attempt.
    """

    type = "api_error"

    def __init__(self, message: str = "", *, status: Optional[int] = None, reason: Optional[str] = None,
                 body: Any = None, headers: Optional[Mapping[str, str]] = None,
                 round_trip_time: Optional[float] = None, attempts: int = 0,
                 error: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message or f"({status}) {reason}", attempts=attempts, error=error)
        from ._client import Headers  # local import: avoid a cycle
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = Headers(headers or {})
        self.round_trip_time = round_trip_time

    def __str__(self) -> str:
        text = f"Status Code: {self.status}\nReason: {self.reason}\n"
        if self.headers:
            text += f"HTTP response headers: {dict(self.headers)}\n"
        if self.body is not None:
            text += f"HTTP response body: {self.body}\n"
        return text


class ApiStreamingException(ApiException):
    """A non-2xx answer to a streaming call (a subclass of ApiException; body is parsed too)."""


class _ProblemsError(HumanloopError, ValueError):
    """An error that lists every problem found (each with a path and a message)."""

    def __init__(self, message: str = "", *, path: str = "", errors: Optional[List[Dict[str, str]]] = None,
                 attempts: int = 0, error: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message, attempts=attempts, error=error)
        self.path = path
        self.errors: List[Dict[str, str]] = list(errors) if errors is not None else [{"path": path, "message": message}]


class InvalidRequestError(_ProblemsError):
    """The arguments do not make a valid request body; nothing was sent.

    Attributes:
        path: the first bad value, e.g. "model_config.temperature" ("" for the whole body).
        errors: every problem found, as ``[{"path": ..., "message": ...}, ...]``.
    """

    type = "invalid_request"


class InvalidConfigError(_ProblemsError):
    """The client configuration is unusable (no API key, bad host, bad timeout, ...).

    Raised by ``Humanloop(...)``.

    Attributes:
        path: the configuration key of the first problem ("" for the configuration as a whole).
        errors: every problem found, as ``[{"path": ..., "message": ...}, ...]``.
    """

    type = "invalid_config"


#: The official SDK's name for a configuration problem.
ClientConfigurationError = InvalidConfigError


class ApiConnectionError(HumanloopError, ConnectionError):
    """The connection could not be made or broke (DNS, refused, reset, TLS)."""

    type = "connection_error"


class ApiTimeoutError(HumanloopError, TimeoutError):
    """The call (or its connection phase) ran out of time."""

    type = "timeout"


class InvalidResponseError(HumanloopError):
    """A 2xx answer whose body is not a JSON object.

    Attributes:
        status: the HTTP status code.
        body: the text received.
    """

    type = "invalid_response"

    def __init__(self, message: str = "", *, status: Optional[int] = None, body: Any = None,
                 attempts: int = 0, error: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message, attempts=attempts, error=error)
        self.status = status
        self.body = body


class ApiCancelledError(HumanloopError):
    """The call or stream was cancelled before it ended (``CompletionStream.cancel()`` from
    another thread, a client released with calls in flight). Not an ``asyncio.CancelledError``:
    a cancelled asyncio task raises that one, as always."""

    type = "cancelled"


def error_from_envelope(envelope: Mapping[str, Any], *, streaming: bool = False) -> HumanloopError:
    """Build the exception matching a failure envelope ``{"ok":false,"error":{...},"attempts":n}``."""
    err = envelope.get("error")
    if not isinstance(err, dict):
        err = {"type": "invalid_response", "message": f"malformed envelope from libhumanloop: {envelope!r}"}
    kind = err.get("type")
    message = str(err.get("message", ""))
    attempts = envelope.get("attempts", 0)
    if kind == "api_error":
        cls = ApiStreamingException if streaming else ApiException
        return cls(message, status=err.get("status"), reason=err.get("reason"), body=err.get("body"),
                   headers=err.get("headers"), round_trip_time=err.get("round_trip_time"),
                   attempts=attempts, error=err)
    if kind in ("invalid_request", "invalid_config"):
        problems = InvalidRequestError if kind == "invalid_request" else InvalidConfigError
        return problems(message, path=err.get("path", ""), errors=err.get("errors"), attempts=attempts, error=err)
    if kind == "invalid_response":
        return InvalidResponseError(message, status=err.get("status"), body=err.get("body"),
                                    attempts=attempts, error=err)
    simple: Type[HumanloopError] = {
        "connection_error": ApiConnectionError,
        "timeout": ApiTimeoutError,
        "cancelled": ApiCancelledError,
    }.get(str(kind), HumanloopError)
    return simple(message, attempts=attempts, error=err)
