"""The iterators of a batch (``BatchIterator``, ``AsyncBatchIterator``) and the entry points of
``Humanloop.iter_batch`` / ``aiter_batch`` / ``complete_batch`` / ``acomplete_batch``.

* ``iter_batch`` (blocking) waits on the batch's queue with ``hl_queue_wait`` in slices of at
  most 100 ms, so Ctrl-C (KeyboardInterrupt between slices) is seen within 200 ms;
* ``aiter_batch`` (asyncio) watches the queue's eventfd with the event loop's ``add_reader`` and
  drains it in the reader callback, on the event loop's thread (no other Python thread).

Leaving an iteration early cancels the batch and frees it; what was yielded stays with the
caller.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any, AsyncIterator, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from ._base_client import BaseClient
from ._batch import CLOSE_WAIT, SLICE_MS, Result, _Run
from ._native import lib
from ._progress import Progress

__all__ = ["BatchIterator", "AsyncBatchIterator", "iter_batch", "aiter_batch", "run_batch", "arun_batch"]


class _Counted:
    """What both iterators tell of their batch."""

    _run: _Run

    @property
    def total(self) -> int:
        """The number of requests (each yields exactly one result, unless the iteration is left early)."""
        return self._run.total

    @property
    def counts(self) -> Optional[Dict[str, int]]:
        """The library's counts of the requests it was sent (done, failed, cancelled, not_started),
        once the batch has ended; None before (or when nothing had to be sent)."""
        return self._run.counts


class BatchIterator(_Counted, Iterator[Tuple[int, Result]]):
    """``(index, result)`` of each request as it finishes (``Humanloop.iter_batch``). Waits on
    the batch's queue in slices of at most 100 ms (Ctrl-C raises KeyboardInterrupt within
    200 ms). Leaving early (``break``, an exception, ``close()``, a ``with`` block's end, garbage
    collection) cancels the calls in flight. One consumer thread."""

    def __init__(self, run: _Run) -> None:
        self._run = run

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


class AsyncBatchIterator(_Counted, AsyncIterator[Tuple[int, Result]]):
    """``async for index, result in humanloop.aiter_batch(...)``: the batch's queue descriptor is
    watched with the event loop's ``add_reader`` and drained in that callback, on the event loop's
    thread. Leaving early (``break``, an exception, a cancelled task, ``asyncio.wait_for`` running
    out, ``await aclose()``) cancels the calls in flight."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._waiter: Optional["asyncio.Future[None]"] = None
        self._error: Optional[BaseException] = None  # raised by the reader callback (a failed write)

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
                    # (a weakref.ref[Self] is not the weakref.ref[AsyncBatchIterator] _readable takes)
                    loop.add_reader(run.fd, _readable, weakref.ref[AsyncBatchIterator](self))
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

def iter_batch(client: BaseClient, requests: Iterable[Mapping[str, Any]], concurrency: int = 16,
               checkpoint: Union[str, "os.PathLike[str]", None] = None, progress: Progress = False,
               rate_aware: bool = True) -> BatchIterator:
    return BatchIterator(_Run(client, requests, concurrency, checkpoint, progress, rate_aware))


def aiter_batch(client: BaseClient, requests: Iterable[Mapping[str, Any]], concurrency: int = 16,
                checkpoint: Union[str, "os.PathLike[str]", None] = None, progress: Progress = False,
                rate_aware: bool = True) -> AsyncBatchIterator:
    return AsyncBatchIterator(_Run(client, requests, concurrency, checkpoint, progress, rate_aware))


def _in_order(total: int, pairs: List[Tuple[int, Result]]) -> List[Result]:
    results: List[Optional[Result]] = [None] * total
    for index, result in pairs:
        results[index] = result
    return [r if r is not None else RuntimeError("no result") for r in results]


def run_batch(client: BaseClient, requests: Iterable[Mapping[str, Any]], concurrency: int = 16,
              progress: Progress = False, checkpoint: Union[str, "os.PathLike[str]", None] = None,
              rate_aware: bool = True) -> List[Result]:
    """``complete_batch``: ``iter_batch`` collected in request order."""
    iterator = iter_batch(client, requests, concurrency, checkpoint, progress, rate_aware)
    with iterator:
        pairs = list(iterator)
    return _in_order(iterator.total, pairs)


async def arun_batch(client: BaseClient, requests: Iterable[Mapping[str, Any]], concurrency: int = 16,
                     progress: Progress = False, checkpoint: Union[str, "os.PathLike[str]", None] = None,
                     rate_aware: bool = True) -> List[Result]:
    """``acomplete_batch``: ``aiter_batch`` collected in request order."""
    iterator = aiter_batch(client, requests, concurrency, checkpoint, progress, rate_aware)
    async with iterator:
        pairs = [pair async for pair in iterator]
    return _in_order(iterator.total, pairs)
