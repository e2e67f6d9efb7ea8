"""errors.py — the exceptions: HumanloopError is the catch-all; ApiException (the official SDK's
name) for answers with a non-2xx status; the others for requests that were never sent or never
answered.

    HUMANLOOP_API_KEY=... PYTHONPATH=bindings/python python3 examples/python/errors.py
"""

import asyncio
import os
import sys

from humanloop_native import (
    ApiConnectionError,
    ApiException,
    ApiTimeoutError,
    Humanloop,
    HumanloopError,
    InvalidRequestError,
)


def attempt(what: str, call) -> str:
    try:
        call()
        print(f"{what:30} -> ok")
        return "ok"
    except ApiException as e:             # the server answered 4xx/5xx (after retries of 408/409/429/5xx)
        print(f"{what:30} -> ApiException {e.status} {e.reason}: {e.body}")
    except InvalidRequestError as e:      # checked locally: nothing was sent
        print(f"{what:30} -> InvalidRequestError: {e}")
    except (ApiConnectionError, ApiTimeoutError) as e:   # never answered
        print(f"{what:30} -> {type(e).__name__}: {e}")
    except HumanloopError as e:           # anything else of the library (invalid response, ...)
        print(f"{what:30} -> {type(e).__name__}: {e}")
    return "error"


def main() -> int:
    host = os.environ.get("HUMANLOOP_HOST", "https://api.humanloop.com/v4")
    results = []
    with Humanloop(max_retries=0) as humanloop:
        results.append(attempt("a request without model_config",
                               lambda: humanloop.complete(project="p", model_config=None)))
        wrong = Humanloop(host=host.rsplit("/", 1)[0] + "/v5", max_retries=0)
        results.append(attempt("a wrong URL (404)", lambda: wrong.complete_deployed(project="p")))
        wrong.close()
        nowhere = Humanloop(host="http://127.0.0.1:1/v4", max_retries=0)
        results.append(attempt("nothing listening", lambda: nowhere.complete_deployed(project="p")))
        nowhere.close()

        # A configuration error speaks Python.
        try:
            Humanloop(api_key="k", timeout=-1)
        except HumanloopError as e:
            print(f"{'a bad configuration':30} -> {type(e).__name__}: {e}")
            results.append("error")

        # In asyncio the same exceptions are raised by the awaited call.
        async def async_failure() -> None:
            await humanloop.acomplete_deployed(project="p", extra_headers={"X-API-KEY": "no"})
        results.append(attempt("a header that cannot be set", lambda: asyncio.run(async_failure())))
    return 0 if results == ["error"] * 5 else 1


if __name__ == "__main__":
    sys.exit(main())
