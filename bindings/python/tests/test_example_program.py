"""examples/complete.py runs as documented against the test server (so the example cannot rot)."""

import os
import subprocess
import sys

from conftest import PACKAGE_DIR, ROOT
from hlpy_support import API_KEY


def test_examples_complete_py(srv):
    env = dict(os.environ, HUMANLOOP_API_KEY=API_KEY, HUMANLOOP_HOST=srv.base_url,
               PYTHONPATH=str(PACKAGE_DIR))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "complete.py")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "200 Hello from the test server",
        "Llamas are friendly and curious; here is the data: they like people.",
    ]
    paths = [record["path"] for record in srv.requests()]
    assert paths == ["/v4/completion", "/v4/completion"]
