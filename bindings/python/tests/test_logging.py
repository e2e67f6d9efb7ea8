"""Logging: the library's lines reach logging.getLogger("humanloop_native")."""

import logging
import subprocess
import sys

from humanloop_native import Humanloop
from hlpy_support import API_KEY, MODEL_CONFIG


def test_info_lines_per_attempt_reach_the_logger(srv, caplog):
    srv.script([{"status": 503, "json": {"detail": "busy"}}])
    with caplog.at_level(logging.INFO, logger="humanloop_native"):
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=1, retry_base_delay=0.01,
                       retry_max_delay=0.02) as client:
            client.complete(model_config=MODEL_CONFIG)
    lines = [r.getMessage() for r in caplog.records if r.name == "humanloop_native"]
    assert any(" info complete POST " in line and "attempt=1 status=503" in line and "-> retry in" in line
               for line in lines), lines
    assert any("attempt=2 status=200" in line for line in lines), lines
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "humanloop_native")
    assert not any(API_KEY in line for line in lines)


def test_debug_lines_show_bodies_without_the_key(srv, caplog):
    with caplog.at_level(logging.DEBUG, logger="humanloop_native"):
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            client.complete(model_config=MODEL_CONFIG, inputs={"q": "llamas"})
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and r.name == "humanloop_native"]
    assert any("request body:" in line and "llamas" in line for line in debug), debug
    assert any('"X-API-KEY":"[redacted]"' in line for line in debug), debug
    assert not any(API_KEY in r.getMessage() for r in caplog.records)


def test_log_level_without_logging_configured_writes_to_stderr(srv):
    code = (
        "from humanloop_native import Humanloop\n"
        f"with Humanloop(api_key={API_KEY!r}, host={srv.base_url!r}, log_level='info') as c:\n"
        f"    c.complete(model_config={MODEL_CONFIG!r})\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "PYTHONPATH": ":".join(sys.path)})
    assert result.returncode == 0, result.stderr
    assert " info complete POST " in result.stderr
    assert API_KEY not in result.stderr + result.stdout


def test_silent_by_default(srv, capfd):
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        client.complete(model_config=MODEL_CONFIG)
    assert "humanloop:" not in capfd.readouterr().err


def test_fork_while_another_thread_logs_does_not_hang(srv):
    """Log callbacks run with no library lock held: fork() (which holds the GIL and takes the
    library's locks) cannot deadlock against a thread that is inside a Python log handler."""
    import os
    import threading
    import time

    class SlowHandler(logging.Handler):
        def emit(self, record):
            time.sleep(0.001)

    handler = SlowHandler()
    logger = logging.getLogger("humanloop_native")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    stop = threading.Event()
    try:
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            def calls():
                while not stop.is_set():
                    client.complete(model_config=MODEL_CONFIG)

            worker = threading.Thread(target=calls)
            worker.start()
            try:
                for _ in range(20):
                    pid = os.fork()
                    if pid == 0:
                        os._exit(0)
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline:
                        done, status = os.waitpid(pid, os.WNOHANG)
                        if done:
                            break
                        time.sleep(0.01)
                    else:
                        os.kill(pid, 9)
                        os.waitpid(pid, 0)
                        raise AssertionError("a child hung after fork() while another thread was logging")
                    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            finally:
                stop.set()
                worker.join(30)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_async_calls_log_on_the_event_loops_thread(srv, caplog):
    """acomplete runs on a loop that the event loop drives on its own thread: its
    lines reach the logger from that thread, never from a thread of the library."""
    import asyncio
    import threading

    srv.script([{"status": 503, "json": {"detail": "busy"}}])
    with caplog.at_level(logging.INFO, logger="humanloop_native"):
        with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=1, retry_base_delay=0.01,
                       retry_max_delay=0.02) as client:
            asyncio.run(client.acomplete(model_config=MODEL_CONFIG))
    records = [r for r in caplog.records if r.name == "humanloop_native"]
    lines = [r.getMessage() for r in records]
    assert any("attempt=1 status=503" in line and "-> retry in" in line for line in lines), lines
    assert any("attempt=2 status=200" in line for line in lines), lines
    assert all(r.thread == threading.main_thread().ident for r in records), [r.threadName for r in records]
    assert not any(API_KEY in line for line in lines)
