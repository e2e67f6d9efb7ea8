"""blocking.py — blocking calls: the four endpoints, per-call options, with_options.

    HUMANLOOP_API_KEY=... PYTHONPATH=bindings/python python3 examples/python/blocking.py
    (HUMANLOOP_HOST selects another server; examples/run_all.sh runs this against the test server)
"""

from humanloop_native import Humanloop

MODEL_CONFIG = {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{question}}", "temperature": 0.7}


def main() -> None:
    with Humanloop() as humanloop:  # api_key and host from HUMANLOOP_API_KEY / HUMANLOOP_HOST
        response = humanloop.complete(project="libhumanloop-example", model_config=MODEL_CONFIG,
                                      inputs={"question": "What do llamas eat?"})
        print(response.status, response.body["data"][0]["output"], f"({response.round_trip_time:.3f} s)")

        # Per-call options, named as in openai-python.
        response = humanloop.complete_deployed(project="libhumanloop-example", inputs={"question": "Hi"},
                                               timeout=30, max_retries=1,
                                               extra_headers={"X-Request-Source": "blocking.py"})
        print("deployed:", response.body["data"][0]["output"])

        # A client with other defaults, sharing the connections.
        patient = humanloop.with_options(timeout=120, max_retries=5)
        response = patient.complete_model_configuration(model_config_id="config_123", inputs={"question": "Hi"})
        print("model config:", response.body["data"][0]["output"])

        # The SDK's spelling works too.
        response = humanloop.completions.create_experiment(experiment_id="exp_123", inputs={"question": "Hi"})
        print("experiment:", response.body["data"][0]["output"])


if __name__ == "__main__":
    main()
