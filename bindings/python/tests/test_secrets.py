"""No secret ever appears in a text the library or its tools write.

One systematic test: distinct markers sit in every secret-bearing place — the configuration
(api_key, *_api_key), the request's provider_api_keys (as strings, as wrong types, under an
unknown provider, a short key), a key repeated elsewhere in a request, and a server that
echoes all of them back in a 422 body and header. Every path then runs (blocking, stream,
async, async stream, batch, the CLI, the debug log, invalid requests, API errors) and
everything captured — stdout and stderr (the library's own log lines included), log records,
exception str/repr and attributes, error envelopes — is searched for every marker.
"""

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from humanloop_native import HumanloopError, Humanloop
from hlpy_support import MODEL_CONFIG

ROOT = Path(__file__).resolve().parents[3]
HL = os.environ.get("HL_CLI") or str(ROOT / "build" / "bin" / "hl")

# The configuration's secrets.
API_KEY = "hl-MARKER-config-api-key-0001"
CONFIG_OPENAI = "sk-MARKER-config-openai-0002"
CONFIG_COHERE = "co-MARKER-config-cohere-0003"
# The request's provider keys.
REQ_ANTHROPIC = "sk-ant-MARKER-request-0004"
REQ_COHERE = "co-MARKER-request-stream-0005"
REQ_UNKNOWN = "mi-MARKER-unknown-provider-0006"
REQ_AS_STRING = "sk-MARKER-given-as-the-object-0007"
REQ_IN_ARRAY = "sk-MARKER-inside-an-array-0008"
REQ_AS_NUMBER = 7777000011112222
REQ_NESTED = "sk-MARKER-nested-object-0009"
REQ_IN_BROKEN_JSON = "sk-MARKER-broken-json-0010"  # a request that does not parse: no paths
SHORT = "zq9x"  # shorter than 8: redacted by path only
SHORT_AS_STRING = "kq7w"
MARKERS = [SHORT_AS_STRING, REQ_IN_BROKEN_JSON, API_KEY, CONFIG_OPENAI, CONFIG_COHERE, REQ_ANTHROPIC, REQ_COHERE, REQ_UNKNOWN, REQ_AS_STRING,
           REQ_IN_ARRAY, str(REQ_AS_NUMBER), REQ_NESTED, SHORT]
# The markers a server receives (and echoes back) from the binding's client and from the CLI's
# (which has no client-level provider keys).
ECHOED = [API_KEY, CONFIG_OPENAI, CONFIG_COHERE, REQ_ANTHROPIC, REQ_COHERE, REQ_UNKNOWN]
ECHOED_CLI = [API_KEY, REQ_ANTHROPIC, REQ_COHERE, REQ_UNKNOWN]

GOOD_KEYS = {"anthropic": REQ_ANTHROPIC, "cohere": REQ_COHERE, "mistral": REQ_UNKNOWN, "ai21": SHORT}
BAD_KEYS = [
    REQ_AS_STRING,                                          # the key itself instead of an object
    SHORT_AS_STRING,                                        # the same, a short key (path only)
    {"openai": REQ_AS_NUMBER},                              # a number
    {"anthropic": [REQ_IN_ARRAY]},                          # an array
    {"cohere": {"key": REQ_NESTED}},                        # an object
]


def echo_422(echoed=ECHOED):
    text = " ".join(echoed)
    return {"status": 422, "headers": {"X-Echo": text},
            "json": {"detail": [{"loc": ["body", "provider_api_keys"], "msg": "bad keys: " + text,
                                 "type": "value_error", "keys": echoed}]}}


def texts_of(error):
    """Everything an exception shows."""
    parts = [str(error), repr(error), getattr(error, "message", "")]
    for name in ("error", "body", "headers", "errors", "path"):
        value = getattr(error, name, None)
        if value is not None:
            parts.append(json.dumps(value, default=str) if not isinstance(value, str) else value)
    return parts


def assert_clean(captured, what):
    leaks = [(marker, text) for text in captured for marker in MARKERS if marker in str(text)]
    assert not leaks, "%s: a secret appears in %r" % (what, leaks[0][1][:600])


def client(srv, **kwargs):
    return Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, openai_api_key=CONFIG_OPENAI,
                     cohere_api_key=CONFIG_COHERE, **kwargs)


def test_no_secret_in_any_text_the_library_writes(srv, caplog, capfd, tmp_path):
    captured = []
    caplog.set_level(logging.DEBUG, logger="humanloop_native")
    with client(srv, log_level="debug") as hl:
        # blocking: a success (debug lines show the request body) and an echoing API error
        hl.complete(model_config=MODEL_CONFIG, provider_api_keys=GOOD_KEYS)
        srv.script([echo_422()])
        with pytest.raises(HumanloopError) as caught:
            hl.complete(model_config=MODEL_CONFIG, provider_api_keys=GOOD_KEYS)
        assert getattr(caught.value, "status", None) == 422
        captured += texts_of(caught.value)

        # invalid requests: every wrong shape, and a key repeated in another field
        for keys in BAD_KEYS:
            with pytest.raises(HumanloopError) as caught:
                hl.complete(model_config=MODEL_CONFIG, provider_api_keys=keys)
            assert caught.value.type == "invalid_request", caught.value
            assert "provider_api_keys" in caught.value.message
            captured += texts_of(caught.value)
        with pytest.raises(HumanloopError) as caught:
            hl.complete(model_config=dict(MODEL_CONFIG, temperature=REQ_ANTHROPIC), provider_api_keys=GOOD_KEYS)
        assert "model_config.temperature must be a number" in caught.value.message
        captured += texts_of(caught.value)

        # streams: a success and an echoing API error
        list(hl.complete_stream(model_config=MODEL_CONFIG, provider_api_keys=GOOD_KEYS))
        srv.script([echo_422()])
        with pytest.raises(HumanloopError) as caught:
            list(hl.complete_stream(model_config=MODEL_CONFIG, provider_api_keys=GOOD_KEYS))
        captured += texts_of(caught.value)
        with pytest.raises(HumanloopError) as caught:
            list(hl.complete_stream(model_config=MODEL_CONFIG, provider_api_keys=REQ_AS_STRING))
        captured += texts_of(caught.value)

        # asyncio: acomplete and the async stream, success and echo
        async def run_async():
            await hl.acomplete(model_config=MODEL_CONFIG, provider_api_keys=GOOD_KEYS)
            srv.script([echo_422()])
            for make in (lambda: hl.acomplete(model_config=MODEL_CONFIG, provider_api_keys=GOOD_KEYS),
                         lambda: hl.acomplete(model_config=MODEL_CONFIG, provider_api_keys=BAD_KEYS[1])):
                try:
                    await make()
                except HumanloopError as error:
                    captured.extend(texts_of(error))
                else:
                    raise AssertionError("no error")
            srv.script([echo_422()])
            try:
                async for _ in hl.acomplete_stream(model_config=MODEL_CONFIG, provider_api_keys=GOOD_KEYS):
                    pass
            except HumanloopError as error:
                captured.extend(texts_of(error))
            else:
                raise AssertionError("no error")

        asyncio.run(run_async())

        # a batch: one good item, one echoed 422, each wrong shape
        srv.script([{"delay": 0.2}, echo_422()])
        results = hl.complete_batch([{"model_config": MODEL_CONFIG, "provider_api_keys": GOOD_KEYS}] * 2
                                    + [{"model_config": MODEL_CONFIG, "provider_api_keys": keys} for keys in BAD_KEYS],
                                    concurrency=1)
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1 + len(BAD_KEYS), results
        for error in errors:
            captured += texts_of(error)

    # a configuration with a wrong type under a secret key
    with pytest.raises(HumanloopError) as caught:
        Humanloop(api_key=API_KEY, host=srv.base_url, anthropic_api_key=REQ_AS_NUMBER)
    captured += texts_of(caught.value)

    # the CLI: a call, an echoing API error, an invalid request, a batch; debug log on
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"model_config": MODEL_CONFIG, "provider_api_keys": GOOD_KEYS}))
    bad_request = tmp_path / "bad.json"
    bad_request.write_text(json.dumps({"model_config": MODEL_CONFIG, "provider_api_keys": REQ_AS_STRING}))
    broken = tmp_path / "broken.json"
    broken.write_text('{"model_config": %s, "provider_api_keys": {"openai": "%s\\x"}}'
                      % (json.dumps(MODEL_CONFIG), REQ_IN_BROKEN_JSON))
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps({"model_config": MODEL_CONFIG, "provider_api_keys": keys}) + "\n"
                             for keys in [GOOD_KEYS, GOOD_KEYS] + BAD_KEYS))
    env = dict(os.environ, HUMANLOOP_API_KEY=API_KEY, HUMANLOOP_HOST=srv.base_url, HUMANLOOP_LOG="debug")
    echo = echo_422(ECHOED_CLI)
    runs = [([HL, "complete", str(request)], None), ([HL, "complete", str(request), "--json"], echo),
            ([HL, "complete", str(request), "--stream"], echo), ([HL, "complete", str(request)], echo),
            ([HL, "complete", str(bad_request), "--json"], None), ([HL, "complete", str(bad_request)], None),
            ([HL, "complete", str(broken)], None), ([HL, "batch", str(batch)], echo)]
    for argv, script in runs:
        if script is not None:
            srv.script([script])
        result = subprocess.run(argv + ["--max-retries", "0"], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode in (0, 2, 3, 5), (argv, result.returncode, result.stderr)
        captured += [result.stdout, result.stderr]
        assert result.stdout + result.stderr, argv

    out, err = capfd.readouterr()
    captured += [out, err]
    captured += [record.getMessage() for record in caplog.records]
    # the paths did run: the debug lines of request bodies and of the echoed answers are here
    lines = "\n".join(captured)
    assert "request body:" in lines and '"anthropic":"[redacted]"' in lines, lines[:2000]
    assert '"ai21":"[redacted]"' in lines and '"mistral":"[redacted]"' in lines
    assert "response body:" in lines and "[redacted]" in lines
    assert_clean(captured, "captured text")
