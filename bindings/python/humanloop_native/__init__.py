"""humanloop_native — the Humanloop v4 completions API over libhumanloop (ctypes).

A drop-in for the official Python SDK 0.5.16's completion calls::

    from humanloop_native import Humanloop, ApiException

    humanloop = Humanloop(api_key="...", openai_api_key="...")
    response = humanloop.complete(
        project="demo",
        model_config={"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{q}}"},
        inputs={"q": "Hi"},
    )
    print(response.body["data"][0]["output"], response.status, response.round_trip_time)

    for event in humanloop.complete_stream(project="demo", model_config={...}):
        print(event["data"][0]["output"], end="")

The client is thread-safe. Every call runs on a libhumanloop loop driven by the waiting thread:
``acomplete`` & co. are real asyncio (the event loop runs it on its own thread; no other thread);
blocking calls run their thread's loop in short slices and can be interrupted with Ctrl-C.
"""

from ._async_stream import AsyncCompletionStream
from ._batch import CheckpointError, request_hash
from ._batch_iter import AsyncBatchIterator, BatchIterator
from ._client import Humanloop
from ._errors import (
    ApiCancelledError,
    ApiConnectionError,
    ApiException,
    ApiStreamingException,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientConfigurationError,
    ConflictError,
    HumanloopError,
    InternalServerError,
    InvalidConfigError,
    InvalidRequestError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from ._native import library_path as LIBRARY_PATH
from ._native import lib as _lib
from ._stream import CompletionStream
from ._types import NOT_GIVEN, ApiResponse, Headers

__version__ = "0.2.0"

for _cls in (Humanloop, ApiResponse, Headers, CompletionStream, AsyncCompletionStream, BatchIterator,
             AsyncBatchIterator, CheckpointError, HumanloopError,
             ApiException, ApiStreamingException, BadRequestError, AuthenticationError,
             PermissionDeniedError, NotFoundError, ConflictError, UnprocessableEntityError, RateLimitError,
             InternalServerError, InvalidRequestError, InvalidConfigError, ApiConnectionError,
             ApiTimeoutError, InvalidResponseError, ApiCancelledError):
    _cls.__module__ = __name__  # tracebacks and reprs show humanloop_native.ApiException
del _cls


def lib_version() -> str:
    """The version of the loaded libhumanloop (``hl_version()``), e.g. "0.2.0"."""
    version: bytes = _lib.hl_version()
    return version.decode("ascii")


__all__ = [
    "Humanloop",
    "ApiResponse",
    "Headers",
    "CompletionStream",
    "AsyncCompletionStream",
    "BatchIterator",
    "AsyncBatchIterator",
    "CheckpointError",
    "request_hash",
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
    "NOT_GIVEN",
    "LIBRARY_PATH",
    "lib_version",
    "__version__",
]
