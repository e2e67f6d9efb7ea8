"""Shared fixtures: the package from bindings/python (not installed) and the project's test
server (Tests/server/hl_test_server.py) on 127.0.0.1, one per test session — plain HTTP
(`server`, `srv`), and HTTPS with a self-signed certificate made for the session, in a process
of its own (`tls_server_process`; skipped without the openssl command)."""

import shutil
import subprocess
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

from hlpy_support import API_KEY, ServerProcess  # noqa: E402


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


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    """(certificate, key): PEM files made for the session, for 127.0.0.1 and localhost."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make the TLS test server's certificate")
    directory = tmp_path_factory.mktemp("hl-tls-server")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=hl-test-server", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=120)
    return str(cert), str(key)


@pytest.fixture(scope="session")
def tls_server_process(tls_cert):
    """The test server over HTTPS in a process of its own (hlpy_support.ServerProcess): base_url
    is https://127.0.0.1:<port>/v4 and `ca_bundle` the path of its certificate, to pass as the
    client's ca_bundle."""
    srv = ServerProcess(tls_cert)
    try:
        yield srv
    finally:
        srv.close()
