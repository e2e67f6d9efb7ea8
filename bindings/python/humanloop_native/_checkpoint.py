"""Checkpoints of batches (``checkpoint=PATH``): every finished result is appended to PATH at
once, as one JSON line ``{"index":k,"hash":"<sha256>","result":<envelope>}`` written with one
``os.write`` (``O_APPEND``), where the hash is the SHA-256 (hex) of the request's canonical JSON
(``request_hash``) and the envelope is the library's, byte for byte. A rerun with the same PATH
sends only the requests without a record and yields the recorded ones rebuilt from their
envelopes. A torn last line (the process was killed in the middle of a write) is ignored and cut
off before appending; a record whose hash does not match its request raises ``CheckpointError``;
"cancelled" results are not recorded (those requests run again). PATH is the user's file: it is
kept when the batch completes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Union

__all__ = ["Checkpoint", "CheckpointError", "is_cancelled"]


class CheckpointError(ValueError):
    """A checkpoint file does not belong to these requests (a record's hash differs from its
    request's, or names a request that does not exist), or cannot be used (unreadable, locked
    by another run)."""


def is_cancelled(envelope: Mapping[str, Any]) -> bool:
    error = envelope.get("error")
    return not envelope.get("ok") and isinstance(error, Mapping) and error.get("type") == "cancelled"


class Checkpoint:
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
        chunks: List[bytes] = []
        while True:
            chunk = os.pread(self.fd, 1 << 20, sum(len(part) for part in chunks))
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
            if is_cancelled(envelope):
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
