"""The four completion endpoints of the official SDK (``complete``, ``complete_deployed``,
``complete_experiment``, ``complete_model_configuration``), each defined once, as its blocking
method with its full keyword signature (what type checkers and IDEs show); its async, stream
and async stream forms are generated from that method (``ParamSpec``: the same keywords), and
the documentation of the arguments every endpoint shares is written once (``_endpoint``)."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Concatenate, Coroutine, Dict, Mapping, Optional, ParamSpec, TypeVar, cast

from ._async_stream import AsyncCompletionStream
from ._base_client import BaseClient
from ._request import outcome
from ._stream import CompletionStream
from ._types import NOT_GIVEN, ApiResponse, Timeout

__all__ = ["Endpoints"]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=BaseClient)
F = TypeVar("F", bound=Callable[..., ApiResponse])

#: The end of every endpoint's docstring: the arguments all four take, what they return and raise.
_SHARED_DOC = """
            project: project name; a project with that name is created if none exists.
            project_id: project ID; one of ``project`` / ``project_id`` is expected.
            session_id: session to attach the datapoint to.
            session_reference_id: your own session key (not with ``session_id``).
            parent_id: parent datapoint ID inside a session.
            parent_reference_id: your own key of an earlier parent datapoint (not with
                ``parent_id``).
            inputs: values for the ``{{{{NAME}}}}`` placeholders of the prompt template.
            source: free label of where the call came from.
            metadata: arbitrary data recorded with the log.
            provider_api_keys: per-request provider keys; merged over the client's (a key given here
                wins).
            num_samples: number of generations (server default 1).
            logprobs: include log-probabilities of the top n tokens.
            stream: with True the server streams events; this call then consumes them and returns
                the merged result, with every event in ``.events`` (use ``{stream_name}`` to
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


def _endpoint(method: F) -> F:
    """An endpoint's blocking method, named as ``Humanloop``'s and documented in full: its own
    docstring (what it does and its own arguments) followed by the arguments every endpoint shares."""
    method.__qualname__ = f"Humanloop.{method.__name__}"
    method.__doc__ = (method.__doc__ or "").rstrip() + _SHARED_DOC.format(stream_name=_stream_name(method))
    return method


def _binder(signature: inspect.Signature) -> Callable[..., Mapping[str, Any]]:
    """The arguments of a generated variant, as ``signature.bind(...).arguments`` gives them
    (the ones given, by name). Every parameter after ``self`` is keyword-only, so a call with
    known keywords, the required ones among them, is its keywords as they are; anything else
    goes through ``signature.bind`` for its ``TypeError``. (``bind`` itself costs tens of
    microseconds per call: a third of an async call's CPU in a gather.)"""
    parameters = list(signature.parameters.values())[1:]
    names = frozenset(p.name for p in parameters)
    required = frozenset(p.name for p in parameters if p.default is inspect.Parameter.empty)

    def bind(self: Any, args: Any, kwargs: Dict[str, Any]) -> Mapping[str, Any]:
        if not args and required <= kwargs.keys() <= names:
            return kwargs
        return signature.bind(self, *args, **kwargs).arguments
    return bind


def _variant(call: Callable[..., Any], name: str, signature: inspect.Signature, returns: Any, doc: str) -> None:
    """Names, documents and signs a generated variant of a completion method."""
    call.__name__ = name
    call.__qualname__ = f"Humanloop.{name}"
    call.__doc__ = doc
    call.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]


def _asynchronous(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """``a<method>``: the call on the event loop's own libhumanloop loop, awaited (no thread)."""
    signature = inspect.signature(method)
    bind = _binder(signature)
    name = method.__name__.encode("ascii")

    async def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        scope = bind(self, args, kwargs)  # TypeError for unknown or missing arguments
        payload, options = self._prepare(scope)
        envelope = await self._arun(name, payload, options)
        return cast(R, outcome(envelope))

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


def _streaming(method: Callable[Concatenate[S, P], Any]) -> Callable[Concatenate[S, P], CompletionStream]:
    """``<method>_stream``: the same keyword arguments, an iterator of events."""
    signature = inspect.signature(method)
    bind = _binder(signature)
    name = method.__name__.encode("ascii")

    def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> CompletionStream:
        scope = bind(self, args, kwargs)  # TypeError for unknown or missing arguments
        return CompletionStream(self._stream_request(name, scope))

    _variant(call, _stream_name(method), signature, "CompletionStream",
             _STREAM_DOC.format(name=method.__name__, stream_name=_stream_name(method)))
    return call


def _asynchronous_streaming(method: Callable[Concatenate[S, P], Any]) -> Callable[Concatenate[S, P], AsyncCompletionStream]:
    """``a<method>_stream``: the async-iterator twin of the stream."""
    signature = inspect.signature(method)
    bind = _binder(signature)
    name = method.__name__.encode("ascii")

    def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> AsyncCompletionStream:
        scope = bind(self, args, kwargs)  # TypeError for unknown or missing arguments
        return AsyncCompletionStream(self._stream_request(name, scope))

    stream_name = "a" + _stream_name(method)
    _variant(call, stream_name, signature, "AsyncCompletionStream",
             f"""Async-iterator twin of ``{_stream_name(method)}``, driven by the event loop itself
        (no thread; a consumer that falls behind pauses the transfer): ``async for event in humanloop.{stream_name}(...)``, or the SDK's
        ``r = await humanloop.{stream_name}(...)`` then ``async for tok in r.content``.""")
    return call



class Endpoints(BaseClient):
    """The endpoints' methods (blocking, async, streaming, async streaming) of ``Humanloop``."""

    @_endpoint
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
        """
        return self._call(b"complete", locals())
    acomplete = _asynchronous(complete)
    complete_stream = _streaming(complete)
    acomplete_stream = _asynchronous_streaming(complete)

    @_endpoint
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
            environment: name of the environment whose deployment to use (default: the project's
                default environment).
        """
        return self._call(b"complete_deployed", locals())
    acomplete_deployed = _asynchronous(complete_deployed)
    complete_deployed_stream = _streaming(complete_deployed)
    acomplete_deployed_stream = _asynchronous_streaming(complete_deployed)

    @_endpoint
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
        """
        return self._call(b"complete_experiment", locals())
    acomplete_experiment = _asynchronous(complete_experiment)
    complete_experiment_stream = _streaming(complete_experiment)
    acomplete_experiment_stream = _asynchronous_streaming(complete_experiment)

    @_endpoint
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
        """
        return self._call(b"complete_model_configuration", locals())
    acomplete_model_configuration = _asynchronous(complete_model_configuration)
    complete_model_config_stream = _streaming(complete_model_configuration)
    acomplete_model_config_stream = _asynchronous_streaming(complete_model_configuration)
