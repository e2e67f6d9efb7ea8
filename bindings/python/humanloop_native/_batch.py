"""Batches: ``Humanloop.iter_batch`` / ``aiter_batch`` (results as they finish) and
``complete_batch`` / ``acomplete_batch`` (every result, in request order), built on them.

The library runs the batch (``hl_batch_submit``): its engine thread keeps ``concurrency`` calls
in flight (rate-aware by default: fewer on 429s, Retry-After honoured, 429'd requests requeued)
and puts one item per finished request on a completion queue (``hl_queue``), in completion
order, then one terminal item with the counts. The binding only takes items off that queue:

``_batch_iter`` holds the iterators that take them, ``_checkpoint`` the file that records
them (``checkpoint=PATH``) and ``_progress`` what ``progress=`` shows. Here: one batch
(``_Run``), from its requests to the library's batch JSON, and from its items to results.
"""

from __future__ import annotations

import collections
import ctypes
import hashlib
import inspect
import json
import os
import re
import time
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _loops
from ._base_client import BaseClient
from ._calls import NativeClient, parse_item
from ._checkpoint import Checkpoint, CheckpointError, is_cancelled
from ._engine import item_layout, string_at
from ._errors import HumanloopError, error_from_envelope
from ._native import ITEM_RESULT, HlItem, lib
from ._progress import BatchProgress, Progress
from ._types import ApiResponse

__all__ = ["CheckpointError", "request_hash", "CALL_NAMES", "Result"]

Result = Union[ApiResponse, HumanloopError, Exception]

#: "call" of a batch request -> the library's call name (also the client method giving the signature)
CALL_NAMES: Dict[str, str] = {
    "complete": "complete",
    "complete_deployed": "complete_deployed",
    "complete_experiment": "complete_experiment",
    "complete_model_configuration": "complete_model_configuration",
    "create": "complete",
    "create_deployed": "complete_deployed",
    "create_experiment": "complete_experiment",
    "create_model_config": "complete_model_configuration",
}

#: The library's largest "concurrency" of a batch.
MAX_CONCURRENCY = 10000
#: Items taken off the queue per hl_queue_drain.
DRAIN = 256
#: The longest wait in hl_queue_wait of a blocking iteration.
SLICE_MS = 100
#: After cancelling a batch with a checkpoint: how long a blocking iteration waits for the results
#: that were finishing meanwhile (to record them) before it frees the batch.
CLOSE_WAIT = 1.0

_SIGNATURES: Dict[str, inspect.Signature] = {}
Prepared = Union[Tuple[bytes, bytes, Optional[bytes]], Exception]

#: Fields left out of a request's hash: per-call transport options and keys (rotating a key or
#: raising a timeout does not invalidate a checkpoint, and no key material goes into its hash).
_UNHASHED = frozenset(("provider_api_keys", "timeout", "max_retries", "extra_headers"))
_EVENT_HEAD = re.compile(rb'\{"index":(\d+),"result":')



def _prepare(client: BaseClient, request: Any) -> Prepared:
    """(call name, request JSON, options JSON) of one batch item, or the exception it gets."""
    try:
        if not isinstance(request, Mapping):
            raise TypeError(f"a batch request must be a dict of keyword arguments, not {type(request).__name__}")
        arguments = dict(request)
        call = arguments.pop("call", "complete")
        name = CALL_NAMES.get(call) if isinstance(call, str) else None
        if name is None:
            raise TypeError(f"unknown call {call!r} in a batch request (one of: {', '.join(CALL_NAMES)})")
        signature = _SIGNATURES.get(name)
        if signature is None:
            signature = _SIGNATURES[name] = inspect.signature(getattr(type(client), name))
        bound = signature.bind(client, **arguments)  # TypeError for bad keywords
        payload, options = client._prepare(bound.arguments)
        return name.encode("ascii"), payload, options
    except Exception as exc:  # noqa: BLE001 - the item's own error, returned in its place
        return exc


def _result(item: Mapping[str, Any]) -> Result:
    if item.get("ok"):
        return ApiResponse(item)
    return error_from_envelope(item)


def _canonical_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    if hasattr(value, "__iter__") and not isinstance(value, (str, bytes, bytearray)):
        return list(value)
    return repr(value)


def request_hash(request: Any) -> str:
    """The hash a checkpoint records for a batch request: SHA-256 (hex) of its canonical JSON,
    i.e. ``json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in
    UTF-8, where ``fields`` is the request dict with ``"call"`` resolved to the library's call
    name (``"create"`` and ``"complete"`` are the same request) and without ``provider_api_keys``,
    ``timeout``, ``max_retries`` and ``extra_headers``; values JSON cannot hold are written as
    their ``repr``."""
    if isinstance(request, Mapping):
        fields = {str(key): value for key, value in request.items() if key not in _UNHASHED}
        call = fields.get("call", "complete")
        fields["call"] = CALL_NAMES.get(call, call) if isinstance(call, str) else call
    else:
        fields = request
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True,
                      default=_canonical_default)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _check(concurrency: int) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an integer >= 1, not {concurrency!r}")



# -- one batch -------------------------------------------------------------------------------------

class _Run:
    """One batch: its requests, what is already known (recorded results, requests the binding
    refuses), the library's batch on its queue, and the results taken off that queue
    (``ready``, in the order they finished). Single consumer: the iterating thread (or the event
    loop's thread)."""

    def __init__(self, client: BaseClient, requests: Iterable[Mapping[str, Any]], concurrency: int,
                 checkpoint: Union[str, "os.PathLike[str]", None], progress: Progress, rate_aware: bool) -> None:
        _check(concurrency)
        self.client = client
        requests = list(requests)
        self.total = len(requests)
        self.concurrency = min(concurrency, MAX_CONCURRENCY)
        self.rate_aware = bool(rate_aware)
        self.ready: Deque[Tuple[int, Result]] = collections.deque()
        self.delivered = 0  # results put in ready, over the whole batch
        self.seen: "set[int]" = set()  # indices whose result the library delivered
        self.cancelling = False
        self.counts: Optional[Dict[str, int]] = None  # the terminal item's counts
        self.started = False
        self.finished = False
        self.closed = False
        self.native: Optional[NativeClient] = None
        self.queue: Optional[int] = None
        self.call: Optional[int] = None
        self.fd = -1
        self._items = (HlItem * DRAIN)()
        self._address = ctypes.addressof(self._items)
        self.hashes: List[Optional[str]] = [None] * self.total
        self.checkpoint: Optional[Checkpoint] = None
        prepared = [_prepare(client, request) for request in requests]
        if checkpoint is not None:
            self.hashes = [request_hash(request) for request in requests]
            self.checkpoint = Checkpoint(checkpoint, self.hashes)
        recorded = self.checkpoint.recorded if self.checkpoint is not None else {}
        failed = 0
        self.send: List[int] = []  # original index of each request of the library's batch
        for index, item in enumerate(prepared):
            envelope = recorded.get(index)
            if envelope is not None:
                result = _result(envelope)
            elif isinstance(item, Exception):
                result = item
            else:
                self.send.append(index)
                continue
            failed += isinstance(result, BaseException)
            self.ready.append((index, result))
        self.prepared = prepared
        self.delivered = len(self.ready)
        self.meter = BatchProgress(self.total, self.delivered, failed, progress) if progress else None

    # -- starting --------------------------------------------------------------------------------
    def _batch_json(self) -> bytes:
        parts = []
        for index in self.send:
            item = self.prepared[index]
            assert not isinstance(item, Exception)
            name, payload, options = item
            part = b'{"call":"' + name + b'","request":' + payload
            if options:
                part += b',"options":' + options
            parts.append(part + b"}")
        head = b'{"concurrency":%d,"rate_aware":%s,"requests":[' % (self.concurrency,
                                                                   b"true" if self.rate_aware else b"false")
        return head + b",".join(parts) + b"]}"

    def start(self) -> None:
        """Submit the library's batch (nothing when every result is already known)."""
        self.started = True
        if not self.send:
            self.finished = True
            return
        try:
            native, handle = self.client._acquire()
        except RuntimeError as exc:  # a closed client: every item says so
            self._fail_unsent(lambda: RuntimeError(str(exc)))
            return
        self.native = native
        try:
            queue = lib.hl_queue_new(None)
            if not queue:
                raise _loops.too_many_open_files() if _loops.out_of_descriptors() else \
                    MemoryError("hl_queue_new returned NULL")
            self.queue = queue
            self.fd = lib.hl_queue_fd(queue)
            call = lib.hl_batch_submit(handle, self._batch_json(), queue, None)
            if not call:
                raise MemoryError("hl_batch_submit returned NULL")
            self.call = call
        except BaseException:
            self.free()
            raise

    def _fail_unsent(self, make: Callable[[], Exception]) -> None:
        """Every request of the library's batch without a result gets ``make()`` (a closed client,
        a batch the library refused as a whole, a result that never came)."""
        for index in self.send:
            if index not in self.seen:
                self.seen.add(index)
                self._deliver(index, make(), failed=True)
        self.finished = True

    # -- taking items ----------------------------------------------------------------------------
    def drain(self) -> None:
        """Take every pending item off the queue (never blocks): results to ``ready`` (recorded in
        the checkpoint first), the terminal item ends the batch."""
        queue = self.queue
        if queue is None or self.finished:
            return
        while True:
            count = lib.hl_queue_drain(queue, self._address, DRAIN)
            if not count:
                return
            flat = item_layout(count).unpack_from(self._items)
            items = list(zip(flat[2::5], map(string_at, flat[3::5], flat[4::5])))
            for kind, raw in items:
                if kind == ITEM_RESULT:
                    self._end(raw)
                else:
                    self._event(raw)
            if count < DRAIN:
                return

    def _event(self, raw: bytes) -> None:
        head = _EVENT_HEAD.match(raw)
        if head is not None and raw.endswith(b"}"):
            position = int(head.group(1))
            envelope_raw = raw[head.end():-1]
            envelope = parse_item(envelope_raw)
        else:  # never expected: the library's events have exactly that shape
            event = parse_item(raw)
            position = event.get("index", -1)
            result = event.get("result")
            envelope = result if isinstance(result, dict) else parse_item(b"")
            envelope_raw = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if not isinstance(position, int) or not 0 <= position < len(self.send):
            return
        index = self.send[position]
        if index in self.seen:
            return
        self.seen.add(index)
        if self.checkpoint is not None and not is_cancelled(envelope):
            digest = self.hashes[index]
            assert digest is not None
            self.checkpoint.record(index, digest, envelope_raw)
        self._deliver(index, _result(envelope), failed=not envelope.get("ok"))

    def _deliver(self, index: int, result: Result, failed: bool) -> None:
        self.ready.append((index, result))
        self.delivered += 1
        if self.meter is not None:
            self.meter.update(failed)

    def _end(self, raw: bytes) -> None:
        item = parse_item(raw)
        if item.get("ok"):
            self.counts = {key: value for key, value in item.items() if key != "ok"}
            self.finished = True
            if not self.cancelling:
                self._fail_unsent(lambda: RuntimeError("libhumanloop's batch ended without this request's result"))
        else:  # the library refused the batch as a whole
            self._fail_unsent(lambda: error_from_envelope(item))

    # -- ending ----------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Cancel the batch's calls in flight and start no more (their results still arrive)."""
        self.cancelling = True
        if self.call is not None and not self.finished:
            lib.hl_call_cancel(self.call)

    def free(self) -> None:
        """Free the batch and its queue (cancels an unfinished batch), release the client."""
        call, self.call = self.call, None
        queue, self.queue = self.queue, None
        native, self.native = self.native, None
        if call is not None:
            lib.hl_call_free(call)
        if queue is not None:
            lib.hl_queue_free(queue)
        if native is not None:
            native.release()

    def close(self, wait: float = 0.0) -> None:
        """End the batch: when unfinished, cancel it and take (and record) the results already
        finished, waiting up to ``wait`` seconds for the cancellation's terminal item; then free
        it, close the checkpoint and the progress meter."""
        if self.closed:
            return
        self.closed = True
        interrupted = False
        try:
            if self.started and not self.finished and self.queue is not None:
                interrupted = True
                self.cancel()
                deadline = time.monotonic() + wait
                self.drain()
                while not self.finished and self.queue is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    lib.hl_queue_wait(self.queue, max(1, min(SLICE_MS, int(left * 1000))))
                    self.drain()
            elif not self.finished:
                interrupted = self.delivered < self.total
        finally:
            self.free()
            if self.checkpoint is not None:
                self.checkpoint.close()
            if self.meter is not None:
                meter, self.meter = self.meter, None
                meter.close(self.counts, interrupted)

    def __del__(self) -> None:
        try:
            self.free()
            if self.checkpoint is not None:
                self.checkpoint.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
