"""Types shared by the client, its errors, streams and batches: ``NOT_GIVEN``, ``Timeout``,
``Headers`` and ``ApiResponse``. A leaf module: it imports nothing of the package."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Protocol, Tuple, Union

__all__ = ["NotGiven", "NOT_GIVEN", "ConnectRead", "Timeout", "Headers", "ApiResponse"]


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

    @classmethod
    def _of_lower_case(cls, items: Mapping[str, str]) -> "Headers":
        """Headers from names that are lower-case already (the library's envelopes), copied in
        one C-level update."""
        headers = cls()
        dict.update(headers, items)
        return headers


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
        self.headers: Headers = Headers._of_lower_case(envelope.get("headers") or {})  # lower-case names
        self.status: int = envelope.get("status", 0)
        self.round_trip_time: float = envelope.get("round_trip_time", 0.0)
        self.attempts: int = envelope.get("attempts", 1)
        self.timings: Optional[Dict[str, float]] = envelope.get("timings")
        self.events: Optional[List[Dict[str, Any]]] = envelope.get("events")

    def __repr__(self) -> str:
        return f"<ApiResponse status={self.status} round_trip_time={self.round_trip_time:.4f}>"

