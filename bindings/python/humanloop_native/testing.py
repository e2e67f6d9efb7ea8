"""humanloop_native.testing — a Humanloop-compatible test server for your own tests.

The project's test server (``Tests/server/hl_test_server.py``, described in
``Tests/server/PROTOCOL.md``): plain HTTP (or HTTPS) on 127.0.0.1, the four completion routes,
scripted answers, recorded requests, faults. Python standard library only.

Command line (the same options as ``hl_test_server.py``; prints ``PORT=<n>`` when ready)::

    python -m humanloop_native.testing [--port 0] [--exit-on-stdin-eof] [--verbose]
                                       [--tls-cert FILE --tls-key FILE]

In-process::

    from humanloop_native.testing import TestServer
    with TestServer() as srv:
        srv.script([{"status": 500, "json": {"detail": "boom"}}])
        Humanloop(api_key="k", host=srv.base_url).complete(...)
        srv.requests(); srv.stats(); srv.reset()

pytest: installing the package registers this module as a plugin (entry point ``pytest11``), so
the fixture ``humanloop_server`` is available in every test — a started ``TestServer`` (one per
test session, reset before and after each test)::

    def test_my_code(humanloop_server):
        humanloop_server.script([{"json": {"data": [{"output": "hi"}]}}])
        client = Humanloop(api_key="k", host=humanloop_server.base_url)
        ...
        assert humanloop_server.requests()[0]["path"] == "/v4/completion"

The server's code is the project's ``hl_test_server.py``: a built package carries it as
``humanloop_native/_test_server.py`` (copied at build time); a source checkout (``pip install -e``,
the repository's tests) loads it from ``Tests/server/``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

__all__ = ["TestServer", "main", "SERVER_PATH"]  # + "humanloop_server" when pytest is there

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE_DIR / "_test_server.py"
# bindings/python/humanloop_native -> repository root
_REPO_SERVER = _PACKAGE_DIR.parent.parent.parent / "Tests" / "server" / "hl_test_server.py"
_MODULE = "humanloop_native._test_server"


def _load_server() -> ModuleType:
    """The server module: the copy inside the package, else the repository's Tests/server."""
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    if _BUNDLED.is_file():
        return importlib.import_module(_MODULE)
    if _REPO_SERVER.is_file():
        spec = importlib.util.spec_from_file_location(_MODULE, _REPO_SERVER)
        if spec is None or spec.loader is None:
            raise ImportError(f"humanloop_native.testing: cannot load {_REPO_SERVER}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MODULE] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[_MODULE]
            raise
        return module
    raise ImportError(
        "humanloop_native.testing: the test server is missing: neither "
        f"{_BUNDLED} (built packages) nor {_REPO_SERVER} (source checkout) exists")


_server = _load_server()

#: The test server class (see PROTOCOL.md): ``TestServer(port=0, verbose=False, tls=None)``.
TestServer: Any = _server.TestServer
#: The command line: ``main(argv=None)`` -> exit status.
main: Any = _server.main
#: The path of the server's source file (a standalone script: ``python3 SERVER_PATH --port 0``).
SERVER_PATH = str(Path(str(_server.__file__)).resolve())

try:
    import pytest
except ImportError:  # no pytest: no fixture, nothing else changes
    pytest = None  # type: ignore[assignment]

if pytest is not None and __name__ != "__main__":

    @pytest.fixture(scope="session")
    def _humanloop_server_session() -> Iterator[Any]:
        with TestServer() as srv:
            yield srv

    @pytest.fixture
    def humanloop_server(_humanloop_server_session: Any) -> Iterator[Any]:
        """A started Humanloop-compatible test server on 127.0.0.1 (``humanloop_native.testing``).

        ``.base_url`` (``http://127.0.0.1:<port>/v4``) is the host to give the client;
        ``.script([...])`` queues answers, ``.requests()`` lists the recorded requests,
        ``.stats()``, ``.reset()``. One server per test session, reset before and after each test.
        """
        _humanloop_server_session.reset()
        yield _humanloop_server_session
        _humanloop_server_session.reset()

    __all__.append("humanloop_server")


if __name__ == "__main__":
    sys.argv[0] = "python -m humanloop_native.testing"
    sys.exit(main())
