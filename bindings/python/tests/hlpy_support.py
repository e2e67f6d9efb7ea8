"""Helpers shared by the tests (a unique module name: Tests/server is on sys.path too)."""

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


def event(text, finish_reason=None, index=0, id="data_s"):
    return {"data": [{"id": id, "index": index, "output": text, "finish_reason": finish_reason}]}
