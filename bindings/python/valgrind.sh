#!/usr/bin/env bash
# bindings/python/valgrind.sh — the Python binding's call, stream and error tests under valgrind.
#
# CPython itself is not valgrind-clean (its AVX2 string compares read past blocks, its own
# allocator and JSON scanner use uninitialised words), so the run fails only on a valgrind
# error or definite leak whose stack passes through libhumanloop: memory errors of the library
# (or of the binding's use of it) while Python drives it through ctypes.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The real interpreter binary (not a pyenv shim, not a venv's symlink, which valgrind would
# resolve away from its pyvenv.cfg), with the test tools of $PYTHON (default python3) on its path.
python=$("${PYTHON:-python3}" -c 'import os, sys; print(os.path.realpath(sys.executable))')
export PYTHONPATH="$("${PYTHON:-python3}" -c 'import site; print(":".join(site.getsitepackages()))')${PYTHONPATH:+:$PYTHONPATH}"
log=$(mktemp "${TMPDIR:-/tmp}/hl-python-valgrind.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
PYTHONMALLOC=malloc valgrind --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite \
    --num-callers=40 --log-file="$log" \
    "$python" -m pytest -q -p no:cacheprovider \
    bindings/python/tests/test_calls.py bindings/python/tests/test_stream.py bindings/python/tests/test_errors.py \
    || status=$?
# Error records are the runs of "==pid== " lines between blank "==pid== " lines. A record is the
# library's when a libhumanloop frame appears above the point where the library calls into
# Python (a ctypes callback on the engine thread: closure_fcn / _CallPythonObject); below that
# point the library is only the caller of CPython code that has its own valgrind noise.
ours=$(awk '/^==[0-9]+== $/ { if (head ~ /libhumanloop/) print block "\n"; block = ""; head = ""; cut = 0; next }
            /^==[0-9]+== / { block = block $0 "\n"
                             if ($0 ~ /closure_fcn|_CallPythonObject/) cut = 1
                             if (!cut) head = head $0 "\n" }
            END { if (head ~ /libhumanloop/) print block }' "$log" |
       grep -v -E "ERROR SUMMARY|HEAP SUMMARY|LEAK SUMMARY|in use at exit" || true)
if [[ -n "$ours" ]]; then
    echo "valgrind: errors in libhumanloop under Python:"
    echo "$ours" | head -80
    exit 1
fi
if [[ "$status" -ne 0 ]]; then
    echo "valgrind: the Python tests failed (pytest exit status $status)"
    exit "$status"
fi
echo "valgrind: no error or definite leak in libhumanloop under the Python tests"
