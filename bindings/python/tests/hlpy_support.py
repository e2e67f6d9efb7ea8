"""Helpers shared by the tests (a unique module name: Tests/server is on sys.path too)."""

import contextlib
import signal
import socket
import time

API_KEY = "test-api-key-123"
MODEL_CONFIG = {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{question}}"}


def header(record, name):
    """The value of a recorded request's header (case-insensitive), or None."""
    values = [v for n, v in record["headers"] if n.lower() == name.lower()]
    return values[0] if values else None


def only_request(srv):
    records = srv.requests()
    assert len(records) == 1, records
    return records[0]


def closed_port():
    """A 127.0.0.1 port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=3.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


@contextlib.contextmanager
def sigint_raises_keyboard_interrupt():
    """Python's own SIGINT handler (KeyboardInterrupt) for the duration of the block, restored
    after: a test suite run as a background job starts with SIGINT ignored (and the interpreter
    then keeps it ignored), so a test that relies on Ctrl-C sets the handler itself."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: Put first in a child interpreter's script that relies on Ctrl-C (see above).
CHILD_SIGINT_PRELUDE = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"


def event(text, finish_reason=None, index=0, id="data_s"):
    return {"data": [{"id": id, "index": index, "output": text, "finish_reason": finish_reason}]}


class ServerProcess:
    """The test server (Tests/server/hl_test_server.py) in a process of its own, with the same
    base_url, reset(), requests() and stats() as an in-process TestServer (through its
    /_control/ routes). For tests that fork(): OpenSSL's locks are process-wide, and a fork()
    while a thread of the in-process TLS server is inside OpenSSL leaves the child a lock that
    is never released (seen: a child hung in RAND_status during its first handshake)."""

    def __init__(self, tls):
        import os
        import ssl
        import subprocess
        import sys

        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "Tests", "server",
                              "hl_test_server.py")
        cert, key = tls
        self.ca_bundle = cert
        self._context = ssl.create_default_context(cafile=cert)
        self._process = subprocess.Popen(
            [sys.executable, script, "--port", "0", "--exit-on-stdin-eof", "--tls-cert", cert, "--tls-key", key],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self._process.stdout.readline().decode().strip()
        if not line.startswith("PORT="):
            self.close()
            raise RuntimeError(f"the test server did not start (it printed {line!r})")
        self.port = int(line[len("PORT="):])
        self.base_url = f"https://127.0.0.1:{self.port}/v4"

    def _control(self, method, route):
        import http.client
        import json

        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self._context, timeout=10)
        try:
            conn.request(method, "/_control/" + route)
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, (route, response.status, body)
            return json.loads(body)
        finally:
            conn.close()

    def reset(self):
        self._control("POST", "reset")

    def requests(self):
        return self._control("GET", "requests")["requests"]

    def stats(self):
        return self._control("GET", "stats")

    def close(self):
        process = self._process
        try:
            process.stdin.close()  # --exit-on-stdin-eof
            process.wait(timeout=10)
        except Exception:  # noqa: BLE001
            process.kill()
            process.wait()
        process.stdout.close()
