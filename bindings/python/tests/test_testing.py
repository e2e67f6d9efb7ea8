"""humanloop_native.testing: the test server for users (python -m, TestServer, the pytest fixture
humanloop_server), from the source tree and from a package built through an sdist."""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

import humanloop_native
import humanloop_native.testing as hl_testing
from hlpy_support import API_KEY

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = ROOT / "bindings" / "python"
SERVER = ROOT / "Tests" / "server" / "hl_test_server.py"
REPO_LIB = ROOT / "build" / "lib" / "libhumanloop.so.0.2"

# A user's test module: the fixture, a blocking call and a stream through humanloop_native.
USER_TESTS = textwrap.dedent('''
    import sys
    import humanloop_native
    import humanloop_native.testing

    MODEL_CONFIG = {"model": "m", "prompt_template": "{{q}}"}

    def test_call_and_stream(humanloop_server):
        assert humanloop_server.base_url.startswith("http://127.0.0.1:")
        assert humanloop_server.base_url.endswith("/v4")
        humanloop_server.script([{"json": {"data": [{"id": "d", "index": 0, "output": "scripted"}]}}])
        with humanloop_native.Humanloop(api_key="k-123", host=humanloop_server.base_url,
                                        max_retries=0) as client:
            response = client.complete(project="p", model_config=MODEL_CONFIG, inputs={"q": "hi"})
            assert response.status == 200
            assert response.body["data"][0]["output"] == "scripted"
            events = list(client.complete_stream(project="p", model_config=MODEL_CONFIG))
        assert len(events) == 4
        requests = humanloop_server.requests()
        assert [r["path"] for r in requests] == ["/v4/completion", "/v4/completion"]
        assert '"stream":true' in requests[1]["body"]

    def test_reset_between_tests(humanloop_server):
        assert humanloop_server.requests() == []
        assert humanloop_server.stats()["requests"] == 0
        assert humanloop_server.script([{"status": 503}]) == 1

    def test_where_things_come_from(humanloop_server):
        print("\\nSERVER_PATH=" + humanloop_native.testing.SERVER_PATH)
        print("LIBRARY_PATH=" + humanloop_native.LIBRARY_PATH)
        print("PREFIX=" + sys.prefix)
''')


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HUMANLOOP_LIB", "PYTHONPATH", "LD_LIBRARY_PATH", "HUMANLOOP_BUNDLE",
                        "HUMANLOOP_TEST_SERVER", "PYTEST_ADDOPTS", "PYTEST_PLUGINS",
                        "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    env.update(extra)
    return env


def start_module_server(python, cwd, env):
    """`python -m humanloop_native.testing --port 0 --exit-on-stdin-eof` -> (process, port)."""
    proc = subprocess.Popen([python, "-m", "humanloop_native.testing", "--port", "0", "--exit-on-stdin-eof"],
                            cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT="):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"no PORT= line: {line!r} {err}")
    return proc, int(line.strip().split("=", 1)[1])


def post_completion(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/v4/completion", body=json.dumps({"model_config": {"model": "m"}}),
                     headers={"Content-Type": "application/json", "X-API-KEY": API_KEY})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def stop_module_server(proc):
    proc.stdin.close()  # --exit-on-stdin-eof
    assert proc.wait(timeout=10) == 0
    rest = proc.stdout.read()
    proc.stdout.close()
    proc.stderr.close()
    return rest


def test_python_m_testing_runs_the_server(tmp_path):
    env = clean_env(PYTHONPATH=str(PACKAGE_DIR))
    proc, port = start_module_server(sys.executable, tmp_path, env)
    try:
        status, body = post_completion(port)
    except BaseException:
        proc.kill()
        raise
    assert status == 200
    assert body["data"][0]["output"] == "Hello from the test server"
    assert body["provider_responses"][0]["model"] == "m"
    assert stop_module_server(proc) == ""  # nothing but the PORT= line on stdout


def test_python_m_testing_has_the_servers_options(tmp_path):
    result = subprocess.run([sys.executable, "-m", "humanloop_native.testing", "--help"], cwd=tmp_path,
                            env=clean_env(PYTHONPATH=str(PACKAGE_DIR)), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m humanloop_native.testing")
    for option in ("--port", "--exit-on-stdin-eof", "--verbose", "--tls-cert", "--tls-key"):
        assert option in result.stdout


def test_source_checkout_loads_tests_server():
    """No copy in the source tree: from the repository the server is Tests/server's file."""
    assert not (PACKAGE_DIR / "humanloop_native" / "_test_server.py").exists()
    assert Path(hl_testing.SERVER_PATH) == SERVER.resolve()
    assert hl_testing.TestServer.__test__ is False


def test_test_server_in_process():
    with hl_testing.TestServer() as srv:
        srv.script([{"status": 422, "json": {"detail": [{"loc": ["body"], "msg": "bad"}]}}])
        with humanloop_native.Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
            with pytest.raises(humanloop_native.ApiException) as info:
                client.complete(model_config={"model": "m", "prompt_template": "p"})
            assert info.value.status == 422
            assert client.complete(model_config={"model": "m", "prompt_template": "p"}).status == 200
        assert len(srv.requests()) == 2


def test_without_pytest_nothing_breaks(tmp_path):
    code = ("import sys\nsys.modules['pytest'] = None  # import pytest -> ImportError\n"
            "import humanloop_native.testing as t\nfrom humanloop_native.testing import *\n"
            "assert not hasattr(t, 'humanloop_server')\n"
            "with TestServer() as srv: print(srv.base_url)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=clean_env(PYTHONPATH=str(PACKAGE_DIR)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("http://127.0.0.1:")


def _plugin_by_hand(monkeypatch):
    """The package from the source tree, its plugin named with -p (no entry point autoloading: a
    humanloop_native.egg-info left in bindings/python by a build would register it twice)."""
    monkeypatch.setenv("PYTHONPATH", str(PACKAGE_DIR))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_fixture_in_a_pytest_run(pytester, monkeypatch):
    _plugin_by_hand(monkeypatch)
    for name in ("HUMANLOOP_LIB", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "humanloop_native.testing", "-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["SERVER_PATH=" + str(SERVER.resolve())])


def test_fixture_listed_by_pytest_fixtures(pytester, monkeypatch):
    _plugin_by_hand(monkeypatch)
    pytester.makepyfile(test_x="def test_x(): pass\n")
    result = pytester.runpytest_subprocess("-p", "humanloop_native.testing", "--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["humanloop_server*", "*A started Humanloop-compatible test server*"])


@pytest.mark.wheel
def test_sdist_and_wheel_carry_the_server_and_the_plugin(tmp_path):
    """sdist (built outside the repository, HUMANLOOP_TEST_SERVER) -> wheel built from it ->
    installed in a fresh venv: the package carries the server, the pytest11 entry point makes the
    fixture available without -p, python -m humanloop_native.testing answers."""
    if not REPO_LIB.is_file():
        pytest.skip("build/lib/libhumanloop.so.0.2 is missing: run make")
    if not shutil.which("tar"):
        pytest.skip("tar is needed")
    source = tmp_path / "src"
    shutil.copytree(PACKAGE_DIR, source, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", "*.so*", ".pytest_cache", "tests"))
    sdist = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path / "sdist")], cwd=source,
                           env=clean_env(HUMANLOOP_TEST_SERVER=str(SERVER)), capture_output=True, text=True,
                           timeout=300)
    assert sdist.returncode == 0, sdist.stdout + sdist.stderr
    (archive,) = (tmp_path / "sdist").glob("humanloop*native-*.tar.gz")
    with tarfile.open(archive) as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
        assert "humanloop_native/_test_server.py" in members
        assert "humanloop_native/testing.py" in members
        assert tar.extractfile(members["humanloop_native/_test_server.py"]).read() == SERVER.read_bytes()
        tar.extractall(tmp_path / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (unpacked,) = (tmp_path / "unpacked").iterdir()

    # A wheel from the sdist, far from the repository (the library from HUMANLOOP_LIB).
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(unpacked)], cwd=tmp_path,
                           env=clean_env(HUMANLOOP_LIB=str(REPO_LIB)), capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("humanloop_native-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "humanloop_native/libhumanloop.so.0.2" in names
        assert "humanloop_native/testing.py" in names
        assert zf.read("humanloop_native/_test_server.py") == SERVER.read_bytes()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = zf.read(entry_points).decode()
        assert "[pytest11]" in text and "humanloop_native = humanloop_native.testing" in text

    venv_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv_dir)], check=True, timeout=120)
    python = str(venv_dir / "bin" / "python")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
                              "-q", str(wheel)], env=clean_env(), capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    # pytest for the venv: this interpreter's site-packages, after the venv's own.
    site = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    outer = [p for p in sys.path if p.endswith("site-packages") and (Path(p) / "pytest").is_dir()]
    assert outer, sys.path
    Path(site, "outer-pytest.pth").write_text(outer[0] + "\n")

    work = tmp_path / "user"
    work.mkdir()
    (work / "test_user.py").write_text(USER_TESTS)
    env = clean_env()
    run = subprocess.run([python, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_user.py"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
    paths = dict(line.split("=", 1) for line in run.stdout.splitlines()
                 if line.startswith(("SERVER_PATH=", "LIBRARY_PATH=", "PREFIX=")))
    assert paths["SERVER_PATH"].startswith(paths["PREFIX"]), paths
    assert paths["SERVER_PATH"].endswith("humanloop_native/_test_server.py"), paths
    assert paths["LIBRARY_PATH"].startswith(paths["PREFIX"]), paths

    proc, port = start_module_server(python, work, env)
    try:
        status, body = post_completion(port)
    except BaseException:
        proc.kill()
        raise
    assert status == 200 and body["data"][0]["output"] == "Hello from the test server"
    stop_module_server(proc)
