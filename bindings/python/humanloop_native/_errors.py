"""Exceptions raised by humanloop_native.

    HumanloopError                      base of everything below; .message, .type, .attempts, .error
    ├── ApiException                    the server answered non-2xx: .status .reason .body .headers
    │   │                                   .round_trip_time .sdk_text
    │   ├── BadRequestError                 400   (the per-status classes of openai-python)
    │   ├── AuthenticationError             401
    │   ├── PermissionDeniedError           403
    │   ├── NotFoundError                   404
    │   ├── ConflictError                   409
    │   ├── UnprocessableEntityError        422
    │   ├── RateLimitError                  429
    │   ├── InternalServerError             500-599
    │   └── ApiStreamingException           raised by the stream iterators; for a status above,
    │                                       the raised object is also an instance of its class
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

from typing import Any, Dict, List, Mapping, Optional, Tuple, Type, cast

from ._types import Headers

__all__ = [
    "HumanloopError",
    "ApiException",
    "ApiStreamingException",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "InvalidRequestError",
    "InvalidConfigError",
    "ClientConfigurationError",
    "ApiConnectionError",
    "ApiTimeoutError",
    "InvalidResponseError",
    "ApiCancelledError",
    "error_from_envelope",
    "api_exception_class",
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

    The statuses openai-python has classes for raise a subclass: 400 ``BadRequestError``, 401
    ``AuthenticationError``, 403 ``PermissionDeniedError``, 404 ``NotFoundError``, 409
    ``ConflictError``, 422 ``UnprocessableEntityError``, 429 ``RateLimitError``, 5xx
    ``InternalServerError``; any other status raises ``ApiException`` itself.

    ``str(e)`` is one line: the class, the status and reason, and what the server said
    (``UnprocessableEntityError: 422 Unprocessable Entity: model_config.temperature: value is
    not a valid float``). The SDK's multi-line text (``Status Code: ...``, ``Reason: ...``,
    ``HTTP response headers: ...``, ``HTTP response body: ...``) is ``e.sdk_text``.

    Attributes:
        status: the HTTP status code (int); ``status_code`` is the same (openai-python's name).
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
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = Headers(headers or {})
        self.round_trip_time = round_trip_time

    @property
    def status_code(self) -> Optional[int]:
        """The HTTP status code (openai-python's name for ``status``)."""
        return self.status

    @property
    def sdk_text(self) -> str:
        """The official SDK 0.5.16's ``str(e)``: several lines (status code, reason, headers, body)."""
        text = f"Status Code: {self.status}\nReason: {self.reason}\n"
        if self.headers:
            text += f"HTTP response headers: {dict(self.headers)}\n"
        if self.body is not None:
            text += f"HTTP response body: {self.body}\n"
        return text

    def __str__(self) -> str:
        parts = [type(self).__name__ + ":"]
        answer = " ".join(str(part) for part in (self.status, self.reason) if part not in (None, ""))
        said = _said(self.message, self.status, self.reason, _summary(self.body))
        if answer:
            parts.append(answer + (":" if said else ""))
        if said:
            parts.append(said)
        return _one_line(" ".join(parts)) if len(parts) > 1 else type(self).__name__


def _one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line (runs of whitespace become one space), at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _said(message: str, status: Optional[int], reason: Optional[str], summary: str) -> str:
    """The message part of ``str(e)``: what the body says (``summary``), with what the message
    adds to the status and reason. The library's "the server answered 404 Not Found for POST
    <url>" adds "POST <url>", shown in parentheses after the body's words (alone without them);
    another message (an ApiException made by hand) is shown when the body says nothing."""
    answered = f"the server answered {status} {reason}" if reason else f"the server answered {status}"
    if message.startswith(answered):
        request = message[len(answered):].strip()
        request = request[len("for "):] if request.startswith("for ") else request
        if summary and request:
            return f"{summary} ({request})"
        return summary or request
    if message == f"({status}) {reason}":  # the default message of an ApiException made by hand
        return summary
    return summary or message


def _summary(body: Any) -> str:
    """What an error body says, briefly: FastAPI's ``detail`` (a text, or every problem as
    ``loc: msg``), else a ``message`` / ``error.message`` / ``error`` text, else a short text body."""
    if isinstance(body, str):
        return _one_line(body, 200)
    if not isinstance(body, Mapping):
        return ""
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail:
        parts = []
        for problem in detail[:3]:
            if isinstance(problem, Mapping):
                loc = problem.get("loc")
                where = ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
                msg = str(problem.get("msg", problem.get("message", "")))
                parts.append(f"{where}: {msg}" if where else msg)
            else:
                parts.append(str(problem))
        more = f" (and {len(detail) - 3} more)" if len(detail) > 3 else ""
        return "; ".join(parts) + more
    if isinstance(detail, Mapping):
        for key in ("msg", "message", "description"):
            if isinstance(detail.get(key), str):
                return str(detail[key])
    for holder in (body, body.get("error")):
        if isinstance(holder, Mapping) and isinstance(holder.get("message"), str):
            return str(holder["message"])
    if isinstance(body.get("error"), str):
        return str(body["error"])
    return ""


class ApiStreamingException(ApiException):
    """A non-2xx answer to a streaming call (a subclass of ApiException; body is parsed too).

    For a status with a class of its own (404, 422, 429, 5xx, ...) the raised object is an
    instance of both: ``except NotFoundError`` and ``except ApiStreamingException`` both catch
    a stream's 404."""


class BadRequestError(ApiException):
    """400 Bad Request."""


class AuthenticationError(ApiException):
    """401 Unauthorized (a missing or wrong API key)."""


class PermissionDeniedError(ApiException):
    """403 Forbidden."""


class NotFoundError(ApiException):
    """404 Not Found."""


class ConflictError(ApiException):
    """409 Conflict."""


class UnprocessableEntityError(ApiException):
    """422 Unprocessable Entity (the server's validation: ``e.body["detail"]``)."""


class RateLimitError(ApiException):
    """429 Too Many Requests."""


class InternalServerError(ApiException):
    """A 5xx status (500 to 599)."""


#: status -> its class (5xx: InternalServerError, see ``api_exception_class``).
STATUS_CLASSES: Dict[int, Type[ApiException]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _streaming_class(base: Type[ApiException]) -> Type[ApiException]:
    """The class raised by a stream for ``base``'s status: a subclass of both ``base`` and
    ApiStreamingException, made once per status class (a module attribute, so it pickles)."""
    name = "Streaming" + base.__name__
    cls = type(name, (ApiStreamingException, base), {
        "__doc__": f"{base.__doc__.strip() if base.__doc__ else base.__name__} Raised by a stream: also an "
                   f"ApiStreamingException.",
        "__module__": __name__,
        "__qualname__": name,
    })
    globals()[name] = cls
    return cls


_STREAMING_CLASSES: Dict[Type[ApiException], Type[ApiException]] = {
    base: _streaming_class(base) for base in (*STATUS_CLASSES.values(), InternalServerError)
}


def api_exception_class(status: Any, *, streaming: bool = False) -> Type[ApiException]:
    """The class of the exception raised for a non-2xx ``status`` (of a stream when ``streaming``)."""
    base: Optional[Type[ApiException]] = None
    if isinstance(status, int) and not isinstance(status, bool):
        base = InternalServerError if 500 <= status <= 599 else STATUS_CLASSES.get(status)
    if base is None:
        return ApiStreamingException if streaming else ApiException
    return _STREAMING_CLASSES[base] if streaming else base


class _ProblemsError(HumanloopError, ValueError):  # pyright: ignore[reportUnsafeMultipleInheritance]
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


class ApiConnectionError(HumanloopError, ConnectionError):  # pyright: ignore[reportUnsafeMultipleInheritance]
    """The connection could not be made or broke (DNS, refused, reset, TLS)."""

    type = "connection_error"


class ApiTimeoutError(HumanloopError, TimeoutError):  # pyright: ignore[reportUnsafeMultipleInheritance]
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
    found = envelope.get("error")
    err: Dict[str, Any]
    if isinstance(found, dict):
        err = cast(Dict[str, Any], found)
    else:
        err = {"type": "invalid_response", "message": f"malformed envelope from libhumanloop: {envelope!r}"}
    kind = err.get("type")
    message = str(err.get("message", ""))
    attempts = envelope.get("attempts", 0)
    if kind == "api_error":
        cls = api_exception_class(err.get("status"), streaming=streaming)
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
