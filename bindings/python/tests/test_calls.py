"""The four blocking calls: what goes on the wire and what comes back."""

import asyncio
import json

import pytest

import humanloop_native
from humanloop_native import ApiResponse, Humanloop
from hlpy_support import API_KEY, MODEL_CONFIG, header, only_request

COMMON_FULL = {
    "project": "proj",
    "project_id": "pr_123",
    "session_id": "sess_1",
    "session_reference_id": "my-session",
    "parent_id": "data_parent",
    "parent_reference_id": "my-parent",
    "inputs": {"question": "Why? ✓", "n": 3},
    "source": "tests",
    "metadata": {"a": [1, 2.5, None, True], "b": {"c": "d"}},
    "provider_api_keys": {"openai": "sk-request", "cohere": "co-request"},
    "num_samples": 2,
    "logprobs": 3,
    "stream": False,
    "suffix": "END",
    "user": "user-42",
}
FULL_MODEL_CONFIG = {
    "model": "gpt-3.5-turbo-instruct",
    "prompt_template": "Answer: {{question}}",
    "description": "d",
    "name": "n",
    "provider": "openai",
    "max_tokens": -1,
    "temperature": 0.7,
    "top_p": 0.95,
    "stop": ["\n", "END"],
    "presence_penalty": -0.5,
    "frequency_penalty": 1e-7,
    "other": {"seed": 1},
    "endpoint": "complete",
}

# method, path, required kwargs, extra optional kwargs
ENDPOINTS = [
    ("complete", "/v4/completion", {"model_config": MODEL_CONFIG}, {}),
    ("complete_deployed", "/v4/completion-deployed", {}, {"environment": "production"}),
    ("complete_experiment", "/v4/completion-experiment", {"experiment_id": "exp_1"}, {}),
    ("complete_model_configuration", "/v4/completion-model-config", {"model_config_id": "config_1"}, {}),
]


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("method,path,required,extra", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_required_args_only(client, srv, method, path, required, extra):
    response = getattr(client, method)(**required)
    assert isinstance(response, ApiResponse)
    assert response.status == 200
    assert response.body["data"][0]["output"] == "Hello from the test server"
    assert isinstance(response.body["provider_responses"], list)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["content-type"] == "application/json"
    assert "CONTENT-TYPE" in response.headers
    assert isinstance(response.round_trip_time, float) and response.round_trip_time > 0
    assert response.attempts == 1
    assert response.events is None

    record = only_request(srv)
    assert record["method"] == "POST"
    assert record["path"] == path
    assert header(record, "X-API-KEY") == API_KEY
    assert header(record, "Content-Type") == "application/json"
    assert header(record, "Accept") == "application/json"
    assert header(record, "User-Agent").startswith("libhumanloop/")
    assert header(record, "Authorization") is None
    # only the given fields, plus provider_api_keys which is always sent (as the SDK does)
    assert record["body"] == compact({**required, "provider_api_keys": {}})


@pytest.mark.parametrize("method,path,required,extra", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_every_arg(client, srv, method, path, required, extra):
    if method == "complete":
        required = {"model_config": FULL_MODEL_CONFIG}
    kwargs = {**required, **COMMON_FULL, **extra}
    response = getattr(client, method)(**kwargs)
    assert response.status == 200
    body = response.body
    assert len(body["data"]) == 2
    assert body["data"][0]["inputs"] == {"question": "Why? ✓", "n": 3}
    for key in ("project_id", "num_samples", "logprobs", "suffix", "user", "usage", "metadata"):
        assert key in body
    assert body["metadata"] == COMMON_FULL["metadata"]

    record = only_request(srv)
    assert record["path"] == path
    # every field, in the order given, as compact UTF-8 JSON with numbers as Python writes them
    assert record["body"] == compact(kwargs)
    if method == "complete":
        assert '"temperature":0.7,' in record["body"]
        assert '"frequency_penalty":1e-07,' in record["body"]
        assert '"top_p":0.95,' in record["body"]
    assert "✓" in record["body"]  # raw UTF-8, not \u escaped


def test_temperature_literal_is_sent_as_written(client, srv):
    client.complete(model_config={**MODEL_CONFIG, "temperature": 0.7, "top_p": 0.1 + 0.2})
    body = only_request(srv)["body"]
    assert '"temperature":0.7' in body and "0.69999" not in body
    assert '"top_p":0.30000000000000004' in body  # repr(0.1 + 0.2), shortest round-trip


def test_none_means_not_given(client, srv):
    client.complete(model_config=MODEL_CONFIG, project=None, inputs=None, stream=None,
                    num_samples=None, user="u")
    assert only_request(srv)["body"] == compact({"model_config": MODEL_CONFIG, "user": "u",
                                                 "provider_api_keys": {}})


def test_falsy_values_are_sent(client, srv):
    client.complete(model_config=MODEL_CONFIG, inputs={}, metadata={}, stream=False,
                    num_samples=0, source="")
    body = json.loads(only_request(srv)["body"])
    assert body["inputs"] == {} and body["metadata"] == {} and body["stream"] is False
    assert body["num_samples"] == 0 and body["source"] == ""


def test_provider_keys_merged_request_wins(srv):
    client_keys = dict(
        openai_api_key="c-openai", openai_azure_api_key="c-azure",
        openai_azure_endpoint_api_key="c-azure-ep", ai21_api_key="c-ai21", mock_api_key="c-mock",
        anthropic_api_key="c-anthropic", cohere_api_key="c-cohere",
    )
    request_keys = {"openai": "r-openai", "openai_azure": "r-azure", "anthropic": "r-anthropic"}
    passed = dict(request_keys)
    with Humanloop(api_key=API_KEY, host=srv.base_url, **client_keys) as client:
        client.complete(model_config=MODEL_CONFIG, provider_api_keys=passed)
        sent = json.loads(only_request(srv)["body"])["provider_api_keys"]
        assert sent == {
            "openai": "r-openai", "openai_azure": "r-azure", "anthropic": "r-anthropic",
            "openai_azure_endpoint": "c-azure-ep", "ai21": "c-ai21", "mock": "c-mock",
            "cohere": "c-cohere",
        }
        assert passed == request_keys  # the caller's dict is not modified

        srv.reset()
        client.complete_deployed(project="p")
        sent = json.loads(only_request(srv)["body"])["provider_api_keys"]
        assert sent == {"openai": "c-openai", "openai_azure": "c-azure",
                        "openai_azure_endpoint": "c-azure-ep", "ai21": "c-ai21",
                        "mock": "c-mock", "anthropic": "c-anthropic", "cohere": "c-cohere"}


def test_unknown_kwarg_is_type_error(client, srv):
    with pytest.raises(TypeError):
        client.complete(model_config=MODEL_CONFIG, temperature=0.7)
    with pytest.raises(TypeError):
        client.complete_deployed(environmnet="prod")
    with pytest.raises(TypeError):  # keyword-only, required
        client.complete_experiment()
    with pytest.raises(TypeError):
        client.complete_model_configuration("config_1")
    assert srv.requests() == []


def test_generated_variants_check_their_arguments(client, srv):
    """The async, stream and async stream forms take exactly the blocking method's keywords (a
    fast path for the usual call, signature.bind's TypeError for any other)."""
    for name in ("complete", "complete_deployed", "complete_experiment", "complete_model_configuration"):
        for form in ("a" + name, name + "_stream", "a" + name + "_stream"):
            form = form.replace("_model_configuration_stream", "_model_config_stream")
            method = getattr(client, form)
            for args, kwargs in (((), {"bogus": 1, "model_config": MODEL_CONFIG, "experiment_id": "e",
                                       "model_config_id": "m", "project": "p"}),
                                 (("positional",), {"project": "p"})):
                with pytest.raises(TypeError):
                    result = method(*args, **kwargs)
                    if asyncio.iscoroutine(result):
                        asyncio.run(result)
    for name in ("complete", "complete_experiment", "complete_model_configuration"):  # a required keyword
        with pytest.raises(TypeError):
            asyncio.run(getattr(client, "a" + name)(project="p"))
        with pytest.raises(TypeError):
            getattr(client, name.replace("_model_configuration", "_model_config") + "_stream")(project="p")
    assert srv.requests() == []
    response = asyncio.run(client.acomplete(model_config=MODEL_CONFIG, project="p"))
    assert response.status == 200
    assert json.loads(only_request(srv)["body"])["project"] == "p"


def test_blocking_call_with_stream_true(client, srv):
    response = client.complete(model_config=MODEL_CONFIG, stream=True)
    assert response.status == 200
    assert len(response.events) == 4
    sample = response.body["data"][0]
    assert sample["output"] == "Llamas are friendly and curious; here is the data: they like people."
    assert sample["finish_reason"] == "stop"
    assert '"stream":true' in only_request(srv)["body"]


def test_completions_tag_api_names(client, srv):
    assert client.completions.create(model_config=MODEL_CONFIG).status == 200
    assert client.completions.create_deployed(project="p").status == 200
    assert client.completions.create_experiment(experiment_id="e").status == 200
    assert client.completions.create_model_config(model_config_id="c").status == 200
    assert [r["path"] for r in srv.requests()] == [e[1] for e in ENDPOINTS]


def test_config_options_reach_the_wire(srv):
    with Humanloop(api_key=API_KEY, host=srv.base_url + "/", user_agent="my-app/1.0",
                   timeout=5, connect_timeout=2.5, low_speed_timeout=10, max_retries=1,
                   retry_base_delay=0.01, retry_max_delay=0.02,
                   max_response_bytes=1 << 20) as client:
        client.complete(model_config=MODEL_CONFIG)
    record = only_request(srv)
    assert record["path"] == "/v4/completion"
    assert header(record, "User-Agent") == "my-app/1.0"


def test_api_key_from_environment(srv, monkeypatch):
    monkeypatch.setenv("HUMANLOOP_API_KEY", "env-key")
    monkeypatch.setenv("HUMANLOOP_HOST", srv.base_url)
    with Humanloop() as client:
        client.complete_deployed(project="p")
    assert header(only_request(srv), "X-API-KEY") == "env-key"


def test_sdk_style_api_key_dict(srv):
    with Humanloop(api_key={"APIKeyHeader": "dict-key"}, host=srv.base_url) as client:
        client.complete_deployed(project="p")
    assert header(only_request(srv), "X-API-KEY") == "dict-key"


def test_close_is_idempotent_and_final(srv):
    client = Humanloop(api_key=API_KEY, host=srv.base_url)
    client.complete_deployed(project="p")
    client.close()
    client.close()
    assert client.closed
    with pytest.raises(RuntimeError):
        client.complete_deployed(project="p")
    assert len(srv.requests()) == 1


def test_version_and_library_path():
    assert humanloop_native.lib_version() == "0.2.0"
    assert humanloop_native.LIBRARY_PATH
    assert humanloop_native.__version__
