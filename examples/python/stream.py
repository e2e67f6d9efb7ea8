"""stream.py — streaming: a plain iterator of events, and the official SDK's async form
(`r = await humanloop.complete_stream(...)`, `async for tok in r.content`).

    HUMANLOOP_API_KEY=... PYTHONPATH=bindings/python python3 examples/python/stream.py
"""

import asyncio

from humanloop_native import Humanloop

MODEL_CONFIG = {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{question}}"}


def sync_stream(humanloop: Humanloop) -> None:
    # Each event is the JSON object the server sent; leaving the loop early closes the connection.
    for event in humanloop.complete_stream(project="libhumanloop-example", model_config=MODEL_CONFIG,
                                           inputs={"question": "Tell me about llamas."}):
        print(event["data"][0]["output"], end="", flush=True)
    print()


async def sdk_style_stream(humanloop: Humanloop) -> None:
    # The official SDK's code, unchanged: items are {"output": ..., "id": ...}.
    r = await humanloop.complete_stream(project="libhumanloop-example", model_config=MODEL_CONFIG,
                                        inputs={"question": "Tell me about llamas."})
    async for tok in r.content:
        print(tok["output"], end="", flush=True)
    print(f"  [status {r.status}, {r.headers.get('content-type')}]")


def main() -> None:
    with Humanloop() as humanloop:
        sync_stream(humanloop)
        asyncio.run(sdk_style_stream(humanloop))


if __name__ == "__main__":
    main()
