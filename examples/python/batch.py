"""batch.py — complete_batch: many calls, at most `concurrency` in flight, the results in order;
a failed call is returned as its exception (not raised), so one failure does not lose the rest.

    HUMANLOOP_API_KEY=... PYTHONPATH=bindings/python python3 examples/python/batch.py
"""

import sys

from humanloop_native import Humanloop, HumanloopError

MODEL_CONFIG = {"model": "gpt-3.5-turbo-instruct", "prompt_template": "{{question}}"}


def main() -> int:
    questions = [f"question {i}" for i in range(20)]
    requests = [{"call": "complete", "project": "libhumanloop-example", "model_config": MODEL_CONFIG,
                 "inputs": {"question": q}, "max_retries": 1} for q in questions]
    requests.append({"call": "complete_deployed", "project": "libhumanloop-example", "num_samples": "two"})

    with Humanloop() as humanloop:
        # progress=True shows done/total, failures and requests/s on stderr (a line on a terminal,
        # else a log line every 10 s); checkpoint="batch.ckpt" would let a rerun send only the rest,
        # and humanloop.iter_batch(...) yields (index, result) as each finishes.
        results = humanloop.complete_batch(requests, concurrency=5, progress=False)

    failures = 0
    for i, result in enumerate(results):
        if isinstance(result, HumanloopError):
            failures += 1
            print(f"{i:2} failed: {type(result).__name__}: {result}")
        else:
            print(f"{i:2} ok: {result.body['data'][0]['inputs']['question']}")
    print(f"{len(results) - failures} of {len(results)} succeeded")
    return 0 if failures == 1 else 1   # the last request is bad on purpose


if __name__ == "__main__":
    sys.exit(main())
