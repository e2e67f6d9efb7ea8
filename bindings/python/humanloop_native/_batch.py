"""Batches: ``Humanloop.iter_batch`` / ``aiter_batch`` (results as they finish) and
``complete_batch`` / ``acomplete_batch`` (every result, in request order), built on them.

The library runs the batch (``hl_batch_submit``): its engine thread keeps ``concurrency`` calls
in flight (rate-aware by default: fewer on 429s, Retry-After honoured, 429'd requests requeued)
and puts one item per finished request on a completion queue (``hl_queue``), in completion
order, then one terminal item with the counts. The binding only takes items off that queue:

* ``iter_batch`` (blocking) waits on the queue with ``hl_queue_wait`` in slices of at most
  100 ms, so Ctrl-C (KeyboardInterrupt between slices) is seen within 200 ms;
* ``aiter_batch`` (asyncio) watches the queue's eventfd with the event loop's ``add_reader`` and
  drains it in the reader callback, on the event loop's thread (no other Python thread).

Leaving an iteration early (``break``, an exception, Ctrl-C, a cancelled task, ``close()``)
cancels the batch (``hl_call_cancel``: its calls in flight are cancelled, no more start) and
frees it; what was yielded stays with the caller.

Checkpoints (``checkpoint=PATH``): every finished result is appended to PATH at once, as one
JSON line ``{"index":k,"hash":"<sha256>","result":<envelope>}`` written with one ``os.write``
(``O_APPEND``), where the hash is the SHA-256 (hex) of the request's canonical JSON
(``request_hash``) and the envelope is the library's, byte for byte. A rerun with the same PATH
sends only the requests without a record and yields the recorded ones rebuilt from their
envelopes. A torn last line (the process was killed in the middle of a write) is ignored and cut
off before appending; a record whose hash does not match its request raises ``CheckpointError``;
"cancelled" results are not recorded (those requests run again). PATH is the user's file: it is
kept when the batch completes.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import errno
import fcntl
import hashlib
import importlib
import inspect
import json
import os
import re
import sys
import time
import weakref
from typing import (TYPE_CHECKING, Any, AsyncIterator, Callable, Deque, Dict, Iterable, Iterator, List, Mapping,
                    Optional, TextIO, Tuple, Union)

from . import _engine
from ._engine import ITEM_RESULT, NativeClient
from ._errors import HumanloopError, error_from_envelope
from ._logging import logger
from ._native import HlItem, lib

if TYPE_CHECKING:
    from ._client import ApiResponse, Humanloop

__all__ = ["BatchIterator", "AsyncBatchIterator", "CheckpointError", "iter_batch", "aiter_batch", "run_batch",
           "arun_batch", "request_hash", "CALL_NAMES", "PROGRESS_LOG_INTERVAL"]

Result = Union["ApiResponse", HumanloopError, Exception]
#: A progress callback: ``progress(done, total, failed)``.
ProgressCallback = Callable[[int, int, int], Any]
Progress = Union[bool, ProgressCallback, None]

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

#: Seconds between two progress lines logged when stderr is not a terminal.
PROGRESS_LOG_INTERVAL = 10.0
#: Seconds between two redraws of the progress line on a terminal.
PROGRESS_TTY_INTERVAL = 0.1
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


class CheckpointError(ValueError):
    """A checkpoint file does not belong to these requests (a record's hash differs from its
    request's, or names a request that does not exist), or cannot be used (unreadable, locked
    by another run)."""


def _prepare(client: "Humanloop", request: Any) -> Prepared:
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
    from ._client import ApiResponse

    if item.get("ok"):
        return ApiResponse(item)
    return error_from_envelope(item)


def _is_cancelled(envelope: Mapping[str, Any]) -> bool:
    error = envelope.get("error")
    return not envelope.get("ok") and isinstance(error, Mapping) and error.get("type") == "cancelled"


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


# -- checkpoints -----------------------------------------------------------------------------------

class _Checkpoint:
    """An append-only file of finished results (see the module's doc). Opened (created if
    missing) and locked (``flock``, one run at a time) when the batch is set up; its records are
    read then, a torn last line is cut off, and every new result is appended with one write."""

    def __init__(self, path: Union[str, "os.PathLike[str]"], hashes: List[Optional[str]]) -> None:
        self.path = os.fspath(path)
        self.recorded: Dict[int, Dict[str, Any]] = {}
        try:
            self.fd: Optional[int] = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise CheckpointError(f"checkpoint {self.path}: cannot open it: {exc.strerror or exc}") from exc
        try:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise CheckpointError(f"checkpoint {self.path} is in use by another batch (one run per "
                                          "checkpoint file at a time)") from None
                raise
            self._read(hashes)
        except BaseException:
            self.close()
            raise

    def _read(self, hashes: List[Optional[str]]) -> None:
        assert self.fd is not None
        chunks = []
        while True:
            chunk = os.pread(self.fd, 1 << 20, sum(map(len, chunks)))
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a torn last record (killed in the middle of its write): cut it off
            os.ftruncate(self.fd, end)
        total = len(hashes)
        for number, line in enumerate(data[:end].split(b"\n")[:-1], 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                index, digest, envelope = record["index"], record["hash"], record["result"]
                if isinstance(index, bool) or not isinstance(index, int) or not isinstance(envelope, dict):
                    raise ValueError("bad fields")
            except (ValueError, KeyError, TypeError):
                raise CheckpointError(f"checkpoint {self.path}, line {number}: not a record of this binding "
                                      '({"index":k,"hash":...,"result":{...}})') from None
            if not 0 <= index < total:
                raise CheckpointError(
                    f"checkpoint {self.path}, line {number}: a result of request {index}, but the batch has "
                    f"{total} requests: the requests changed since the checkpoint was written (use another "
                    "checkpoint file, or delete this one to start over)")
            if digest != hashes[index]:
                raise CheckpointError(
                    f"checkpoint {self.path}, line {number}: the result of request {index} was recorded for a "
                    "different request (its hash differs): the requests changed since the checkpoint was "
                    "written (use another checkpoint file, or delete this one to start over)")
            if _is_cancelled(envelope):
                continue  # not a result: it runs again
            self.recorded.setdefault(index, envelope)

    def record(self, index: int, digest: str, envelope: bytes) -> None:
        """Append one record (one write; the rare short write is completed)."""
        fd = self.fd
        if fd is None:
            return
        line = b'{"index":%d,"hash":"%s","result":%s}\n' % (index, digest.encode("ascii"), envelope)
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)  # also releases the lock


# -- progress --------------------------------------------------------------------------------------

def _stderr_is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _Progress:
    """done/total, failed and the effective rate (requests/s of this run):

    * ``progress=callable``: ``callable(done, total, failed)`` after each result (and once at the
      start);
    * ``progress=True`` with stderr a terminal: a tqdm bar when tqdm is installed, else one line
      rewritten in place (at most 10 times a second, and once at the end);
    * ``progress=True`` otherwise (a log file, a pipe, CI): one plain line through the
      ``humanloop_native`` logger at INFO at most every ``PROGRESS_LOG_INTERVAL`` seconds, and one
      at the end (to stderr when logging is not configured, as the library's own lines)."""

    def __init__(self, total: int, done: int, failed: int, progress: Progress) -> None:
        self.total = total
        self.done = done
        self.failed = failed
        self.fresh = 0  # results of this run (the rate); ``done`` also counts recorded ones
        self.started = time.monotonic()
        self.shown = self.started
        self.callback: Optional[ProgressCallback] = progress if callable(progress) else None
        self.stream: TextIO = sys.stderr
        self.tty = self.callback is None and _stderr_is_terminal(self.stream)
        self.bar: Any = None
        if self.callback is not None:
            self.callback(self.done, self.total, self.failed)
        elif self.tty:
            try:
                tqdm: Any = importlib.import_module("tqdm").tqdm  # optional
            except (ImportError, AttributeError):
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, initial=done, unit="request", desc="batch", file=self.stream,
                                dynamic_ncols=True)
                self.bar.set_postfix(failed=failed, refresh=False)
            else:
                self._line(force=True)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.fresh / elapsed if elapsed > 0 else 0.0

    def text(self) -> str:
        return f"batch: {self.done}/{self.total} done, {self.rate():.1f} requests/s, {self.failed} failed"

    def update(self, failed: bool) -> None:
        self.done += 1
        self.fresh += 1
        if failed:
            self.failed += 1
        if self.callback is not None:
            self.callback(self.done, self.total, self.failed)
        elif self.bar is not None:
            if failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)
            self.bar.update(1)
        else:
            self.tick()

    def tick(self) -> None:
        """Redraw / log if it is time (also called while no result arrives)."""
        if self.callback is not None or self.bar is not None:
            return
        if self.tty:
            self._line()
        elif time.monotonic() - self.shown >= PROGRESS_LOG_INTERVAL:
            self._log()

    def _line(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.shown < PROGRESS_TTY_INTERVAL:
            return
        self.shown = now
        self.stream.write("\r" + self.text())
        self.stream.flush()

    def _log(self, suffix: str = "") -> None:
        self.shown = time.monotonic()
        text = self.text() + suffix
        if logger.hasHandlers():
            logger.info(text)
        else:
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def close(self, counts: Optional[Mapping[str, int]] = None, interrupted: bool = False) -> None:
        suffix = ""
        if interrupted:
            suffix = " (interrupted"
            if counts:
                suffix += f": {counts.get('cancelled', 0)} cancelled, {counts.get('not_started', 0)} not started"
            suffix += ")"
        if self.callback is not None:
            return
        if self.bar is not None:
            self.bar.close()
        elif self.tty:
            self._line(force=True)
            self.stream.write(suffix + "\n")
            self.stream.flush()
        else:
            self._log(suffix)


# -- one batch -------------------------------------------------------------------------------------

class _Run:
    """One batch: its requests, what is already known (recorded results, requests the binding
    refuses), the library's batch on its queue, and the results taken off that queue
    (``ready``, in the order they finished). Single consumer: the iterating thread (or the event
    loop's thread)."""

    def __init__(self, client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int,
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
        self.checkpoint: Optional[_Checkpoint] = None
        prepared = [_prepare(client, request) for request in requests]
        if checkpoint is not None:
            self.hashes = [request_hash(request) for request in requests]
            self.checkpoint = _Checkpoint(checkpoint, self.hashes)
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
        self.meter = _Progress(self.total, self.delivered, failed, progress) if progress else None

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
                raise _engine._too_many_open_files() if _engine._out_of_descriptors() else \
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
            flat = _engine._layout(count).unpack_from(self._items)
            items = list(zip(flat[2::5], map(_engine._string_at, flat[3::5], flat[4::5])))
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
            envelope = _engine.parse_item(envelope_raw)
        else:  # never expected: the library's events have exactly that shape
            event = _engine.parse_item(raw)
            position = event.get("index", -1)
            envelope = event.get("result") if isinstance(event.get("result"), dict) else _engine.parse_item(b"")
            envelope_raw = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if not isinstance(position, int) or not 0 <= position < len(self.send):
            return
        index = self.send[position]
        if index in self.seen:
            return
        self.seen.add(index)
        if self.checkpoint is not None and not _is_cancelled(envelope):
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
        item = _engine.parse_item(raw)
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


# -- the iterators ---------------------------------------------------------------------------------

class BatchIterator(Iterator[Tuple[int, Result]]):
    """``(index, result)`` of each request as it finishes (``Humanloop.iter_batch``). Waits on
    the batch's queue in slices of at most 100 ms (Ctrl-C raises KeyboardInterrupt within
    200 ms). Leaving early (``break``, an exception, ``close()``, a ``with`` block's end, garbage
    collection) cancels the calls in flight. One consumer thread."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    @property
    def total(self) -> int:
        """The number of requests (each yields exactly one result, unless the iteration is left early)."""
        return self._run.total

    @property
    def counts(self) -> Optional[Dict[str, int]]:
        """The library's counts of the requests it was sent (done, failed, cancelled, not_started),
        once the batch has ended; None before (or when nothing had to be sent)."""
        return self._run.counts

    def __iter__(self) -> "BatchIterator":
        return self

    def __next__(self) -> Tuple[int, Result]:
        run = self._run
        if run.closed:
            raise StopIteration
        try:
            if not run.started:
                run.start()
            while True:
                run.drain()
                if run.ready:
                    return run.ready.popleft()
                if run.finished:
                    break
                lib.hl_queue_wait(run.queue, SLICE_MS)
                if run.meter is not None:
                    run.meter.tick()
        except BaseException:
            run.close(CLOSE_WAIT if run.checkpoint is not None else 0.0)
            raise
        run.close()
        raise StopIteration

    def close(self) -> None:
        """Stop: cancel the calls in flight (with a checkpoint, the results that finish meanwhile are
        still recorded) and free the batch. Idempotent."""
        run = self._run
        run.close(CLOSE_WAIT if run.checkpoint is not None else 0.0)

    def __enter__(self) -> "BatchIterator":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._run.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _readable(ref: "weakref.ref[AsyncBatchIterator]") -> None:
    iterator = ref()
    if iterator is not None:
        iterator._readable()


class AsyncBatchIterator(AsyncIterator[Tuple[int, Result]]):
    """``async for index, result in humanloop.aiter_batch(...)``: the batch's queue descriptor is
    watched with the event loop's ``add_reader`` and drained in that callback, on the event loop's
    thread. Leaving early (``break``, an exception, a cancelled task, ``asyncio.wait_for`` running
    out, ``await aclose()``) cancels the calls in flight."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._waiter: Optional["asyncio.Future[None]"] = None
        self._error: Optional[BaseException] = None  # raised by the reader callback (a failed write)

    total = BatchIterator.total
    counts = BatchIterator.counts

    def __aiter__(self) -> "AsyncBatchIterator":
        return self

    async def __anext__(self) -> Tuple[int, Result]:
        run = self._run
        if run.closed:
            raise StopAsyncIteration
        try:
            if not run.started:
                loop = asyncio.get_running_loop()
                run.start()
                if run.queue is not None:
                    # a weak reference: the event loop must not keep an abandoned iteration alive
                    # (``break`` out of ``async for`` frees it, and that cancels the batch)
                    loop.add_reader(run.fd, _readable, weakref.ref(self))
                    self._loop = loop
            while True:
                if run.ready:
                    return run.ready.popleft()
                if self._error is not None:
                    raise self._error
                if run.finished:
                    break
                run.drain()
                if run.ready or run.finished:
                    continue
                assert self._loop is not None
                self._waiter = self._loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        except BaseException:
            self._close()
            raise
        self._close()
        raise StopAsyncIteration

    def _readable(self) -> None:
        """The reader callback (the event loop's thread): take the items, wake the iteration."""
        run = self._run
        try:
            run.drain()
        except Exception as exc:  # noqa: BLE001 - e.g. the checkpoint cannot be written: the iteration raises it
            self._error = exc
            self._unwatch()
        finally:
            if run.finished or run.queue is None:
                self._unwatch()
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _unwatch(self) -> None:
        loop, self._loop = self._loop, None
        run = self._run
        if loop is not None and not loop.is_closed() and run.fd >= 0:
            try:
                loop.remove_reader(run.fd)
            except Exception:  # noqa: BLE001 - a loop being torn down
                pass

    def _close(self) -> None:
        self._unwatch()
        self._run.close()

    async def aclose(self) -> None:
        """Stop: cancel the calls in flight (the results already finished are still recorded in the
        checkpoint) and free the batch. Idempotent."""
        self._close()

    async def __aenter__(self) -> "AsyncBatchIterator":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._close()

    def __del__(self) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# -- entry points ----------------------------------------------------------------------------------

def iter_batch(client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int = 16,
               checkpoint: Union[str, "os.PathLike[str]", None] = None, progress: Progress = False,
               rate_aware: bool = True) -> BatchIterator:
    return BatchIterator(_Run(client, requests, concurrency, checkpoint, progress, rate_aware))


def aiter_batch(client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int = 16,
                checkpoint: Union[str, "os.PathLike[str]", None] = None, progress: Progress = False,
                rate_aware: bool = True) -> AsyncBatchIterator:
    return AsyncBatchIterator(_Run(client, requests, concurrency, checkpoint, progress, rate_aware))


def _in_order(total: int, pairs: List[Tuple[int, Result]]) -> List[Result]:
    results: List[Optional[Result]] = [None] * total
    for index, result in pairs:
        results[index] = result
    return [r if r is not None else RuntimeError("no result") for r in results]


def run_batch(client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int = 16,
              progress: Progress = False, checkpoint: Union[str, "os.PathLike[str]", None] = None,
              rate_aware: bool = True) -> List[Result]:
    """``complete_batch``: ``iter_batch`` collected in request order."""
    iterator = iter_batch(client, requests, concurrency, checkpoint, progress, rate_aware)
    with iterator:
        pairs = list(iterator)
    return _in_order(iterator.total, pairs)


async def arun_batch(client: "Humanloop", requests: Iterable[Mapping[str, Any]], concurrency: int = 16,
                     progress: Progress = False, checkpoint: Union[str, "os.PathLike[str]", None] = None,
                     rate_aware: bool = True) -> List[Result]:
    """``acomplete_batch``: ``aiter_batch`` collected in request order."""
    iterator = aiter_batch(client, requests, concurrency, checkpoint, progress, rate_aware)
    async with iterator:
        pairs = [pair async for pair in iterator]
    return _in_order(iterator.total, pairs)
