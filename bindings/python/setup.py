"""Build hook: bundle libhumanloop.so.0.2 into the wheel.

Everything declarative is in pyproject.toml. This file only
  * copies the shared library into the built package (build_py), taken from $HUMANLOOP_LIB or
    the repository's build/lib/ (run `make` at the repository root first),
  * copies the project's test server, Tests/server/hl_test_server.py (the one source), into the
    built package as humanloop_native/_test_server.py (build_py; taken from
    $HUMANLOOP_TEST_SERVER, the repository, or the copy an sdist carries) and into the sdist
    (humanloop_native.testing runs it), and
  * tags the wheel for the platform (py3-none-<platform>): it carries a native library but no
    Python extension, so any CPython 3 on that platform can use it.
An editable install (pip install -e) bundles nothing: the package then finds the library in
the repository's build/lib/ and the test server in Tests/server/ at import time.
Set HUMANLOOP_BUNDLE=0 to build a pure-Python package that uses the system's libhumanloop
(the test server is carried either way).
"""

import os
import shutil
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py as _build_py
from setuptools.command.sdist import sdist as _sdist

HERE = Path(__file__).resolve().parent
SONAME = "libhumanloop.so.0.2"
TEST_SERVER = "_test_server.py"  # humanloop_native/_test_server.py, a build-time copy


def _bundle_enabled() -> bool:
    return os.environ.get("HUMANLOOP_BUNDLE", "1") not in ("0", "no", "false", "")


def _find_library() -> Path:
    candidates = []
    if os.environ.get("HUMANLOOP_LIB"):
        candidates.append(Path(os.environ["HUMANLOOP_LIB"]))
    candidates.append(HERE.parent.parent / "build" / "lib" / SONAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise SystemExit(
        "humanloop-native: libhumanloop.so.0.2 not found (looked at: "
        + ", ".join(str(c) for c in candidates)
        + "). Run `make` at the repository root, set HUMANLOOP_LIB to the library, "
        "or set HUMANLOOP_BUNDLE=0 to build without bundling it."
    )


def _find_test_server() -> Path:
    """Tests/server/hl_test_server.py: $HUMANLOOP_TEST_SERVER, the repository's, or (building
    from an sdist) the copy the sdist carries."""
    candidates = []
    if os.environ.get("HUMANLOOP_TEST_SERVER"):
        candidates.append(Path(os.environ["HUMANLOOP_TEST_SERVER"]))
    candidates.append(HERE.parent.parent / "Tests" / "server" / "hl_test_server.py")
    candidates.append(HERE / "humanloop_native" / TEST_SERVER)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise SystemExit(
        "humanloop-native: the test server hl_test_server.py not found (looked at: "
        + ", ".join(str(c) for c in candidates)
        + "). Build from the repository, or set HUMANLOOP_TEST_SERVER to Tests/server/hl_test_server.py."
    )


def _copy_test_server(package_dir: Path) -> None:
    source = _find_test_server()
    target = package_dir / TEST_SERVER
    if target.resolve() == source:
        return
    package_dir.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        target.unlink()
    shutil.copyfile(source, target)
    os.chmod(target, 0o644)


class build_py(_build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # humanloop_native.testing loads Tests/server/hl_test_server.py itself
        _copy_test_server(Path(self.build_lib) / "humanloop_native")
        if not _bundle_enabled():
            return
        source = _find_library()
        target_dir = Path(self.build_lib) / "humanloop_native"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / SONAME
        if target.exists():
            target.unlink()
        shutil.copyfile(source, target)
        os.chmod(target, 0o755)


class sdist(_sdist):
    """The sdist carries the test server as humanloop_native/_test_server.py (it is outside this
    directory in the repository), so a wheel built from the sdist has it too."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        _copy_test_server(Path(base_dir) / "humanloop_native")


cmdclass = {"build_py": build_py, "sdist": sdist}

try:  # setuptools >= 70.1 ships bdist_wheel; older ones use the `wheel` package's
    from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:
    try:
        from wheel.bdist_wheel import bdist_wheel as _bdist_wheel
    except ImportError:
        _bdist_wheel = None

if _bdist_wheel is not None:

    class bdist_wheel(_bdist_wheel):
        def get_tag(self):
            python, abi, plat = super().get_tag()
            if _bundle_enabled():
                return "py3", "none", plat
            return python, abi, plat

    cmdclass["bdist_wheel"] = bdist_wheel



class BinaryDistribution(Distribution):
    """A platform distribution (installed to platlib, wheel not pure) when the library is bundled."""

    def has_ext_modules(self):
        return _bundle_enabled()


setup(cmdclass=cmdclass, distclass=BinaryDistribution)
