#!/usr/bin/env python3
"""A loopback HTTP/1.1 server for bench/go: answers every POST after --delay seconds (default
0.05) with one fixed JSON body (the test server's answer to the bench request), keep-alive, and
holds any number of requests at once (asyncio protocol, one timer per request, no thread).

    python3 bench/go/server.py [--port 0] [--delay 0.05]

Prints PORT=<n> when ready and serves until stdin reaches EOF. GET /stats answers
{"requests":n,"max_in_flight":m,"connections":c} and resets max_in_flight.
Standard library only.
"""
import argparse
import asyncio
import json
import resource
import sys

BODY = (b'{"data":[{"id":"data_0","index":0,"output":"Hello from the test server",'
        b'"raw_output":" Hello from the test server\\n","inputs":{"what":"hello"},'
        b'"model_config_id":"config_test","finish_reason":"stop"}],'
        b'"provider_responses":[{"id":"cmpl-test-0","object":"text_completion","created":1697000000,'
        b'"model":"gpt-test","choices":[{"text":" Hello from the test server\\n","index":0,'
        b'"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":6,'
        b'"total_tokens":13}}],"project_id":"pr_test","num_samples":1,'
        b'"usage":{"prompt_tokens":7,"generation_tokens":6,"total_tokens":13}}')
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)

stats = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "connections": 0}


class Handler(asyncio.Protocol):
    def __init__(self, delay):
        self.delay = delay
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        stats["connections"] += 1

    def connection_lost(self, exc):
        stats["connections"] -= 1
        self.transport = None

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            if head.startswith(b"GET /stats"):
                body = json.dumps(stats).encode()
                stats["max_in_flight"] = stats["in_flight"]
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                     + str(len(body)).encode() + b"\r\n\r\n" + body)
                continue
            stats["requests"] += 1
            stats["in_flight"] += 1
            if stats["in_flight"] > stats["max_in_flight"]:
                stats["max_in_flight"] = stats["in_flight"]
            asyncio.get_running_loop().call_later(self.delay, self.answer)

    def answer(self):
        stats["in_flight"] -= 1
        if self.transport is not None:
            self.transport.write(RESPONSE)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.05)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(args.delay), "127.0.0.1", args.port, backlog=4096)
    print("PORT=%d" % server.sockets[0].getsockname()[1], flush=True)
    stdin_eof = loop.create_future()

    def wait_stdin():
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stdin_eof.set_result, None)

    loop.run_in_executor(None, wait_stdin)
    await stdin_eof
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
