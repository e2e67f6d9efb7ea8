"""What a call sends: the JSON of the client's configuration (``hl_client_new``), of a call's
body and of its options (``timeout``, ``max_retries``, ``extra_headers``), and the checks that
turn arguments Python cannot send into ``InvalidRequestError`` / ``InvalidConfigError``."""

from __future__ import annotations

import json
import json.encoder
import math
import re
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Set, Tuple, cast

from ._errors import InvalidConfigError, InvalidRequestError, error_from_envelope
from ._types import NOT_GIVEN, ApiResponse, NotGiven


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


def timeout_fields(timeout: Any, connect_timeout: Any = None, low_speed_timeout: Any = None) -> Dict[str, Any]:
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


def config_problem(message: str, path: str) -> InvalidConfigError:
    return InvalidConfigError(message, path=path, errors=[{"path": path, "message": message}])


def client_config_json(values: Mapping[str, Any]) -> bytes:
    """config_json for hl_client_new from the constructor's arguments: the given ones (not
    None), ``timeout`` as ``timeout_fields`` makes it (``null`` for no overall limit)."""
    config = {key: values[key] for key in _CONFIG_KEYS
              if key not in ("timeout", "connect_timeout", "low_speed_timeout") and values.get(key) is not None}
    try:
        timing = timeout_fields(values.get("timeout", NOT_GIVEN), values.get("connect_timeout"),
                                 values.get("low_speed_timeout"))
    except ValueError as exc:
        raise config_problem(str(exc), "timeout") from None
    config.update(timing)
    try:
        return json.dumps(config, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidConfigError(f"invalid configuration: {exc}") from None


def configured_timeout(config_json: bytes) -> Optional[float]:
    """The overall timeout of a configuration (seconds; None: no limit; 600 by default)."""
    timeout = json.loads(config_json).get("timeout", 600.0)
    return float(timeout) if _is_seconds(timeout) else None


def header_dict(headers: Any, name: str) -> Dict[str, str]:
    """``headers`` (a mapping) as a dict, else an InvalidConfigError naming the argument."""
    if not isinstance(headers, Mapping):
        raise config_problem(f"{name}: expected a dict of header names to values, not {type(headers).__name__}",
                              name)
    return dict(cast(Mapping[str, str], headers))


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


def _bad_value(value: Any, path: str, active: Set[int]) -> Optional[Tuple[str, str]]:
    """(path, problem) of the first value json cannot encode faithfully, else None. ``active``:
    the ids of the containers being looked into (one seen again inside itself is a loop)."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"{value!r} is not a JSON number")
    if not isinstance(value, (Mapping, list, tuple)):
        return (path, f"a {type(value).__name__} cannot be sent as JSON")
    if id(value) in active:
        return (path, "the value contains itself")
    active.add(id(value))
    try:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    return (path, f"key {key!r} is not a string")
                found = _bad_value(item, f"{path}.{key}" if path else key, active)
                if found:
                    return found
            return None
        for index, item in enumerate(value):
            found = _bad_value(item, f"{path}[{index}]", active)
            if found:
                return found
        return None
    finally:
        active.discard(id(value))


def _problem(fields: Mapping[str, Any]) -> Optional[Tuple[str, str]]:
    """(path, problem) of the first field json cannot encode faithfully, else None."""
    for key, value in fields.items():
        try:
            found = _bad_value(value, key, set())
        except RecursionError:
            return (key, "nesting too deep to be sent as JSON")
        if found:
            return found
    return None


# CPython's C accelerator of json (absent elsewhere; not in the type stubs).
_c_make_encoder: Optional[Callable[..., Callable[[Any, int], Sequence[str]]]] = getattr(
    json.encoder, "c_make_encoder", None)
_c_encode_basestring: Optional[Callable[[str], str]] = getattr(json.encoder, "c_encode_basestring", None)

#: The body's JSON encoder, made once (``json.dumps`` with arguments builds one per call): compact,
#: UTF-8 text, no NaN. It does not look for loops: a value that contains itself ends in
#: RecursionError, and ``_problem`` says where.
_ENCODER: Optional[Callable[[Any, int], Sequence[str]]] = (
    _c_make_encoder(None, _json_default, _c_encode_basestring, None, ":", ",", False, False, False)
    if _c_make_encoder is not None and _c_encode_basestring is not None else None)


def _dumps(fields: Mapping[str, Any]) -> str:
    if _ENCODER is not None:
        return "".join(_ENCODER(fields, 0))
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default)


def given(scope: Mapping[str, Any]) -> Dict[str, Any]:
    """The body fields of a call: its keyword arguments (``locals()`` at the top of the
    method, in signature order) without ``self`` and the per-call options; ``encode`` drops
    the ones left at None."""
    return {name: value for name, value in scope.items() if name != "self" and name not in _OPTION_NAMES}


def outcome(envelope: Mapping[str, Any]) -> "ApiResponse":
    if envelope.get("ok"):
        return ApiResponse(envelope)
    raise error_from_envelope(envelope)


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON of the given (not None) fields; floats via repr (0.7 -> 0.7)."""
    fields = {key: value for key, value in body.items() if value is not None}
    try:
        text = _dumps(fields)
    except (TypeError, ValueError, RecursionError) as exc:
        found = _problem(fields) or ("", str(exc))
        path, problem = found
        message = f"{path or 'the request'}: {problem}"
        raise InvalidRequestError(message, path=path, errors=[{"path": path, "message": message}]) from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: let the library judge the \\u escapes
        return json.dumps(fields, separators=(",", ":"), default=_json_default).encode("ascii")



def in_python_words(text: str) -> str:
    """A configuration message of the C library, with the keyword argument's spelling."""
    text = text.replace('give "api_key" in the configuration or set HUMANLOOP_API_KEY',
                        "pass api_key=... or set HUMANLOOP_API_KEY")
    return re.sub(r'configuration key "([a-z_]+)"', r"\1=", text)


def options_json(defaults: Mapping[str, Any], scope: Mapping[str, Any], stream: bool = False) -> Optional[bytes]:
    """options_json of a call: the client's ``defaults`` (constructor's ``default_headers``,
    with_options), then the call's ``timeout`` (``timeout_fields``: ``"timeout": null`` for
    None or a pair), ``max_retries``, ``extra_headers``; None when there are none."""
    timeout, max_retries, extra_headers = (scope.get("timeout", NOT_GIVEN), scope.get("max_retries"),
                                           scope.get("extra_headers"))
    if not defaults and timeout is NOT_GIVEN and max_retries is None and extra_headers is None and not stream:
        return None  # the usual call: no option of its own
    options = dict(defaults)
    try:
        options.update(timeout_fields(timeout))
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
