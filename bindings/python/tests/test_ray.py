"""humanloop_native.ray on a local Ray runtime (Ray Data ``map_batches`` with an actor pool),
against the bundled test server; and the optional extra's import behaviour.

The Ray tests are skipped when Ray Data is not importable (``make test-ray`` runs them in
build/venv-ray, which has the pinned ``ray[data]`` of the ``ray`` extra)."""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hl_test_server import OUTPUT, TestServer
from hlpy_support import API_KEY, MODEL_CONFIG

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = ROOT / "bindings" / "python"


def _ray_data_importable():
    try:
        return importlib.util.find_spec("ray") is not None and importlib.util.find_spec("ray.data") is not None
    except (ImportError, ValueError):
        return False


requires_ray = pytest.mark.skipif(
    not _ray_data_importable(),
    reason="Ray Data is not installed here (the optional extra humanloop_native[ray]): "
           "make test-ray runs these tests in build/venv-ray")


def _run(code, **env):
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_DIR), environment.get("PYTHONPATH", "")])
    environment.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env=environment, cwd=str(ROOT))


# -- the extra: never needed by the core package ---------------------------------------------

def test_core_package_does_not_import_ray():
    result = _run("""
        import sys
        import humanloop_native
        humanloop_native.Humanloop(api_key="k").close()
        print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_import_without_ray_names_the_extra():
    # sys.modules["ray"] = None: "import ray" fails as it does where Ray is not installed.
    result = _run("""
        import sys
        sys.modules["ray"] = None
        try:
            import humanloop_native.ray
        except ImportError as exc:
            print("ImportError:", exc)
        else:
            print("imported")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ImportError: "), result.stdout
    assert "pip install 'humanloop_native[ray]'" in result.stdout


def test_extra_pins_ray_data():
    text = (PACKAGE_DIR / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("ray")]
    assert len(lines) == 1, section
    spec = lines[0].split("=", 1)[1].strip()
    assert spec.startswith('["ray[data]==') and spec.endswith('"]'), spec
    core = text.split("[project]", 1)[1].split("\n[", 1)[0]
    assert "dependencies = []" in core  # ray is never a dependency of the core package


# -- the callable class on its own (no Ray runtime) ------------------------------------------

@requires_ray
def test_rows_become_requests_and_failures_are_values(srv):
    import numpy as np

    from humanloop_native.ray import RESULT_COLUMNS, HumanloopCompletions

    # (a 422, not a 429: the batch is rate-aware, and would put a 429's request back in its queue)
    srv.script([{}, {"status": 422, "json": {"detail": "slow down"}}])
    completions = HumanloopCompletions(api_key=API_KEY, host=srv.base_url, include_response=True,
                                       client_options={"max_retries": 0}, concurrency=1)
    good = {"project": "p", "model_config": MODEL_CONFIG, "inputs": {"question": "hi"},
            "metadata": {"row": np.int64(0)}}
    batch = {
        "id": np.arange(5),
        "request": np.array([good, json.dumps({"model_config": MODEL_CONFIG, "project": "p"}), "{not json",
                             {"project": "p"}, {"call": "nope", "project": "p"}], dtype=object),
    }
    out = completions(batch)
    assert list(out["id"]) == [0, 1, 2, 3, 4]  # the input columns stay
    assert set(RESULT_COLUMNS) | {"response"} <= set(out)
    assert list(out["status"]) == ["ok", "error", "error", "error", "error"]
    assert out["output"][0] == OUTPUT and out["output"][1] is None
    assert json.loads(out["response"][0])["metadata"] == {"row": 0}  # numpy values sent as JSON
    assert list(out["http_status"]) == [200, 422, 0, 0, 0]
    assert list(out["error_type"]) == [None, "UnprocessableEntityError", "JSONDecodeError", "TypeError", "TypeError"]
    assert out["error"][0] is None and "slow down" in out["error"][1]
    assert "model_config" in out["error"][3] and "nope" in out["error"][4]
    assert len(srv.requests()) == 2  # the rows whose request could not be built are never sent


@requires_ray
def test_build_request_and_other_batch_formats(srv):
    import pandas as pd
    import pyarrow as pa

    from humanloop_native.ray import HumanloopCompletions

    def build(row):
        return {"project": "p", "model_config": MODEL_CONFIG, "inputs": {"question": row["q"]}}

    completions = HumanloopCompletions(api_key=API_KEY, host=srv.base_url, build_request=build,
                                       client_options={"max_retries": 0})
    frame = completions(pd.DataFrame({"q": ["a", "b"]}))
    assert list(frame.columns[:1]) == ["q"] and list(frame["status"]) == ["ok", "ok"]
    table = completions(pa.table({"q": ["c"], "status": ["stale"]}))
    assert table.column("status").to_pylist() == ["ok"]  # a result column replaces the input's
    assert table.column("http_status").type == pa.int64()
    bodies = [json.loads(r["body"]) for r in srv.requests()]
    assert [b["inputs"]["question"] for b in bodies] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="unknown call"):
        HumanloopCompletions(api_key=API_KEY, host=srv.base_url, call="complete_everything")


# -- on a local Ray runtime --------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_runtime():
    if not _ray_data_importable():
        pytest.skip("Ray Data is not installed here (make test-ray)")
    import ray
    import ray.data

    # A short private temp dir: Ray's unix sockets live there (a path has at most 107 bytes).
    temp_dir = tempfile.mkdtemp(prefix="hlray-")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # The workers import the package from this checkout (and find build/lib from it).
    pythonpath = os.pathsep.join(p for p in (str(PACKAGE_DIR), os.environ.get("PYTHONPATH", "")) if p)
    env_vars = {"PYTHONPATH": pythonpath, "RAY_USAGE_STATS_ENABLED": "0"}
    if os.environ.get("HUMANLOOP_LIB"):
        env_vars["HUMANLOOP_LIB"] = os.environ["HUMANLOOP_LIB"]
    # address="local": always a new local runtime, never a cluster found on the machine.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             ignore_reinit_error=True, _temp_dir=temp_dir, runtime_env={"env_vars": env_vars})
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


ROWS = 2000


@requires_ray
@pytest.mark.filterwarnings("ignore:`ray_remote_args` is deprecated")  # Ray 2.60: max_restarts & co.
def test_2000_rows_on_2_actors_survive_a_killed_actor(ray_runtime):
    """2,000 rows through map_batches on a pool of 2 actors; one actor process is killed
    (SIGKILL, by its PID) while it is in the middle of a block. The pool restarts it
    (max_restarts) and its block runs again (max_task_retries): every input row has exactly one
    result row, and all are ok."""
    import ray.data

    from humanloop_native.ray import HumanloopCompletions

    def build_request(row):  # runs in the actor: its PID goes to the server with the request
        import os as actor_os
        return {"project": "ray-test", "model_config": {"model": "m", "prompt_template": "{{q}}"},
                "inputs": {"q": "row %d" % row["id"]},
                "metadata": {"row": int(row["id"]), "pid": actor_os.getpid()}}

    with TestServer() as srv:
        # Every first-time call takes 50 ms at the server: a block of 100 rows at 8 calls in
        # flight takes about 0.7 s, so the actor is killed inside one (resent calls answer at once).
        srv.script([{"delay": 0.05}] * ROWS)
        killed = {}

        def killer():
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if srv.stats()["requests"] >= 600:
                    records = srv.requests()
                    last = json.loads(records[-1]["body"])["metadata"]
                    killed["pid"] = last["pid"]
                    killed["at"] = len(records)
                    killed["pids_before"] = sorted({json.loads(r["body"])["metadata"]["pid"] for r in records})
                    os.kill(last["pid"], signal.SIGKILL)
                    return
                time.sleep(0.02)

        ds = ray.data.from_items([{"id": i} for i in range(ROWS)], override_num_blocks=20)
        out = ds.map_batches(
            HumanloopCompletions,
            fn_constructor_kwargs={"api_key": API_KEY, "host": srv.base_url, "concurrency": 8,
                                   "build_request": build_request, "include_response": True},
            compute=ray.data.ActorPoolStrategy(size=2),  # 2 actors
            batch_size=100,
            num_cpus=0.5,
            max_restarts=2,
            max_task_retries=3,
        )
        thread = threading.Thread(target=killer, daemon=True)
        started = time.monotonic()
        thread.start()
        rows = out.take_all()
        elapsed = time.monotonic() - started
        thread.join(5)
        records = srv.requests()

    assert "pid" in killed, "the run ended before an actor could be killed"
    assert killed["at"] < ROWS, killed  # mid-run
    assert len(killed["pids_before"]) == 2, killed  # both actors were sending
    assert len(rows) == ROWS
    ids = sorted(row["id"] for row in rows)
    assert ids == list(range(ROWS))  # every input row once
    failed = [row for row in rows if row["status"] != "ok"]
    assert not failed, failed[:3]
    for row in rows:
        assert row["output"] == OUTPUT and row["http_status"] == 200 and row["error"] is None
        assert json.loads(row["response"])["metadata"]["row"] == row["id"]  # its own answer
    sent = [json.loads(r["body"])["metadata"] for r in records]
    pids = {m["pid"] for m in sent}
    assert killed["pid"] in pids and len(pids) >= 3, pids  # the killed actor, its peer, the restarted one
    assert {m["row"] for m in sent} == set(range(ROWS))
    # The killed actor's block was run again: the calls it had sent before it died reached the
    # server twice, every other row's once. An actor runs one block (100 rows) at a time.
    resent = len(records) - ROWS
    assert 0 < resent <= 100, resent
    print(f"\n{ROWS} rows on 2 actors, one killed after {killed['at']} requests: {elapsed:.1f} s, "
          f"{resent} calls sent again")


@requires_ray
def test_map_completions_failed_rows_are_values(ray_runtime, srv):
    import ray.data

    from humanloop_native.ray import map_completions

    requests = [json.dumps({"project": "p", "model_config": MODEL_CONFIG, "inputs": {"question": str(i)}})
                for i in range(30)]
    requests[7] = "not json"
    requests[11] = json.dumps({"project": "p"})  # no model_config
    ds = ray.data.from_items([{"id": i, "request": r} for i, r in enumerate(requests)], override_num_blocks=3)
    rows = map_completions(ds, actors=1, batch_size=10, api_key=API_KEY, host=srv.base_url,
                           client_options={"max_retries": 0}).take_all()
    by_id = {row["id"]: row for row in rows}
    assert sorted(by_id) == list(range(30))
    assert [i for i, row in sorted(by_id.items()) if row["status"] == "error"] == [7, 11]
    assert by_id[7]["error_type"] == "JSONDecodeError" and by_id[11]["error_type"] == "TypeError"
    assert by_id[0]["output"] == OUTPUT and by_id[0]["request"] == requests[0]
    assert len(srv.requests()) == 28
