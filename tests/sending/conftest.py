"""Receivers for the end-to-end tests of the sending path.

One Starlette app (`Receiver`) serves every test, in two ways:

* on a real socket: uvicorn on 127.0.0.1 (a free port) in a background thread, shared by the
  session (`live_receiver`); deliveries go through `AiohttpStack` or `HttpxStack` (`stack`);
* in-process: the same app behind ``httpx.ASGITransport`` (`asgi`), for tests about the
  queue, the clock and the signatures rather than the socket.

Each test asks the receiver for its own `Endpoint` (a fresh path) with a script of replies;
the endpoint records every request it received (headers, body bytes) and how many were in
flight at once. Nothing here talks to any address but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from uvicorn_threads import loopback_socket, serve_in_thread
from webhook_kit import (
    AttemptRecord,
    MemoryQueue,
    RetryPolicy,
    VirtualClock,
    WebhookSubscription,
)
from webhook_kit.http_stacks import NetworkStack
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
from webhook_kit.http_stacks.httpx_stack import HttpxStack
from webhook_kit.keys import SecretOrSecrets

START = 1_700_000_000.0
SECRET = "whsec_" + "c2VuZGluZy1wYXRoLWUyZS1rZXktMzItYnl0ZXMhIQ=="
PAYLOAD = {"order_id": 42, "note": "José ✓", "items": [{"sku": "A-1", "qty": 2}]}
TRICKLE_INTERVAL = 0.5


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        status: the HTTP status.
        body: the response body.
        headers: response headers.
        delay: real seconds to wait before answering (the request counts as in flight).
        trickle: if > 0, stream that many single bytes, one every `TRICKLE_INTERVAL` seconds.
        stream_bytes: if > 0, stream that many bytes without a Content-Length.
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: int = 0
    stream_bytes: int = 0


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it (header names in lower case, the raw query)."""

    path: str
    headers: dict[str, str]
    body: bytes
    query: bytes = b""

    @property
    def id(self) -> str:
        return self.headers["x-webhook-id"]


class Endpoint:
    """One path of the receiver: its script of replies and what it received.

    The script is played in order; once it runs out, its last reply repeats (so a script of
    one reply is "always answer this"). An empty script answers 200.
    """

    def __init__(self, base_url: str, path: str, replies: list[Reply]) -> None:
        self.path = path
        self.url = base_url + path
        self._script = list(replies)
        self._last = Reply()
        self.requests: list[Received] = []
        self.completed: list[str] = []  # ids of requests answered (after their delay)
        self.in_flight = 0
        self.max_in_flight = 0

    def next_reply(self) -> Reply:
        if self._script:
            self._last = self._script.pop(0)
        return self._last

    @property
    def ids(self) -> list[str]:
        return [request.id for request in self.requests]


def as_reply(reply: int | Reply) -> Reply:
    return reply if isinstance(reply, Reply) else Reply(reply)


class Receiver:
    """A Starlette app that answers every POST path from that path's `Endpoint`."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.endpoints: dict[str, Endpoint] = {}
        self.unrouted: list[Received] = []
        self._numbers = itertools.count(1)
        self.app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["POST", "GET", "PUT"])]
        )

    def endpoint(self, *replies: int | Reply) -> Endpoint:
        """A fresh path answering with ``replies`` (see `Endpoint`)."""
        path = f"/hooks/{next(self._numbers)}"
        endpoint = Endpoint(self.base_url, path, [as_reply(reply) for reply in replies])
        self.endpoints[path] = endpoint
        return endpoint

    async def _handle(self, request: Request) -> Response:
        received = Received(
            request.url.path,
            dict(request.headers),
            await request.body(),
            request.scope.get("query_string", b""),
        )
        endpoint = self.endpoints.get(received.path)
        if endpoint is None:
            self.unrouted.append(received)
            return Response(b"no such endpoint", status_code=404)
        endpoint.requests.append(received)
        endpoint.in_flight += 1
        endpoint.max_in_flight = max(endpoint.max_in_flight, endpoint.in_flight)
        try:
            reply = endpoint.next_reply()
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            endpoint.in_flight -= 1
        endpoint.completed.append(received.headers.get("x-webhook-id", ""))
        if reply.trickle:
            return StreamingResponse(_trickle(reply.trickle), status_code=reply.status)
        if reply.stream_bytes:
            return StreamingResponse(_stream(reply.stream_bytes), status_code=reply.status)
        return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))


async def _trickle(count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"t"
        await asyncio.sleep(TRICKLE_INTERVAL)


async def _stream(size: int) -> AsyncIterator[bytes]:
    chunk = b"x" * 65536
    sent = 0
    while sent < size:
        part = chunk[: size - sent]
        sent += len(part)
        yield part
        await asyncio.sleep(0)  # let Starlette notice a client that hung up


@contextmanager
def serve(receiver_for: Callable[[str], Receiver]) -> Iterator[Receiver]:
    """Serve a `Receiver` with uvicorn on 127.0.0.1 (a free port) in a thread."""
    sock = loopback_socket()
    receiver = receiver_for(f"http://127.0.0.1:{sock.getsockname()[1]}")
    with serve_in_thread(receiver.app, sock):
        yield receiver


@dataclass
class InProcess:
    """The receiver behind ``httpx.ASGITransport``: ``client`` reaches it without a socket."""

    receiver: Receiver
    client: httpx.AsyncClient


def exact(
    *,
    max_attempts: int = 8,
    base_delay: float = 60.0,
    factor: float = 2.0,
    max_delay: float = 6 * 3600.0,
) -> RetryPolicy:
    """A retry policy without jitter, so the schedule is exact."""
    return RetryPolicy(
        max_attempts=max_attempts,
        base_delay=base_delay,
        factor=factor,
        max_delay=max_delay,
        jitter=0,
    )


def to(endpoint: Endpoint, secret: SecretOrSecrets = SECRET) -> WebhookSubscription:
    """A subscription to ``endpoint`` (loopback allowed), with an exact retry policy."""
    return (
        WebhookSubscription(endpoint.url, secret).allow_private_targets(True).retry_policy(exact())
    )


async def wait_for_requests(endpoint: Endpoint, count: int) -> None:
    """Return once ``endpoint`` has received ``count`` requests (bound it with a deadline)."""
    while True:
        if len(endpoint.requests) >= count:
            return
        await anyio.sleep(0.005)


def gaps(history: list[AttemptRecord]) -> list[float]:
    """Seconds between the starts of consecutive attempts."""
    starts = [record.started_at for record in history]
    return [later - earlier for earlier, later in itertools.pairwise(starts)]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def live_receiver() -> Iterator[Receiver]:
    """The receiver on a real socket, 127.0.0.1, shared by the session (a path per test)."""
    with serve(Receiver) as receiver:
        yield receiver


@pytest.fixture
async def asgi() -> AsyncIterator[InProcess]:
    """A fresh receiver reached in-process through ``httpx.ASGITransport``."""
    receiver = Receiver("http://receiver.test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(receiver.app)) as client:
        yield InProcess(receiver, client)


STACKS: dict[str, Callable[[], NetworkStack]] = {"aiohttp": AiohttpStack, "httpx": HttpxStack}


@pytest.fixture(params=sorted(STACKS))
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[NetworkStack]:
    """Each network stack in turn, closed after the test."""
    built = STACKS[request.param]()
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def queue(clock: VirtualClock) -> MemoryQueue:
    return MemoryQueue(clock=clock)
