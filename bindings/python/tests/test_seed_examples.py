"""The official SDK's four documented examples (the humanloop.completions docs of SDK 0.5.16),
copied verbatim except for two lines each: the import names humanloop_native instead of
humanloop, and `host=HOST,` points the client at the test server. They must run as they are and
print the response without reaching their `except ApiException` branch."""

import contextlib
import io
import json

import pytest

EXAMPLE_CREATE = r"""
from pprint import pprint
from humanloop_native import Humanloop, ApiException

humanloop = Humanloop(
    openai_api_key="OPENAI_API_KEY",
    openai_azure_api_key="OPENAI_AZURE_API_KEY",
    openai_azure_endpoint_api_key="OPENAI_AZURE_ENDPOINT_API_KEY",
    ai21_api_key="AI21_API_KEY",
    mock_api_key="MOCK_API_KEY",
    anthropic_api_key="ANTHROPIC_API_KEY",
    cohere_api_key="COHERE_API_KEY",
    api_key="YOUR_API_KEY",
    host=HOST,
)

try:
    # Create
    create_response = humanloop.complete(
        model_config={
            "model": "model_example",
            "max_tokens": -1,
            "temperature": 1,
            "top_p": 1,
            "presence_penalty": 0,
            "frequency_penalty": 0,
            "prompt_template": "{{question}}",
        },  # required
        project="string_example",  # optional
        project_id="string_example",  # optional
        session_id="string_example",  # optional
        session_reference_id="string_example",  # optional
        parent_id="string_example",  # optional
        parent_reference_id="string_example",  # optional
        inputs={},  # optional
        source="string_example",  # optional
        metadata={},  # optional
        provider_api_keys={},  # optional
        num_samples=1,  # optional
        logprobs=1,  # optional
        stream=False,  # optional
        suffix="string_example",  # optional
        user="string_example",  # optional
    )
    pprint(create_response.body)
    pprint(create_response.body["data"])
    pprint(create_response.body["provider_responses"])
    pprint(create_response.body["project_id"])
    pprint(create_response.body["num_samples"])
    pprint(create_response.body["logprobs"])
    pprint(create_response.body["suffix"])
    pprint(create_response.body["user"])
    pprint(create_response.body["usage"])
    pprint(create_response.body["metadata"])
    pprint(create_response.headers)
    pprint(create_response.status)
    pprint(create_response.round_trip_time)
except ApiException as e:
    print("Exception when calling CompletionsApi.create: %s\n" % e)
    pprint(e.body)
    if e.status == 422:
        pprint(e.body["detail"])
    pprint(e.headers)
    pprint(e.status)
    pprint(e.reason)
    pprint(e.round_trip_time)
"""

EXAMPLE_CREATE_DEPLOYED = r"""
from pprint import pprint
from humanloop_native import Humanloop, ApiException

humanloop = Humanloop(
    openai_api_key="OPENAI_API_KEY",
    openai_azure_api_key="OPENAI_AZURE_API_KEY",
    openai_azure_endpoint_api_key="OPENAI_AZURE_ENDPOINT_API_KEY",
    ai21_api_key="AI21_API_KEY",
    mock_api_key="MOCK_API_KEY",
    anthropic_api_key="ANTHROPIC_API_KEY",
    cohere_api_key="COHERE_API_KEY",
    api_key="YOUR_API_KEY",
    host=HOST,
)

try:
    # Completion Deployed
    create_deployed_response = humanloop.complete_deployed(
        project="string_example",  # optional
        project_id="string_example",  # optional
        session_id="string_example",  # optional
        session_reference_id="string_example",  # optional
        parent_id="string_example",  # optional
        parent_reference_id="string_example",  # optional
        inputs={},  # optional
        source="string_example",  # optional
        metadata={},  # optional
        provider_api_keys={},  # optional
        num_samples=1,  # optional
        logprobs=1,  # optional
        stream=False,  # optional
        suffix="string_example",  # optional
        user="string_example",  # optional
        environment="string_example",  # optional
    )
    pprint(create_deployed_response.body)
    pprint(create_deployed_response.body["data"])
    pprint(create_deployed_response.body["provider_responses"])
    pprint(create_deployed_response.body["project_id"])
    pprint(create_deployed_response.body["num_samples"])
    pprint(create_deployed_response.body["logprobs"])
    pprint(create_deployed_response.body["suffix"])
    pprint(create_deployed_response.body["user"])
    pprint(create_deployed_response.body["usage"])
    pprint(create_deployed_response.body["metadata"])
    pprint(create_deployed_response.headers)
    pprint(create_deployed_response.status)
    pprint(create_deployed_response.round_trip_time)
except ApiException as e:
    print("Exception when calling CompletionsApi.create_deployed: %s\n" % e)
    pprint(e.body)
    if e.status == 422:
        pprint(e.body["detail"])
    pprint(e.headers)
    pprint(e.status)
    pprint(e.reason)
    pprint(e.round_trip_time)
"""

EXAMPLE_CREATE_EXPERIMENT = r"""
from pprint import pprint
from humanloop_native import Humanloop, ApiException

humanloop = Humanloop(
    openai_api_key="OPENAI_API_KEY",
    openai_azure_api_key="OPENAI_AZURE_API_KEY",
    openai_azure_endpoint_api_key="OPENAI_AZURE_ENDPOINT_API_KEY",
    ai21_api_key="AI21_API_KEY",
    mock_api_key="MOCK_API_KEY",
    anthropic_api_key="ANTHROPIC_API_KEY",
    cohere_api_key="COHERE_API_KEY",
    api_key="YOUR_API_KEY",
    host=HOST,
)

try:
    # Completion Experiment
    create_experiment_response = humanloop.complete_experiment(
        experiment_id="string_example",  # required
        project="string_example",  # optional
        project_id="string_example",  # optional
        session_id="string_example",  # optional
        session_reference_id="string_example",  # optional
        parent_id="string_example",  # optional
        parent_reference_id="string_example",  # optional
        inputs={},  # optional
        source="string_example",  # optional
        metadata={},  # optional
        provider_api_keys={},  # optional
        num_samples=1,  # optional
        logprobs=1,  # optional
        stream=False,  # optional
        suffix="string_example",  # optional
        user="string_example",  # optional
    )
    pprint(create_experiment_response.body)
    pprint(create_experiment_response.body["data"])
    pprint(create_experiment_response.body["provider_responses"])
    pprint(create_experiment_response.body["project_id"])
    pprint(create_experiment_response.body["num_samples"])
    pprint(create_experiment_response.body["logprobs"])
    pprint(create_experiment_response.body["suffix"])
    pprint(create_experiment_response.body["user"])
    pprint(create_experiment_response.body["usage"])
    pprint(create_experiment_response.body["metadata"])
    pprint(create_experiment_response.headers)
    pprint(create_experiment_response.status)
    pprint(create_experiment_response.round_trip_time)
except ApiException as e:
    print("Exception when calling CompletionsApi.create_experiment: %s\n" % e)
    pprint(e.body)
    if e.status == 422:
        pprint(e.body["detail"])
    pprint(e.headers)
    pprint(e.status)
    pprint(e.reason)
    pprint(e.round_trip_time)
"""

EXAMPLE_CREATE_MODEL_CONFIG = r"""
from pprint import pprint
from humanloop_native import Humanloop, ApiException

humanloop = Humanloop(
    openai_api_key="OPENAI_API_KEY",
    openai_azure_api_key="OPENAI_AZURE_API_KEY",
    openai_azure_endpoint_api_key="OPENAI_AZURE_ENDPOINT_API_KEY",
    ai21_api_key="AI21_API_KEY",
    mock_api_key="MOCK_API_KEY",
    anthropic_api_key="ANTHROPIC_API_KEY",
    cohere_api_key="COHERE_API_KEY",
    api_key="YOUR_API_KEY",
    host=HOST,
)

try:
    # Completion Model Config
    create_model_config_response = humanloop.complete_model_configuration(
        model_config_id="string_example",  # required
        project="string_example",  # optional
        project_id="string_example",  # optional
        session_id="string_example",  # optional
        session_reference_id="string_example",  # optional
        parent_id="string_example",  # optional
        parent_reference_id="string_example",  # optional
        inputs={},  # optional
        source="string_example",  # optional
        metadata={},  # optional
        provider_api_keys={},  # optional
        num_samples=1,  # optional
        logprobs=1,  # optional
        stream=False,  # optional
        suffix="string_example",  # optional
        user="string_example",  # optional
    )
    pprint(create_model_config_response.body)
    pprint(create_model_config_response.body["data"])
    pprint(create_model_config_response.body["provider_responses"])
    pprint(create_model_config_response.body["project_id"])
    pprint(create_model_config_response.body["num_samples"])
    pprint(create_model_config_response.body["logprobs"])
    pprint(create_model_config_response.body["suffix"])
    pprint(create_model_config_response.body["user"])
    pprint(create_model_config_response.body["usage"])
    pprint(create_model_config_response.body["metadata"])
    pprint(create_model_config_response.headers)
    pprint(create_model_config_response.status)
    pprint(create_model_config_response.round_trip_time)
except ApiException as e:
    print("Exception when calling CompletionsApi.create_model_config: %s\n" % e)
    pprint(e.body)
    if e.status == 422:
        pprint(e.body["detail"])
    pprint(e.headers)
    pprint(e.status)
    pprint(e.reason)
    pprint(e.round_trip_time)
"""

EXAMPLES = {
    "create": EXAMPLE_CREATE,
    "create_deployed": EXAMPLE_CREATE_DEPLOYED,
    "create_experiment": EXAMPLE_CREATE_EXPERIMENT,
    "create_model_config": EXAMPLE_CREATE_MODEL_CONFIG,
}
PATHS = {
    "create": "/v4/completion",
    "create_deployed": "/v4/completion-deployed",
    "create_experiment": "/v4/completion-experiment",
    "create_model_config": "/v4/completion-model-config",
}


def run_example(source, host):
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(source, "<seed example>", "exec"), {"__name__": "__seed_example__", "HOST": host})
    return output.getvalue()


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_seed_example_runs_as_is(srv, name):
    printed = run_example(EXAMPLES[name], srv.base_url)
    assert "Exception when calling" not in printed
    assert "Hello from the test server" in printed       # body / data
    assert "'pr_test'" in printed                         # project_id
    assert "'string_example'" in printed                  # suffix / user echoed
    assert "'generation_tokens'" in printed               # usage
    assert "\n200\n" in printed                           # status
    records = srv.requests()
    assert len(records) == 1 and records[0]["path"] == PATHS[name]
    headers = {n.lower(): v for n, v in records[0]["headers"]}
    assert headers["x-api-key"] == "YOUR_API_KEY"
    body = json.loads(records[0]["body"])
    assert body["stream"] is False and body["metadata"] == {} and body["num_samples"] == 1
    assert body["provider_api_keys"] == {
        "openai": "OPENAI_API_KEY", "openai_azure": "OPENAI_AZURE_API_KEY",
        "openai_azure_endpoint": "OPENAI_AZURE_ENDPOINT_API_KEY", "ai21": "AI21_API_KEY",
        "mock": "MOCK_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "cohere": "COHERE_API_KEY",
    }


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_seed_example_except_branch(srv, name):
    """The examples' except branch (a 422 with detail) works with our ApiException too."""
    detail = [{"loc": ["body", "project"], "msg": "field required", "type": "value_error.missing"}]
    srv.script([{"status": 422, "json": {"detail": detail}}])
    printed = run_example(EXAMPLES[name], srv.base_url)
    assert "Exception when calling CompletionsApi.%s" % name in printed
    assert "value_error.missing" in printed
    assert "Unprocessable Entity" in printed
