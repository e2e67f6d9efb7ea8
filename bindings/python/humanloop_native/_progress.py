"""The progress of a batch (``progress=True`` or a callable): done/total, failures and the
rate, as a callback, a tqdm bar or an updating line on a terminal, else log lines."""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any, Callable, Mapping, Optional, TextIO, Union

from ._logging import logger

__all__ = ["BatchProgress", "Progress", "ProgressCallback", "PROGRESS_LOG_INTERVAL", "PROGRESS_TTY_INTERVAL"]

#: A progress callback: ``progress(done, total, failed)``.
ProgressCallback = Callable[[int, int, int], Any]
Progress = Union[bool, ProgressCallback, None]

#: Seconds between two progress lines logged when stderr is not a terminal.
PROGRESS_LOG_INTERVAL = 10.0
#: Seconds between two redraws of the progress line on a terminal.
PROGRESS_TTY_INTERVAL = 0.1


def _stderr_is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class BatchProgress:
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
