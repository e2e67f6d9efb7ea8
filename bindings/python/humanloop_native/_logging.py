"""The library's log lines, delivered to ``logging.getLogger("humanloop_native")``.

The C library writes one line per HTTP attempt at "info" and headers and bodies at "debug"
(never a key). Here its lines go to the ``humanloop_native`` logger, at INFO or DEBUG; when
logging is not configured at all (no handler anywhere), they go to stderr as the C library
would write them. The library is asked for the lines the logger wants each time a client is
made (``sync_level``), in addition to what a client's ``log_level`` or HUMANLOOP_LOG asks for.
"""

import logging
import sys

from ._native import LOG_CALLBACK, lib

logger = logging.getLogger("humanloop_native")

_PYTHON_LEVELS = {1: logging.INFO, 2: logging.DEBUG}


def _deliver(level: int, line: bytes, user_data: object) -> None:
    try:
        text = (line or b"").decode("utf-8", "replace")
        if logger.hasHandlers():
            logger.log(_PYTHON_LEVELS.get(level, logging.DEBUG), text)
        else:
            sys.stderr.write(text + "\n")
    except Exception:  # noqa: BLE001 - an exception must not cross back into C
        pass


# Kept for the life of the process: C may call it from any thread making a call.
_callback = LOG_CALLBACK(_deliver)


def sync_level() -> None:
    """Route the library's lines here, asking for those the logger is enabled for."""
    if logger.isEnabledFor(logging.DEBUG):
        level = 2
    elif logger.isEnabledFor(logging.INFO):
        level = 1
    else:
        level = 0
    lib.hl_set_log_callback(_callback, None, level)
