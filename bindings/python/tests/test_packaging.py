"""Finding the library, and the wheel: built, installed in a fresh venv, used."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import humanloop_native
from hlpy_support import API_KEY

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = ROOT / "bindings" / "python"
REPO_LIB = ROOT / "build" / "lib" / "libhumanloop.so.0.2"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HUMANLOOP_LIB", "PYTHONPATH", "LD_LIBRARY_PATH", "HUMANLOOP_BUNDLE")}
    env.update(extra)
    return env


def run_python(code, cwd, env, python=sys.executable):
    return subprocess.run([python, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def copy_package(tmp_path):
    target = tmp_path / "site" / "humanloop_native"
    shutil.copytree(PACKAGE_DIR / "humanloop_native", target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
    return target


def test_repository_build_found_when_not_installed():
    if os.environ.get("HUMANLOOP_LIB"):
        pytest.skip("HUMANLOOP_LIB is set")
    assert Path(humanloop_native.LIBRARY_PATH) == REPO_LIB


def test_import_error_names_every_place(tmp_path):
    copy_package(tmp_path)
    result = run_python("import humanloop_native", cwd=tmp_path / "site",
                        env=clean_env(HUMANLOOP_LIB=str(tmp_path / "missing.so")))
    assert result.returncode != 0
    message = result.stderr
    assert "ImportError" in message
    assert "$HUMANLOOP_LIB: " + str(tmp_path / "missing.so") in message
    assert str(tmp_path / "site" / "humanloop_native" / "libhumanloop.so.0.2") in message
    assert "repository build" in message
    assert "system (dynamic loader): libhumanloop.so.0.2" in message
    assert "find_library" in message
    assert "make" in message


def test_search_order(tmp_path):
    package = copy_package(tmp_path)
    own = tmp_path / "custom" / "libhumanloop-custom.so"
    own.parent.mkdir()
    own.symlink_to(REPO_LIB)
    (package / "libhumanloop.so.0.2").symlink_to(REPO_LIB)
    code = "import humanloop_native as h; print(h.LIBRARY_PATH); print(h.lib_version())"
    # 1. HUMANLOOP_LIB wins over the bundled copy
    result = run_python(code, cwd=tmp_path / "site", env=clean_env(HUMANLOOP_LIB=str(own)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(own), "0.2.0"]
    # 2. then the copy inside the package
    result = run_python(code, cwd=tmp_path / "site", env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == str(package / "libhumanloop.so.0.2")
    # an unusable HUMANLOOP_LIB falls through, with a warning
    result = run_python(code, cwd=tmp_path / "site", env=clean_env(HUMANLOOP_LIB="/nonexistent.so"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == str(package / "libhumanloop.so.0.2")
    assert "HUMANLOOP_LIB could not be used" in result.stderr
    # 4. the system, through the dynamic loader
    (package / "libhumanloop.so.0.2").unlink()
    libdir = tmp_path / "libdir"
    libdir.mkdir()
    (libdir / "libhumanloop.so.0.2").symlink_to(REPO_LIB)
    result = run_python(code, cwd=tmp_path / "site", env=clean_env(LD_LIBRARY_PATH=str(libdir)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["libhumanloop.so.0.2", "0.2.0"]


def _pip_available():
    return importlib.util.find_spec("pip") is not None and importlib.util.find_spec("venv") is not None


def _can_build_without_isolation():
    """setuptools >= 77 (pyproject.toml's SPDX license) plus a bdist_wheel in this interpreter
    (checked in a subprocess: importing setuptools inside pytest would disturb distutils)."""
    check = ("import setuptools, sys\n"
             "v = tuple(int(x) for x in setuptools.__version__.split('.')[:2])\n"
             "try:\n    import setuptools.command.bdist_wheel\n"
             "except ImportError:\n    import wheel.bdist_wheel\n"
             "sys.exit(0 if v >= (77, 0) else 1)\n")
    return subprocess.run([sys.executable, "-c", check], capture_output=True, timeout=60).returncode == 0


@pytest.mark.wheel
@pytest.mark.skipif(not _pip_available(), reason="pip or venv is not available")
def test_wheel_bundles_library_and_works_in_a_fresh_venv(tmp_path, srv):
    if not REPO_LIB.is_file():
        pytest.skip("build/lib/libhumanloop.so.0.2 is missing: run make")
    dist = tmp_path / "dist"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(PACKAGE_DIR)]
    if _can_build_without_isolation():
        command.insert(4, "--no-build-isolation")
    build = subprocess.run(command, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300)
    if build.returncode != 0 and ("No matching distribution" in build.stderr
                                  or "Could not find a version" in build.stderr):
        pytest.skip("cannot fetch the build requirements (setuptools) for an isolated build")
    assert build.returncode == 0, build.stdout + build.stderr
    wheels = list(dist.glob("humanloop_native-*.whl"))
    assert len(wheels) == 1, wheels
    wheel = wheels[0]
    assert wheel.name.endswith("-py3-none-linux_x86_64.whl") or "-py3-none-" in wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "humanloop_native/libhumanloop.so.0.2" in names
        assert "humanloop_native/py.typed" in names
        assert "humanloop_native/__init__.py" in names
        assert archive.getinfo("humanloop_native/libhumanloop.so.0.2").file_size == REPO_LIB.stat().st_size
        # the test server (humanloop_native.testing), copied from Tests/server at build time
        assert "humanloop_native/testing.py" in names
        assert archive.read("humanloop_native/_test_server.py") == (ROOT / "Tests" / "server" / "hl_test_server.py").read_bytes()

    venv_dir = tmp_path / "venv"
    venv = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv_dir)],
                          capture_output=True, text=True, timeout=120)
    if venv.returncode != 0:
        pytest.skip("cannot create a venv: " + venv.stderr.strip()[-200:])
    python = venv_dir / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        env=clean_env(), capture_output=True, text=True, timeout=120)
    if install.returncode != 0 and "no such option: --python" in install.stderr:  # pip < 22.3
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv_dir)], check=True, timeout=120)
        install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                                 env=clean_env(), capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr

    code = f"""
        import json, sys
        import humanloop_native
        from humanloop_native import Humanloop, ApiException
        assert humanloop_native.__file__.startswith(sys.prefix), humanloop_native.__file__
        with Humanloop(api_key={API_KEY!r}, host={srv.base_url!r}) as client:
            r = client.complete(model_config={{"model": "m", "prompt_template": "p", "temperature": 0.7}})
            events = list(client.complete_deployed_stream(project="p"))
        print(json.dumps({{"lib": humanloop_native.LIBRARY_PATH, "prefix": sys.prefix,
                          "output": r.body["data"][0]["output"], "events": len(events)}}))
    """
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    result = run_python(code, cwd=empty, env=clean_env(), python=str(python))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["lib"].startswith(report["prefix"]) and report["lib"].endswith("humanloop_native/libhumanloop.so.0.2")
    assert report["output"] == "Hello from the test server"
    assert report["events"] == 4
    assert '"temperature":0.7' in srv.requests()[0]["body"]
