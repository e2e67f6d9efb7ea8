"""async_calls.py — asyncio: many calls at once on the library's engine (no thread per call),
a timeout with asyncio.wait_for, and cancelling a task (which cancels its transfer).

    HUMANLOOP_API_KEY=... PYTHONPATH=bindings/python python3 examples/python/async_calls.py
"""

import asyncio
import time

from humanloop_native import Humanloop


async def main() -> None:
    with Humanloop() as humanloop:
        start = time.monotonic()
        responses = await asyncio.gather(*(
            humanloop.acomplete_deployed(project="libhumanloop-example", inputs={"question": f"q{i}"})
            for i in range(50)))
        print(f"{len(responses)} answers in {time.monotonic() - start:.2f} s;",
              "first:", responses[0].body["data"][0]["output"])

        # asyncio's own timeout works (and cancels the transfer); so does a per-call timeout=.
        response = await asyncio.wait_for(
            humanloop.acomplete_deployed(project="libhumanloop-example", timeout=10), timeout=30)
        print("within the deadline:", response.status)

        # Cancelling a task cancels its call.
        task = asyncio.create_task(humanloop.acomplete_deployed(project="libhumanloop-example"))
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            print("the task was cancelled")

        # Async streams: `async for` over whole events.
        stream = humanloop.acomplete_deployed_stream(project="libhumanloop-example")
        async for event in stream:
            print(event["data"][0]["output"], end="", flush=True)
        print()


if __name__ == "__main__":
    asyncio.run(main())
