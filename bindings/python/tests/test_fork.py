"""A client used after fork(): every process gets its own answers.

A client that has made a call holds pooled keep-alive connections; a forked child inherits
their sockets. The library must never let two processes share one connection: the child opens
connections of its own, the parent keeps (and reuses) its connection during and after the
children. Without a scripted response the test server echoes the request's ``inputs`` in
``body["data"][0]["inputs"]``, so every call sends a value unique to its process and call and
checks that the echo is its own.

Children report through their exit status (0: every answer was their own; 1: an error; 2: an
answer that was another call's; 3: anything else) and write their first problem to a file; the
parent waits for them with a deadline and SIGKILLs those that hang (a hang is a failure).
"""

import json
import multiprocessing
import os
import signal
import time

import pytest

from humanloop_native import HumanloopError, Humanloop
from hlpy_support import API_KEY

CHILDREN = 8
CHILD_CALLS = 5
PARENT_CALLS = 10
POOL_PROCESSES = 4
POOL_ITEMS = 20
CALL_TIMEOUT = 10.0         # the client's per-call timeout: a call that gets no answer fails
CHILD_DEADLINE = 30.0       # seconds for all the children to finish, from the first fork
MODEL_CONFIG = {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{q}}"}

# Python >= 3.12 warns that fork() in a multi-threaded process (the in-process test server runs
# threads) may deadlock; these tests fork on purpose and the children only use the client.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def own_call(client, tag):
    """One call with inputs {"q": tag}: None when the answer is this call's own, else a
    description of what came back."""
    try:
        response = client.complete(model_config=MODEL_CONFIG, inputs={"q": tag})
    except HumanloopError as exc:
        return f"call {tag}: error {type(exc).__name__}: {exc}"
    try:
        echo = response.body["data"][0]["inputs"]
    except (KeyError, IndexError, TypeError):
        return f"call {tag}: unexpected body {response.body!r}"
    if echo != {"q": tag}:
        return f"call {tag}: got ANOTHER call's answer (echo {echo!r})"
    return None


def exit_code(problem):
    if problem is None:
        return 0
    return 2 if "ANOTHER" in problem else 1


def child_main(client, calls, report):
    """The body of a forked child: never returns (os._exit), whatever happens."""
    status = 3
    try:
        pid = os.getpid()
        problem = None
        for k in range(calls):
            problem = own_call(client, f"pid-{pid}-call-{k}")
            if problem:
                break
        if problem is None:
            client.close()      # hl_client_free in the child: must not disturb the parent
        else:
            report.write_text(problem)
        status = exit_code(problem)
    except BaseException as exc:  # noqa: BLE001 - everything must end in os._exit
        try:
            report.write_text(f"exception in the child: {exc!r}")
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(status)


def wait_children(pids, seconds):
    """{pid: exit code, or "HUNG"} after waiting at most `seconds`; the ones still running
    then are killed (SIGKILL, by pid) and reaped."""
    deadline = time.monotonic() + seconds
    pending = set(pids)
    results = {}
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                results[pid] = os.waitstatus_to_exitcode(status)
                pending.discard(pid)
        time.sleep(0.01)
    for pid in pending:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        results[pid] = "HUNG (killed)"
    return results


def check_records(server, expected, parent_pid):
    """Every request arrived once; no connection carried requests of two processes; returns
    the number of connections the parent used."""
    records = server.requests()
    assert len(records) == expected, f"the server recorded {len(records)} requests, expected {expected}"
    owners = {}
    tags = []
    for record in records:
        tag = json.loads(record["body"])["inputs"]["q"]
        tags.append(tag)
        pid = int(tag.split("-")[1])
        owners.setdefault(record["connection"], set()).add(pid)
    assert len(set(tags)) == len(tags), "a request arrived twice"
    shared = {conn: pids for conn, pids in owners.items() if len(pids) > 1}
    assert not shared, f"connections used by more than one process: {shared}"
    return sum(1 for pids in owners.values() if parent_pid in pids)


def opened(server):
    return server.stats()["connections_opened"]


def fork_children_while_parent_calls(server, tmp_path, ca_bundle=None):
    server.reset()
    extra = {"ca_bundle": ca_bundle} if ca_bundle else {}
    client = Humanloop(api_key=API_KEY, host=server.base_url, max_retries=0, timeout=CALL_TIMEOUT, **extra)
    me = os.getpid()
    k = 0
    pids = {}
    results = None
    try:
        problem = own_call(client, f"pid-{me}-call-{k}")
        assert problem is None, f"the parent, before fork: {problem}"
        k += 1
        for i in range(CHILDREN):
            report = tmp_path / f"child-{i}.txt"
            pid = os.fork()
            if pid == 0:
                child_main(client, CHILD_CALLS, report)    # never returns
            pids[pid] = report
        parent_problems = []
        for _ in range(PARENT_CALLS):
            problem = own_call(client, f"pid-{me}-call-{k}")
            k += 1
            if problem:
                parent_problems.append(problem)
                break
        results = wait_children(pids, CHILD_DEADLINE)
        failures = {pid: (code, report.read_text() if report.exists() else "")
                    for pid, report in pids.items() for code in [results[pid]] if code != 0}
        assert not failures, f"children that failed (exit code, first problem): {failures}"
        assert not parent_problems, f"the parent, while the children ran: {parent_problems}"

        before = opened(server)
        problem = own_call(client, f"pid-{me}-call-{k}")
        assert problem is None, f"the parent, after the children: {problem}"
        k += 1
        assert opened(server) == before, "the parent's call after the children reused its connection"
        parent_connections = check_records(server, k + CHILDREN * CHILD_CALLS, me)
        assert parent_connections == 1, "the parent's sequential calls stayed on its one connection"
    finally:
        if pids and results is None:
            wait_children(pids, CHILD_DEADLINE)    # an unexpected exception: still reap (or kill) them
        client.close()


def test_os_fork_children_get_their_own_answers(srv, tmp_path):
    fork_children_while_parent_calls(srv, tmp_path)


# -- multiprocessing, "fork" start method ------------------------------------------------------

_pool_client = None


def _pool_work(i):
    pid = os.getpid()
    return pid, i, own_call(_pool_client, f"pid-{pid}-item-{i}")


def pool_of_forked_workers(server, ca_bundle=None):
    global _pool_client
    server.reset()
    extra = {"ca_bundle": ca_bundle} if ca_bundle else {}
    client = Humanloop(api_key=API_KEY, host=server.base_url, max_retries=0, timeout=CALL_TIMEOUT, **extra)
    me = os.getpid()
    _pool_client = client
    pool = None
    try:
        problem = own_call(client, f"pid-{me}-call-0")
        assert problem is None, f"the parent, before fork: {problem}"
        pool = multiprocessing.get_context("fork").Pool(POOL_PROCESSES)
        pending = pool.map_async(_pool_work, range(POOL_ITEMS), chunksize=1)
        parent_problems = []
        for k in range(1, PARENT_CALLS + 1):
            problem = own_call(client, f"pid-{me}-call-{k}")
            if problem:
                parent_problems.append(problem)
                break
        try:
            results = pending.get(timeout=CHILD_DEADLINE)
        except multiprocessing.TimeoutError:
            pytest.fail(f"the pool's {POOL_ITEMS} calls did not finish within {CHILD_DEADLINE}s (hung)")
        problems = [(pid, i, problem) for pid, i, problem in results if problem]
        assert not problems, f"pool calls that got an error or another call's answer: {problems[:6]}"
        assert sorted(i for _, i, _ in results) == list(range(POOL_ITEMS))
        assert not parent_problems, f"the parent, while the pool worked: {parent_problems}"
        pool.close()
        pool.join()
        pool = None

        before = opened(server)
        problem = own_call(client, f"pid-{me}-call-{PARENT_CALLS + 1}")
        assert problem is None, f"the parent, after the pool: {problem}"
        assert opened(server) == before, "the parent's call after the pool reused its connection"
        parent_connections = check_records(server, 1 + PARENT_CALLS + 1 + POOL_ITEMS, me)
        assert parent_connections == 1, "the parent's sequential calls stayed on its one connection"
    finally:
        if pool is not None:
            pool.terminate()    # SIGTERM to the workers (they may hang in a call)
            pool.join()
        _pool_client = None
        client.close()


def test_multiprocessing_fork_pool(srv):
    pool_of_forked_workers(srv)


# -- over https (the TLS test server in a process of its own: see hlpy_support.ServerProcess) --

def test_os_fork_children_get_their_own_answers_https(tls_server_process, tmp_path):
    """Also: no child may send a TLS record (data or close_notify, e.g. when it frees the
    client) on the parent's connection, or the parent's session breaks; the parent's call after
    the children must succeed on the same connection."""
    fork_children_while_parent_calls(tls_server_process, tmp_path, ca_bundle=tls_server_process.ca_bundle)


def test_multiprocessing_fork_pool_https(tls_server_process):
    pool_of_forked_workers(tls_server_process, ca_bundle=tls_server_process.ca_bundle)


def test_fork_while_another_thread_is_inside_a_call(srv, tmp_path):
    """A thread is inside a call (its answer is delayed) when the main thread forks: the
    children do not deadlock on a lock that thread held, make calls of their own and get their
    own answers; the thread gets its answer in the parent."""
    import threading

    srv.reset()
    srv.script([{"delay": 1.0}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, timeout=CALL_TIMEOUT) as client:
        assert own_call(client, f"pid-{os.getpid()}-warm") is None
        srv.reset()
        srv.script([{"delay": 1.0}])
        outcome = {}

        def in_flight():
            outcome["problem"] = own_call(client, f"pid-{os.getpid()}-thread")

        thread = threading.Thread(target=in_flight)
        thread.start()
        deadline = time.monotonic() + 5
        while not srv.requests() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.requests(), "the thread's request did not reach the server"
        pids = []
        for index in range(CHILDREN):
            pid = os.fork()
            if pid == 0:
                child_main(client, 3, tmp_path / f"child-{index}.txt")
            pids.append(pid)
        results = wait_children(pids, CHILD_DEADLINE)
        thread.join(CALL_TIMEOUT + 5)
        problems = {pid: code for pid, code in results.items() if code != 0}
        reports = [p.read_text() for p in tmp_path.glob("child-*.txt")]
        assert not problems, f"children failed: {problems} {reports}"
        assert outcome.get("problem") is None, outcome
