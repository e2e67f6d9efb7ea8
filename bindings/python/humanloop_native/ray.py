"""Humanloop completions over a Ray Data dataset: ``ds.map_batches(HumanloopCompletions, ...)``.

Ray Data runs the class in a pool of actors; each actor process makes one ``Humanloop`` client
(in ``__init__``) and sends each block it is given through the library's batch engine
(``Humanloop.complete_batch``), at most ``concurrency`` calls in flight per actor::

    import ray
    from humanloop_native.ray import HumanloopCompletions

    ds = ray.data.read_json("prompts.jsonl")          # a column "request": the call's arguments
    out = ds.map_batches(
        HumanloopCompletions,
        fn_constructor_kwargs={"concurrency": 32},     # api_key: HUMANLOOP_API_KEY of the workers
        compute=ray.data.ActorPoolStrategy(size=4),    # 4 actors
        batch_size=200,
        num_cpus=0.5,                                  # per actor: the calls wait on the network
        max_restarts=3, max_task_retries=3,            # the actors' ray.remote arguments
    )
    out.write_json("results/")

or ``map_completions(ds, actors=4, concurrency=32)``, which does the same.

Fault tolerance: a lost actor (its process killed, its node gone) is restarted up to
``max_restarts`` times, and the block it was running goes to the pool again up to
``max_task_retries`` times (its calls are sent again: a block's results are only kept once the
whole block is done). Plain Ray actors retry neither; Ray Data 2.60's actor pools default both
to -1 (no limit), so setting them gives finite limits (Ray 2.60 warns that these keyword
arguments are deprecated; the ``ray`` extra pins Ray 2.60.0).

How a row becomes a request: ``build_request(row) -> dict`` when given; else the row's
``request`` column (``request_column``), a dict or the JSON text of one. The dict holds the
keyword arguments of the call, as in ``complete_batch``; its optional ``"call"`` key names the
method (``"complete"``, ``"complete_deployed"``, ``"complete_experiment"``,
``"complete_model_configuration"``, or the SDK's ``"create..."`` names), else ``call`` (the
constructor argument, default ``"complete"``).

Every input row gives one output row: the input columns, then

- ``output``: the first completion's text (``body["data"][0]["output"]``), None on failure;
- ``status``: ``"ok"`` or ``"error"``;
- ``http_status``: the HTTP status of the answer (0 when there was none: a connection error,
  a timeout, a request that could not be built);
- ``error_type``: the exception's class name (``"RateLimitError"``, ``"ApiConnectionError"``,
  ``"InvalidRequestError"``, ``"JSONDecodeError"`` ...), None when ok;
- ``error``: the exception's one-line message, None when ok;
- ``response``: only with ``include_response=True``: the whole response body as JSON text
  (usage, provider responses, every sample), None on failure.

A column of the input with one of these names is replaced. A failed row is a value, never an
exception that stops the job: retry the rows with ``status == "error"`` in another pass if
needed (``out.filter(lambda row: row["status"] == "error")``).

Ray is an optional extra: ``pip install 'humanloop_native[ray]'``; ``import humanloop_native``
never imports it.
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional

try:
    # `import ray` is the Ray package (an absolute import), not this module ray.py
    import ray  # noqa: F401  # pyright: ignore[reportImplicitRelativeImport]
    import ray.data  # noqa: F401  # pyright: ignore[reportMissingImports]
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "humanloop_native.ray needs Ray Data, which is an optional extra: "
        "pip install 'humanloop_native[ray]' (or pip install 'ray[data]'); "
        f"importing it failed: {_exc}"
    ) from _exc

from ._batch import CALL_NAMES
from ._client import Humanloop
from ._types import ApiResponse

__all__ = ["HumanloopCompletions", "map_completions", "RESULT_COLUMNS"]

#: The columns every output row gets (``response`` too with ``include_response=True``).
RESULT_COLUMNS = ("output", "status", "http_status", "error_type", "error")


def _plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars (as Ray Data's numpy batches hold them) turned
    into lists and Python scalars, recursively, so that the request encodes as JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, bytes, bool, int, float)) or value is None:
        return value
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, pyarrow scalars' values
    if callable(tolist):
        return _plain(tolist())
    return value


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class HumanloopCompletions:
    """A callable class for ``Dataset.map_batches``: one Humanloop client per actor, each block
    run through ``Humanloop.complete_batch`` at ``concurrency`` calls in flight.

    Args:
        api_key: the Humanloop API key; default: the environment variable HUMANLOOP_API_KEY of
            the worker (set it with ``runtime_env={"env_vars": {...}}``).
        host: base URL; default HUMANLOOP_HOST, else the Humanloop API.
        call: the method of rows whose request names none: ``"complete"`` (default),
            ``"complete_deployed"``, ``"complete_experiment"``,
            ``"complete_model_configuration"`` (or the SDK's ``create...`` names).
        concurrency: calls in flight at once in each actor (``complete_batch``'s concurrency;
            the number of actors is ``map_batches``' own ``concurrency``).
        request_column: the column holding each row's request (a dict, or its JSON text) when
            ``build_request`` is not given.
        build_request: ``build_request(row) -> dict``, the request of a row (a dict of the
            row's columns); it must pickle (a module-level function or a lambda).
        include_response: add the column ``response``: the whole body as JSON text.
        client_options: more keyword arguments of ``Humanloop(...)`` (``timeout``,
            ``max_retries``, ``max_connections``, provider keys, ...).
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        host: Optional[str] = None,
        call: str = "complete",
        concurrency: int = 16,
        request_column: str = "request",
        build_request: Optional[Callable[[Dict[str, Any]], Mapping[str, Any]]] = None,
        include_response: bool = False,
        client_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if call not in CALL_NAMES:
            raise ValueError(f"unknown call {call!r} (one of: {', '.join(CALL_NAMES)})")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, not {concurrency!r}")
        self.call = call
        self.concurrency = concurrency
        self.request_column = request_column
        self.build_request = build_request
        self.include_response = include_response
        options = dict(client_options or {})
        if api_key is not None:
            options["api_key"] = api_key
        if host is not None:
            options["host"] = host
        self.client = Humanloop(**options)

    # -- one block ---------------------------------------------------------------------------
    def __call__(self, batch: Any) -> Any:
        """The block with the result columns added, one output row per input row: ``batch`` is
        a dict of columns (Ray Data's default "numpy" format), a pandas DataFrame or a pyarrow
        Table, and the result has the same form."""
        if hasattr(batch, "to_pylist") and hasattr(batch, "append_column"):  # pyarrow.Table
            return self._arrow(batch)
        if hasattr(batch, "to_dict") and hasattr(batch, "assign"):  # pandas.DataFrame
            rows = batch.to_dict("records")
            columns = self.run(rows)
            return batch.assign(**columns)
        if isinstance(batch, Mapping):
            columns_in: Mapping[Any, Any] = batch
            names = list(columns_in)
            count = len(columns_in[names[0]]) if names else 0
            rows = [{name: columns_in[name][i] for name in names} for i in range(count)]
            out = dict(columns_in)
            out.update(self.run(rows))
            return out
        raise TypeError(f"a batch must be a dict of columns, a pandas DataFrame or a pyarrow Table, "
                        f"not {type(batch).__name__}")

    def _arrow(self, table: Any) -> Any:
        import pyarrow as pa  # pyright: ignore[reportMissingImports]  # the optional extra's

        columns = self.run(table.to_pylist())
        for name, values in columns.items():
            array = pa.array(values, type=pa.int64() if name == "http_status" else pa.string())
            if name in table.column_names:
                table = table.set_column(table.column_names.index(name), name, array)
            else:
                table = table.append_column(name, array)
        return table

    def run(self, rows: List[Dict[str, Any]]) -> Dict[str, List[Any]]:
        """The result columns (lists, in row order) of ``rows`` (dicts of column values)."""
        requests: List[Optional[Dict[str, Any]]] = []
        problems: Dict[int, Exception] = {}
        for i, row in enumerate(rows):
            try:
                requests.append(self._request(row))
            except Exception as exc:  # noqa: BLE001 - the row's own error, a value
                problems[i] = exc
                requests.append(None)
        todo = [i for i, request in enumerate(requests) if request is not None]
        results: List[Any] = [problems.get(i) for i in range(len(rows))]
        if todo:
            answers = self.client.complete_batch([request for request in requests if request is not None],
                                                 concurrency=self.concurrency)
            for i, answer in zip(todo, answers):
                results[i] = answer
        columns: Dict[str, List[Any]] = {name: [] for name in RESULT_COLUMNS}
        if self.include_response:
            columns["response"] = []
        for result in results:
            for name, value in self._columns(result).items():
                columns[name].append(value)
        return columns

    def _request(self, row: Dict[str, Any]) -> Dict[str, Any]:
        if self.build_request is not None:
            request: Any = self.build_request(row)
        else:
            if self.request_column not in row:
                raise KeyError(f"the row has no column {self.request_column!r} "
                               f"(give request_column= or build_request=)")
            request = row[self.request_column]
            if isinstance(request, bytes):
                request = request.decode("utf-8")
            if isinstance(request, str):
                request = json.loads(request)
        request = _plain(request)
        if not isinstance(request, dict):
            raise TypeError(f"a request must be a dict of keyword arguments, not {type(request).__name__}")
        if "call" not in request or request["call"] is None:
            request["call"] = self.call
        return request

    def _columns(self, result: Any) -> Dict[str, Any]:
        if isinstance(result, ApiResponse):
            output = None
            body = result.body
            if isinstance(body, Mapping):
                data = body.get("data")
                if isinstance(data, list) and data and isinstance(data[0], Mapping):
                    output = data[0].get("output")
            columns = {"output": output if isinstance(output, str) else None, "status": "ok",
                       "http_status": int(result.status or 0), "error_type": None, "error": None}
            if self.include_response:
                columns["response"] = json.dumps(body, ensure_ascii=False)
            return columns
        if not isinstance(result, BaseException):  # never expected: complete_batch's contract
            result = RuntimeError(f"no result (got {type(result).__name__})")
        status = getattr(result, "status", None)
        columns = {"output": None, "status": "error",
                   "http_status": status if isinstance(status, int) and not isinstance(status, bool) else 0,
                   "error_type": type(result).__name__, "error": _one_line(result)}
        if self.include_response:
            columns["response"] = None
        return columns

    def __del__(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


def map_completions(
    ds: "ray.data.Dataset",
    *,
    actors: int = 2,
    batch_size: int = 256,
    num_cpus: float = 0.5,
    max_restarts: int = 3,
    max_task_retries: int = 3,
    ray_remote_args: Optional[Mapping[str, Any]] = None,
    **completions_kwargs: Any,
) -> "ray.data.Dataset":
    """``ds.map_batches(HumanloopCompletions, ...)`` on a pool of ``actors`` actors that
    survives the loss of an actor: a killed actor is restarted (``max_restarts``) and the block
    it held is run again on the pool (``max_task_retries``; that block's calls are sent again).
    Each actor reserves ``num_cpus`` (the calls wait on the network: a fraction is enough).
    ``ray_remote_args`` adds other arguments of the actors' ``ray.remote``. The keyword
    arguments of ``HumanloopCompletions`` (api_key, host, call, concurrency, request_column,
    build_request, include_response, client_options) pass through.
    """
    if isinstance(actors, bool) or not isinstance(actors, int) or actors < 1:
        raise ValueError(f"actors must be an integer >= 1, not {actors!r}")
    remote: Dict[str, Any] = {"max_restarts": max_restarts, "max_task_retries": max_task_retries}
    remote.update(ray_remote_args or {})
    with warnings.catch_warnings():
        # Ray 2.60 deprecates map_batches' **ray_remote_args (to be removed in Ray 2.64) and names
        # no replacement for max_restarts / max_task_retries yet: the pinned Ray takes them.
        warnings.filterwarnings("ignore", message=r"`ray_remote_args` is deprecated")
        return ds.map_batches(
            HumanloopCompletions,
            fn_constructor_kwargs=dict(completions_kwargs),
            compute=ray.data.ActorPoolStrategy(size=actors),
            batch_size=batch_size,
            num_cpus=num_cpus,
            **remote,  # map_batches takes the actors' ray.remote arguments as keyword arguments
        )
