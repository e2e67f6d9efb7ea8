"""Running out of file descriptors: the connection cap never exceeds what the
process can open (derived from the soft RLIMIT_NOFILE), a call that finds no free descriptor
waits for one with its timeout running, and a call that still finds none says "too many open
files" and names the limit. Each scenario runs in a process of its own, which lowers its own
limit after the test server (in this process) is up."""

import json
import os
import subprocess
import sys
import textwrap

PRELUDE = textwrap.dedent("""
    import asyncio, json, os, resource, sys, time
    from humanloop_native import Humanloop
    BASE_URL, LIMIT = sys.argv[1], int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    MC = {"model": "m", "prompt_template": "{{q}}"}

    def exhaust(leave):
        held = []
        try:
            while True:
                held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            pass
        for fd in held[len(held) - leave:]:
            os.close(fd)
        return held[:len(held) - leave]
""")


def run(srv, limit, body, timeout=120):
    code = PRELUDE + textwrap.dedent(body)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", code, srv.base_url, str(limit)], capture_output=True,
                            text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_thousand_concurrent_calls_under_a_limit_of_256_all_succeed(srv):
    srv.script([{"delay": 0.3}] * 1000)
    outcome = run(srv, 256, """
        with Humanloop(api_key="k", host=BASE_URL, max_retries=0, max_connections=3000) as client:
            async def main():
                return await asyncio.gather(*[client.acomplete(model_config=MC) for _ in range(1000)],
                                            return_exceptions=True)
            results = asyncio.run(main())
            errors = [str(r) for r in results if isinstance(r, Exception)]
            print(json.dumps({"errors": len(errors), "first": errors[:1], "info": client.client_info(), "max": client.max_connections}))
    """)
    assert outcome["errors"] == 0, outcome
    info = outcome["info"]
    assert info["max_connections"] == 3000 and info["open_file_limit"] == 256
    assert info["engine_max_connections"] == 256 - 64 - 5 == outcome["max"]
    assert info["blocking_max_connections"] == (256 - 64) // 6
    assert max(srv.stats()["connections_opened"], 0) <= info["engine_max_connections"]


def test_a_call_without_a_free_descriptor_waits_for_one(srv):
    srv.script([{"delay": 0.2}] * 10)
    outcome = run(srv, 64, """
        with Humanloop(api_key="k", host=BASE_URL, max_retries=0, timeout=5) as client:
            client.complete(model_config=MC)  # the engine's and the pool's own descriptors exist now
            async def main():
                held = exhaust(0)
                asyncio.get_running_loop().call_later(0.5, lambda: [os.close(fd) for fd in held])
                return await asyncio.gather(*[client.acomplete(model_config=MC) for _ in range(9)],
                                            return_exceptions=True)
            results = asyncio.run(main())
            print(json.dumps({"errors": [str(r) for r in results if isinstance(r, Exception)]}))
    """)
    assert outcome["errors"] == [], outcome


def test_no_free_descriptor_past_the_timeout_says_too_many_open_files(srv):
    outcome = run(srv, 64, """
        with Humanloop(api_key="k", host=BASE_URL, max_retries=0, timeout=0.5) as client:
            held = exhaust(0)
            started = time.monotonic()
            try:
                client.complete(model_config=MC)
                print(json.dumps({"error": None}))
            except Exception as error:
                for fd in held:
                    os.close(fd)
                print(json.dumps({"error": str(error), "type": type(error).__name__,
                                  "after": time.monotonic() - started}))
    """)
    assert outcome["type"] == "ApiConnectionError", outcome
    assert "too many open files" in outcome["error"] and "64 open files (RLIMIT_NOFILE)" in outcome["error"]
    assert outcome["after"] >= 0.4, outcome
