"""complete.py — one completion and one stream from Python, through libhumanloop.

    make && HUMANLOOP_API_KEY=... PYTHONPATH=bindings/python python3 examples/complete.py
    (or after `pip install bindings/python`: python3 examples/complete.py)

HUMANLOOP_HOST selects another server (examples/run-against-test-server.sh sets both).
"""

import sys

from humanloop_native import ApiException, HumanloopError, Humanloop

MODEL_CONFIG = {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{question}}", "temperature": 0.7}


def main() -> int:
    with Humanloop() as humanloop:  # api_key and host from HUMANLOOP_API_KEY / HUMANLOOP_HOST
        try:
            response = humanloop.complete(project="libhumanloop-example", model_config=MODEL_CONFIG,
                                          inputs={"question": "What do llamas eat?"})
            print(response.status, response.body["data"][0]["output"])

            for event in humanloop.complete_stream(project="libhumanloop-example", model_config=MODEL_CONFIG,
                                                   inputs={"question": "Tell me about llamas."}):
                print(event["data"][0]["output"], end="", flush=True)
            print()
        except ApiException as e:
            print(f"the server answered {e.status} {e.reason}: {e.body}", file=sys.stderr)
            return 2
        except HumanloopError as e:  # connection, timeout, invalid request or response
            print(f"{type(e).__name__}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
