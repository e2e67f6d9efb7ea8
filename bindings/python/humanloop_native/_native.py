"""Locating and loading libhumanloop, and the ctypes declarations of its C API.

Search order (the first that loads wins):

1. the environment variable ``HUMANLOOP_LIB`` (a path to the shared library);
2. the copy bundled inside this package (wheels carry ``libhumanloop.so.0.2``);
3. the repository's ``build/lib/`` (a source checkout or ``pip install -e`` after ``make``);
4. the system: ``ctypes.util.find_library("humanloop")``, then the plain soname
   ``libhumanloop.so.0.2`` (``LD_LIBRARY_PATH``, ``ldconfig`` paths).

Every function is declared with ``argtypes``/``restype``. Strings returned by the library are
declared ``c_void_p`` (never ``c_char_p``) so that the pointer survives and can be released with
``hl_free``. ``ctypes.CDLL`` releases the GIL during every call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

__all__ = ["lib", "lib_keeping_gil", "library_path", "take_string", "SONAME", "LOG_CALLBACK", "HlItem", "ITEM_EVENT", "ITEM_RESULT"]

SONAME = "libhumanloop.so.0.2"

_PACKAGE_DIR = Path(__file__).resolve().parent
# bindings/python/humanloop_native -> repository root
_REPO_BUILD_LIB = _PACKAGE_DIR.parent.parent.parent / "build" / "lib"

_c_char_p = ctypes.c_char_p
_c_void_p = ctypes.c_void_p


#: hl_log_callback: void (*)(int level, const char *line, void *user_data)
LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

#: hl_item.kind: one stream event, or the call's terminal item.
ITEM_EVENT = 1
ITEM_RESULT = 2


class HlItem(ctypes.Structure):
    """``hl_item``: one item of ``hl_loop_run``. ``json`` is owned by the loop and valid until the
    next ``hl_loop_run`` / ``hl_loop_free`` of that loop (declared c_void_p: read with ``len``)."""

    _fields_ = [("call", _c_void_p), ("tag", _c_void_p), ("kind", ctypes.c_int),
                ("json", _c_void_p), ("len", ctypes.c_size_t)]


def _declare(cdll: ctypes.CDLL) -> None:
    """Declare argtypes/restype of every exported function (raises AttributeError if one is missing)."""
    cdll.hl_version.argtypes = []
    cdll.hl_version.restype = _c_char_p  # static string: never freed

    cdll.hl_client_new.argtypes = [_c_char_p, ctypes.POINTER(_c_void_p)]
    cdll.hl_client_new.restype = _c_void_p
    cdll.hl_client_free.argtypes = [_c_void_p]
    cdll.hl_client_free.restype = None
    cdll.hl_client_info.argtypes = [_c_void_p]
    cdll.hl_client_info.restype = _c_void_p  # char*, owned by the caller -> hl_free

    for name in ("hl_complete", "hl_complete_deployed", "hl_complete_experiment",
                 "hl_complete_model_configuration"):
        fn = getattr(cdll, name)
        fn.argtypes = [_c_void_p, _c_char_p]
        fn.restype = _c_void_p  # char*, owned by the caller -> hl_free
        stream_fn = getattr(cdll, name + "_stream")
        stream_fn.argtypes = [_c_void_p, _c_char_p]
        stream_fn.restype = _c_void_p  # hl_stream*

    cdll.hl_stream_next.argtypes = [_c_void_p]
    cdll.hl_stream_next.restype = _c_void_p  # char* or NULL
    cdll.hl_stream_free.argtypes = [_c_void_p]
    cdll.hl_stream_free.restype = None
    cdll.hl_free.argtypes = [_c_void_p]
    cdll.hl_free.restype = None
    cdll.hl_set_log_callback.argtypes = [LOG_CALLBACK, _c_void_p, ctypes.c_int]
    cdll.hl_set_log_callback.restype = None
    cdll.hl_stream_cancel.argtypes = [_c_void_p]
    cdll.hl_stream_cancel.restype = None

    # Calls on loops the binding runs: hl_loop_*, and the handles of their calls.
    cdll.hl_loop_new.argtypes = [_c_void_p, _c_char_p]
    cdll.hl_loop_new.restype = _c_void_p  # hl_loop*
    cdll.hl_loop_fd.argtypes = [_c_void_p]
    cdll.hl_loop_fd.restype = ctypes.c_int
    cdll.hl_loop_submit.argtypes = [_c_void_p, _c_char_p, _c_char_p, _c_char_p, _c_void_p]
    cdll.hl_loop_submit.restype = _c_void_p  # hl_call*
    cdll.hl_loop_run.argtypes = [_c_void_p, ctypes.c_int, _c_void_p, ctypes.c_size_t]  # items: an HlItem array's address
    cdll.hl_loop_run.restype = ctypes.c_size_t
    cdll.hl_loop_wake.argtypes = [_c_void_p]
    cdll.hl_loop_wake.restype = None
    cdll.hl_loop_free.argtypes = [_c_void_p]
    cdll.hl_loop_free.restype = None
    cdll.hl_call_pause.argtypes = [_c_void_p, ctypes.c_int]
    cdll.hl_call_pause.restype = None
    cdll.hl_call_cancel.argtypes = [_c_void_p]
    cdll.hl_call_cancel.restype = None
    cdll.hl_call_free.argtypes = [_c_void_p]
    cdll.hl_call_free.restype = None
    cdll.hl_call_run.argtypes = [_c_void_p, _c_char_p, _c_char_p, _c_char_p]
    cdll.hl_call_run.restype = _c_void_p  # char*, owned by the caller -> hl_free
    cdll.hl_batch.argtypes = [_c_void_p, _c_char_p]
    cdll.hl_batch.restype = _c_void_p  # char*, owned by the caller -> hl_free

    # Completion queues and batches on the engine: hl_queue_*, hl_batch_submit.
    cdll.hl_queue_new.argtypes = [_c_char_p]
    cdll.hl_queue_new.restype = _c_void_p  # hl_queue*
    cdll.hl_queue_fd.argtypes = [_c_void_p]
    cdll.hl_queue_fd.restype = ctypes.c_int
    cdll.hl_queue_drain.argtypes = [_c_void_p, _c_void_p, ctypes.c_size_t]  # items: an HlItem array's address
    cdll.hl_queue_drain.restype = ctypes.c_size_t
    cdll.hl_queue_wait.argtypes = [_c_void_p, ctypes.c_int]
    cdll.hl_queue_wait.restype = ctypes.c_int
    cdll.hl_queue_wake.argtypes = [_c_void_p]
    cdll.hl_queue_wake.restype = None
    cdll.hl_queue_free.argtypes = [_c_void_p]
    cdll.hl_queue_free.restype = None
    cdll.hl_batch_submit.argtypes = [_c_void_p, _c_char_p, _c_void_p, _c_void_p]
    cdll.hl_batch_submit.restype = _c_void_p  # hl_call*


def _candidates() -> List[Tuple[str, str]]:
    """(description, path-or-name) pairs in search order ("" when find_library found nothing)."""
    found: List[Tuple[str, str]] = []
    env = os.environ.get("HUMANLOOP_LIB")
    if env:
        found.append(("$HUMANLOOP_LIB", env))
    found.append(("bundled in the package", str(_PACKAGE_DIR / SONAME)))
    found.append(("repository build", str(_REPO_BUILD_LIB / SONAME)))
    system = ctypes.util.find_library("humanloop")
    if system != SONAME:
        found.append(("system (ctypes.util.find_library)", system or ""))
    found.append(("system (dynamic loader)", SONAME))
    return found


def _load() -> Tuple[ctypes.CDLL, str]:
    tried: List[str] = []
    for origin, candidate in _candidates():
        if not candidate:
            tried.append(f"  {origin}: (nothing found)")
            continue
        is_path = os.sep in candidate
        if is_path and not os.path.exists(candidate):
            tried.append(f"  {origin}: {candidate} (not found)")
            continue
        try:
            cdll = ctypes.CDLL(candidate)
            _declare(cdll)
        except (OSError, AttributeError) as exc:
            tried.append(f"  {origin}: {candidate} ({exc})")
            continue
        if tried and tried[0].startswith("  $HUMANLOOP_LIB"):
            warnings.warn(f"HUMANLOOP_LIB could not be used ({tried[0].strip()}); "
                          f"loaded {candidate} instead", RuntimeWarning, stacklevel=3)
        return cdll, candidate
    if not os.environ.get("HUMANLOOP_LIB"):
        tried.insert(0, "  $HUMANLOOP_LIB: (not set)")
    raise ImportError(
        "humanloop_native: cannot load the libhumanloop shared library. Looked at, in order:\n"
        + "\n".join(tried)
        + "\nBuild it with `make` at the repository root, install a wheel that bundles it, or set "
        "HUMANLOOP_LIB to its path. It needs libcurl (libcurl4) on the system."
    )


lib, library_path = _load()


def _load_keeping_the_gil() -> ctypes.PyDLL:
    """The same library through ``ctypes.PyDLL``: its calls keep the GIL. Only for the quick
    functions of a call's life on a loop the binding runs: ``hl_loop_submit`` (checks the request
    and queues the call) and ``hl_call_free``, which never wait for anything that needs the GIL
    (for a loop's call, ``hl_call_free`` waits at most for a delivery in progress, which is the
    library's own code; the log callback is never called under the locks they take). Each GIL
    release and re-acquisition around such a call is a thread switch when other threads wait for
    the GIL (32 threads making blocking calls: 4 switches per call instead of 1)."""
    keeping = ctypes.PyDLL(library_path)
    keeping.hl_loop_submit.argtypes = [_c_void_p, _c_char_p, _c_char_p, _c_char_p, _c_void_p]
    keeping.hl_loop_submit.restype = _c_void_p  # hl_call*
    keeping.hl_call_free.argtypes = [_c_void_p]
    keeping.hl_call_free.restype = None
    return keeping


lib_keeping_gil = _load_keeping_the_gil()


def take_string(ptr: Optional[int]) -> Optional[bytes]:
    """Copy a char* returned by the library and release it with hl_free. NULL -> None."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr)
    finally:
        lib.hl_free(ptr)
