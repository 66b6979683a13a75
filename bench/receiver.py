"""A local receiver for the delivery benchmarks: uvicorn in its own process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

# Every path answers 200 "ok" at once, except paths ending in /hang: they never answer, and
# end when the client hangs up (its timeout), as a stuck receiver would look to the sender.
# Requests to paths ending in /timed have their arrival noted (time.monotonic(), the system-wide
# CLOCK_MONOTONIC on Linux, so comparable with the sender's) by X-Webhook-Id; GET /arrivals
# answers the notes as JSON and forgets them.
_APP = """
import asyncio
import json
import time

ARRIVALS = {}

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    path = scope["path"]
    if path.endswith("/timed"):
        arrived = time.monotonic()
        for name, value in scope["headers"]:
            if name == b"x-webhook-id":
                ARRIVALS[value.decode()] = arrived
    elif path == "/arrivals":
        body = json.dumps(ARRIVALS).encode()
        ARRIVALS.clear()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return
    if path.endswith("/hang"):
        try:
            await asyncio.wait_for(_hang_up(receive), 300)
        except asyncio.TimeoutError:
            pass
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})

async def _hang_up(receive):
    while (await receive())["type"] != "http.disconnect":
        pass
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_receiver(directory: Path) -> Iterator[str]:
    """Start a minimal ASGI app under uvicorn in a child process; yield its URL."""
    (directory / "bench_receiver_app.py").write_text(_APP)
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_receiver_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=directory,
        env={**os.environ, "PYTHONPATH": str(directory)},
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the benchmark receiver did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
