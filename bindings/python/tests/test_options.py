"""openai-python's client options: with_options(default_headers=...) and copy(...), and the
forms of timeout= (a number, None, a (connect, read) pair) as the JSON the binding hands the
library (configuration and per-call options), plus their behaviour once the library accepts
"timeout": null."""

import asyncio
import json
import time

import pytest

import humanloop_native
from humanloop_native import (
    NOT_GIVEN,
    ApiTimeoutError,
    Humanloop,
    InvalidConfigError,
    InvalidRequestError,
)
from humanloop_native import _batch, _client, _loops
from hlpy_support import API_KEY, MODEL_CONFIG, header

OK_BODY = {"data": [{"id": "d", "index": 0, "output": "ok", "finish_reason": "stop"}], "provider_responses": []}


# -- default_headers, copy ---------------------------------------------------------------------

def test_with_options_default_headers_on_the_wire(client, srv):
    team = client.with_options(default_headers={"X-Team": "a", "X-Trace": "default"})
    team.complete(model_config=MODEL_CONFIG)
    team.complete(model_config=MODEL_CONFIG, extra_headers={"X-Trace": "call"})  # the call's wins

    async def main():
        await team.acomplete(model_config=MODEL_CONFIG)
        return [e async for e in team.acomplete_stream(model_config=MODEL_CONFIG)]

    asyncio.run(main())
    list(team.complete_deployed_stream(project="p"))
    team.complete_batch([{"model_config": MODEL_CONFIG}])
    client.complete(model_config=MODEL_CONFIG)  # the original client is unchanged
    records = srv.requests()
    assert [header(r, "X-Team") for r in records] == ["a"] * 6 + [None]
    assert [header(r, "X-Trace") for r in records] == ["default", "call"] + ["default"] * 4 + [None]
    assert header(records[0], "X-API-KEY") == API_KEY
    assert "default_headers" not in json.loads(records[0]["body"])


def test_default_headers_merge_and_replace(client, srv):
    first = client.with_options(default_headers={"X-A": "1", "X-B": "1"})
    merged = first.with_options(default_headers={"X-B": "2"})     # merged over first's
    replaced = first.copy(set_default_headers={"X-C": "3"})      # instead of first's
    older = first.with_options(extra_headers={"X-B": "4"})        # this binding's earlier name
    for c in (first, merged, replaced, older):
        c.complete(model_config=MODEL_CONFIG)
    seen = [{name: header(r, name) for name in ("X-A", "X-B", "X-C")} for r in srv.requests()]
    assert seen == [{"X-A": "1", "X-B": "1", "X-C": None}, {"X-A": "1", "X-B": "2", "X-C": None},
                    {"X-A": None, "X-B": None, "X-C": "3"}, {"X-A": "1", "X-B": "4", "X-C": None}]
    with pytest.raises(InvalidConfigError):
        client.with_options(default_headers={"X-A": "1"}, set_default_headers={"X-B": "2"})
    with pytest.raises(InvalidConfigError) as info:
        client.with_options(default_headers=["X-A: 1"])
    assert info.value.path == "default_headers"


def test_constructor_default_headers(srv):
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, default_headers={"X-Team": "c"}) as c:
        c.complete(model_config=MODEL_CONFIG)
        c.complete(model_config=MODEL_CONFIG, extra_headers={"X-Team": "call"})
        c.with_options(default_headers={"X-More": "m"}).complete(model_config=MODEL_CONFIG)
    records = srv.requests()
    assert [header(r, "X-Team") for r in records] == ["c", "call", "c"]
    assert header(records[2], "X-More") == "m"
    with pytest.raises(InvalidConfigError):
        Humanloop(api_key=API_KEY, default_headers="X-Team: c")


def test_copy_is_with_options(fresh_server):
    assert Humanloop.copy is Humanloop.with_options
    fresh_server.script([{"json": OK_BODY}, {"json": OK_BODY}, {"delay": 2, "json": OK_BODY}])
    with Humanloop(api_key=API_KEY, host=fresh_server.base_url, max_retries=0) as client:
        quick = client.copy(timeout=0.3, max_retries=0, default_headers={"X-Copy": "yes"})
        assert isinstance(quick, Humanloop) and quick is not client
        client.complete(model_config=MODEL_CONFIG)
        quick.complete(model_config=MODEL_CONFIG)
        with pytest.raises(ApiTimeoutError):
            quick.complete(model_config=MODEL_CONFIG)
        quick.close()
    records = fresh_server.requests()
    assert records[0]["connection"] == records[1]["connection"]  # one pool
    assert [header(r, "X-Copy") for r in records] == [None, "yes", "yes"]


# -- timeout forms: the JSON handed to the library ---------------------------------------------

class RecordingLib:
    """Stands for the ctypes library in _client: records each config_json of hl_client_new."""

    def __init__(self, real):
        self.real = real
        self.configs = []

    def hl_client_new(self, config_json, error):
        self.configs.append(json.loads(config_json))
        return self.real.hl_client_new(config_json, error)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def configs(monkeypatch):
    recorder = RecordingLib(_client.lib)
    monkeypatch.setattr(_client, "lib", recorder)
    return recorder.configs


@pytest.fixture
def options_sent(monkeypatch):
    """Every options_json submitted to a loop (hl_loop_submit), parsed (None for NULL), and those
    of each request of a batch (hl_batch_submit's "options")."""
    sent = []
    real_submit = _loops.submit

    def submit(driver, name, request, options, **kwargs):
        sent.append(None if options is None else json.loads(options))
        return real_submit(driver, name, request, options, **kwargs)

    real_batch_json = _batch._Run._batch_json

    def batch_json(run):
        text = real_batch_json(run)
        sent.extend(item.get("options") for item in json.loads(text)["requests"])
        return text

    monkeypatch.setattr(_loops, "submit", submit)
    monkeypatch.setattr(_batch._Run, "_batch_json", batch_json)
    return sent


class HttpxLikeTimeout:
    """What httpx.Timeout looks like to the binding (connect, read, write, pool)."""

    def __init__(self, connect, read):
        self.connect, self.read, self.write, self.pool = connect, read, 9.0, 9.0


TIMEOUT_FORMS = [
    ("omitted", NOT_GIVEN, {}),
    ("number", 30, {"timeout": 30}),
    ("float", 2.5, {"timeout": 2.5}),
    ("None", None, {"timeout": None}),
    ("tuple", (3, 0.5), {"timeout": None, "connect_timeout": 3, "low_speed_timeout": 0.5}),
    ("list", [4.0, 20], {"timeout": None, "connect_timeout": 4.0, "low_speed_timeout": 20}),
    ("httpx.Timeout", HttpxLikeTimeout(5, 60), {"timeout": None, "connect_timeout": 5, "low_speed_timeout": 60}),
]
FORM_IDS = [form[0] for form in TIMEOUT_FORMS]


def new_client(srv, **kwargs):
    """A client, or the InvalidConfigError of a library that does not take "timeout": null yet."""
    try:
        return Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, **kwargs)
    except InvalidConfigError as exc:
        assert exc.path == "timeout" and "null" in str(exc), exc
        return None


@pytest.mark.parametrize("name,timeout,fields", TIMEOUT_FORMS, ids=FORM_IDS)
def test_constructor_timeout_json(srv, configs, name, timeout, fields):
    kwargs = {} if timeout is NOT_GIVEN else {"timeout": timeout}
    made = new_client(srv, **kwargs)
    if made is not None:
        made.close()
    timing = {k: v for k, v in configs[-1].items() if k in ("timeout", "connect_timeout", "low_speed_timeout")}
    assert timing == fields
    assert json.dumps(configs[-1]).count("null") == (1 if fields.get("timeout", 0) is None else 0)
    if "timeout" not in fields or fields["timeout"] is not None:
        assert made is not None  # forms the library takes today


def calls_with(client, **options):
    """The same options through a blocking call, an async call, a stream and a batch; each may
    fail with the library's InvalidRequestError for "timeout": null until it is supported."""
    outcomes = []

    def attempt(run):
        try:
            run()
            outcomes.append("ok")
        except InvalidRequestError as exc:
            assert exc.path == "options.timeout", exc
            outcomes.append("rejected")

    attempt(lambda: client.complete(model_config=MODEL_CONFIG, **options))
    attempt(lambda: asyncio.run(client.acomplete(model_config=MODEL_CONFIG, **options)))
    attempt(lambda: list(client.complete_stream(model_config=MODEL_CONFIG, **options)))
    result = client.complete_batch([{"model_config": MODEL_CONFIG, **options}])[0]
    if isinstance(result, InvalidRequestError):
        assert result.path == "options.timeout", result
    else:
        assert not isinstance(result, Exception), result
    return outcomes


@pytest.mark.parametrize("name,timeout,fields", TIMEOUT_FORMS, ids=FORM_IDS)
def test_per_call_timeout_json(client, options_sent, name, timeout, fields):
    kwargs = {} if timeout is NOT_GIVEN else {"timeout": timeout}
    outcomes = calls_with(client, **kwargs)
    blocking, asynchronous, stream, batch = options_sent
    assert blocking == asynchronous == batch == (fields or None)
    assert stream == {**fields, "stream": True}
    if fields.get("timeout", 0) is not None:
        assert outcomes == ["ok"] * 3


@pytest.mark.parametrize("name,timeout,fields", TIMEOUT_FORMS, ids=FORM_IDS)
def test_with_options_timeout_json(client, options_sent, name, timeout, fields):
    kwargs = {} if timeout is NOT_GIVEN else {"timeout": timeout}
    for made in (client.with_options(max_retries=1, **kwargs), client.copy(max_retries=1, **kwargs)):
        outcomes = calls_with(made)
        if fields.get("timeout", 0) is not None:
            assert outcomes == ["ok"] * 3
    assert len(options_sent) == 8
    for options in options_sent:
        assert options == {**fields, "max_retries": 1, **({"stream": True} if "stream" in options else {})}
    assert sum("stream" in options for options in options_sent) == 2


def test_timeouts_merge_per_call(client, options_sent):
    paired = client.with_options(timeout=(2, 7))
    calls_with(paired, timeout=30)  # a number bounds each attempt; the pair's connect and read stay
    assert options_sent[0] == {"timeout": 30, "connect_timeout": 2, "low_speed_timeout": 7}
    options_sent.clear()
    limited = client.with_options(timeout=5, low_speed_timeout=9)
    calls_with(limited, timeout=None)  # None lifts the overall limit for this call only
    assert options_sent[0] == {"timeout": None, "low_speed_timeout": 9}
    options_sent.clear()
    calls_with(limited, timeout=(1, 2))
    assert options_sent[0] == {"timeout": None, "connect_timeout": 1, "low_speed_timeout": 2}
    options_sent.clear()
    limited.complete(model_config=MODEL_CONFIG)
    assert options_sent == [{"timeout": 5, "low_speed_timeout": 9}]


@pytest.mark.parametrize("bad", [(1, None), (None, 5), (1, 2, 3), (1,), ("1", 2), (True, 2),
                                 HttpxLikeTimeout(None, None)])
def test_malformed_timeout_pairs(client, srv, bad):
    with pytest.raises(InvalidConfigError) as info:
        Humanloop(api_key=API_KEY, host=srv.base_url, timeout=bad)
    assert info.value.path == "timeout" and "timeout" in str(info.value)
    with pytest.raises(InvalidConfigError):
        client.with_options(timeout=bad)
    with pytest.raises(InvalidRequestError) as info:
        client.complete(model_config=MODEL_CONFIG, timeout=bad)
    assert info.value.path == "options.timeout"
    results = client.complete_batch([{"model_config": MODEL_CONFIG, "timeout": bad}])
    assert isinstance(results[0], InvalidRequestError)
    assert srv.requests() == []


def test_pair_and_its_parts_are_not_given_together(srv, client):
    for parts in ({"connect_timeout": 3}, {"low_speed_timeout": 3}):
        with pytest.raises(InvalidConfigError) as info:
            Humanloop(api_key=API_KEY, host=srv.base_url, timeout=(1, 2), **parts)
        assert list(parts)[0] in str(info.value)
        with pytest.raises(InvalidConfigError):
            client.with_options(timeout=(1, 2), **parts)


def test_not_given():
    assert repr(NOT_GIVEN) == "NOT_GIVEN" and not NOT_GIVEN
    assert humanloop_native.NOT_GIVEN is NOT_GIVEN and type(NOT_GIVEN)() is NOT_GIVEN
    import pickle
    assert pickle.loads(pickle.dumps(NOT_GIVEN)) is NOT_GIVEN
    import inspect
    assert inspect.signature(Humanloop).parameters["timeout"].default is NOT_GIVEN
    assert inspect.signature(Humanloop.complete).parameters["timeout"].default is NOT_GIVEN
    assert inspect.signature(Humanloop.acomplete_stream).parameters["timeout"].default is NOT_GIVEN
    assert inspect.signature(Humanloop.with_options).parameters["timeout"].default is NOT_GIVEN


# -- timeout forms: behaviour (needs the library's "timeout": null) -----------------------------

def require_null_timeout(srv):
    """Skips the test while the library refuses "timeout": null in its configuration."""
    try:
        Humanloop(api_key=API_KEY, host=srv.base_url, timeout=None).close()
    except InvalidConfigError as exc:
        if "timeout" in str(exc):
            pytest.skip(f"the library does not accept \"timeout\": null yet ({exc})")
        raise


def test_pair_read_timeout_is_the_longest_gap_between_bytes(srv):
    require_null_timeout(srv)
    srv.script([{"delay": 1.0, "json": OK_BODY}])
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, timeout=(5, 0.5)) as client:
        started = time.monotonic()
        with pytest.raises(ApiTimeoutError) as info:
            client.complete(model_config=MODEL_CONFIG)
        assert time.monotonic() - started < 0.95
        assert "low_speed_timeout" in str(info.value)
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0) as client:
        srv.script([{"delay": 1.0, "json": OK_BODY}])
        with pytest.raises(ApiTimeoutError) as info:
            client.complete(model_config=MODEL_CONFIG, timeout=(5, 0.5))
        assert "low_speed_timeout" in str(info.value)
        srv.script([{"delay": 1.0, "json": OK_BODY}])
        with pytest.raises(ApiTimeoutError):
            client.with_options(timeout=(5, 0.5)).complete(model_config=MODEL_CONFIG)


def test_timeout_none_is_no_overall_limit(srv):
    require_null_timeout(srv)
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, timeout=0.5) as client:
        srv.script([{"delay": 1.2, "json": OK_BODY}])
        with pytest.raises(ApiTimeoutError):
            client.complete(model_config=MODEL_CONFIG)  # the client's 0.5 s
        # the same answer with no overall limit: per call, with_options, and the constructor
        srv.script([{"delay": 1.2, "json": OK_BODY}])
        assert client.complete(model_config=MODEL_CONFIG, timeout=None).body == OK_BODY
        srv.script([{"delay": 1.2, "json": OK_BODY}])
        assert asyncio.run(client.acomplete(model_config=MODEL_CONFIG, timeout=None)).status == 200
        srv.script([{"delay": 1.2, "json": OK_BODY}])
        assert client.with_options(timeout=None).complete(model_config=MODEL_CONFIG).status == 200
    with Humanloop(api_key=API_KEY, host=srv.base_url, max_retries=0, timeout=None) as client:
        srv.script([{"delay": 1.2, "json": OK_BODY}])
        assert client.complete(model_config=MODEL_CONFIG).status == 200
