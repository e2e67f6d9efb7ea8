"""Shared fixtures: the package from bindings/python (not installed) and the project's test
server (Tests/server/hl_test_server.py) on 127.0.0.1, one per test session."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = ROOT / "bindings" / "python"
SERVER_DIR = ROOT / "Tests" / "server"
for entry in (str(Path(__file__).resolve().parent), str(PACKAGE_DIR), str(SERVER_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from hl_test_server import TestServer  # noqa: E402

import humanloop_native  # noqa: E402

from hlpy_support import API_KEY  # noqa: E402


@pytest.fixture(scope="session")
def server():
    with TestServer() as srv:
        yield srv


@pytest.fixture
def srv(server):
    """The session's server, reset (queue, recorded requests, stats) for this test."""
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def fresh_server():
    """A server of its own, for tests that count connections."""
    with TestServer() as own:
        yield own


@pytest.fixture
def client(srv):
    with humanloop_native.Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as c:
        yield c
