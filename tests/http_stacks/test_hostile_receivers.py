"""Hostile receivers against both network stacks, through a real `Worker` and `MemoryQueue`.

Each receiver is a raw asyncio server on 127.0.0.1 (see `hostile`): one that never answers,
one that trickles its answer a byte every few seconds, endless and oversized bodies, endless
redirects, an ``https://`` target whose TLS handshake never starts, and malformed HTTP. For each,
on each stack, one delivery goes to the hostile receiver and then a second, healthy one to a
receiver that answers 200, through a worker that makes one attempt at a time, and:

* the hostile attempt returns or raises within its timeout (``total``, or ``connect`` for the
  TLS handshake) plus a generous `SLACK` (one scenario allows aiohttp more: see
  ``one-byte-chunks``), measured around ``stack.post`` with `time.monotonic` — far sooner than
  any of these receivers would let an unbounded attempt go;
* its `tracemalloc` peak stays under `MEMORY_LIMIT` (an endless body is not buffered);
* it is classified as the delivery rules say: a failure below HTTP is a `TransportError` of
  the expected kind, recorded as ``"<kind>: <message>"`` in the `AttemptRecord` and retried
  (`RetryAt`: the delivery is pending, due after the policy's delay); a 3xx is not followed
  and dead-letters as `delivery.classify` says; nothing is an unexpected exception;
* the worker keeps going: the healthy delivery, attempted after the hostile one, is delivered.

A last test points one worker per stack at every hostile receiver at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from hostile import (
    BLOCK,
    Behaviour,
    MeasuredStack,
    Measurement,
    MiB,
    Receiver,
    answer_ok,
    endless_body,
    endless_head,
    gzip_bomb,
    interim_forever,
    never_answer,
    raw_reply,
    redirect,
    serve,
    tls_stall,
    trickle,
)
from loopback import StackFactory

from webhook_kit import (
    AttemptRecord,
    MemoryQueue,
    QueueCounts,
    RetryPolicy,
    WebhookSubscription,
    Worker,
)
from webhook_kit.http_stacks import (
    DEFAULT_MAX_RESPONSE_BYTES,
    NetworkStack,
    TransportError,
    TransportErrorKind,
)
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
from webhook_kit.http_stacks.httpx_stack import HttpxStack

pytestmark = pytest.mark.anyio

CONNECT = 0.5
"""Seconds to connect: bounds the stalled TLS handshake."""
TOTAL = 1.0
"""Seconds for a whole attempt that only its timeout can end (a silent or trickling receiver)."""
ROOMY_TOTAL = 30.0
"""Seconds for an attempt that must end on its own first (at the response cap, on malformed
HTTP, a closed connection or an answer), so that a loaded machine cannot turn it into a timeout."""
SLACK = 5.0
"""How far past its timeout an attempt may end (scheduling, closing the connection): generous,
so that a loaded machine cannot fail the test. Every hostile receiver holds an unbounded attempt
for a minute or more (`TRICKLE_INTERVAL`), so an attempt its timeout does not end still fails."""
ONE_READ_SLACK = 10.0
"""aiohttp's allowance against one-byte chunks (see the scenario): one socket read of them is
tens of thousands of calls it makes without a pause, several times slower under tracemalloc."""
CROWD_SLACK = 15.0
"""The same with every hostile receiver on one event loop at once."""
TRICKLE_INTERVAL = 3.0
"""Seconds between the bytes a trickling receiver sends: its 20-byte body alone takes a minute."""
WAIT = 60.0
"""The bound on waiting for an event (a worker's attempts, a receiver's hang-up)."""
MEMORY_LIMIT = 6 * MiB
"""The tracemalloc peak of one attempt, the receiver's own writes included."""
RETRY_DELAY = 60.0
"""The policy's first backoff: a retried delivery is due this long after its attempt."""

SECRET = "whsec_aG9zdGlsZS1yZWNlaXZlcnMtdGVzdC1rZXktMzJieSE="
EVENT = "order.created"
PAYLOAD = {"order_id": 7}

TIMEOUT = TransportErrorKind.TIMEOUT
TOO_LARGE = TransportErrorKind.RESPONSE_TOO_LARGE
PROTOCOL = TransportErrorKind.PROTOCOL
LOST = TransportErrorKind.CONNECTION_LOST

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\n"
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
BOMB_MIB = 48


@dataclass(frozen=True)
class Scenario:
    """One hostile receiver and what an attempt against it must come to.

    Attributes:
        id: the test id.
        behaviour: the receiver.
        kinds: the `TransportErrorKind` the attempt may fail with (empty: it gets an answer).
        status: the status of that answer.
        tls: the target is ``https://``; the attempt is bounded by ``connect``.
        cut_off: the receiver streams without end: the attempt must close its connection.
        aiohttp_slack: the slack on the aiohttp stack, if not `SLACK`.
    """

    id: str
    behaviour: Behaviour
    kinds: frozenset[TransportErrorKind] = frozenset()
    status: int | None = None
    tls: bool = False
    cut_off: bool = False
    aiohttp_slack: float = SLACK

    def url(self, port: int) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}/hook"

    @property
    def total(self) -> float:
        """The attempt's total timeout: `TOTAL` where the timeout is what ends it."""
        return TOTAL if TIMEOUT in self.kinds else ROOMY_TOTAL

    @property
    def bound(self) -> float:
        """The timeout the attempt must end within (before `SLACK`)."""
        return CONNECT if self.tls else self.total

    def slack(self, stack: str) -> float:
        """How far past `bound` an attempt on ``stack`` may end."""
        return self.aiohttp_slack if stack == "aiohttp" else SLACK


def failing(id: str, behaviour: Behaviour, *kinds: TransportErrorKind, **options: Any) -> Scenario:
    return Scenario(id, behaviour, kinds=frozenset(kinds), **options)


def next_hop(port: int, number: int) -> str:
    return f"http://127.0.0.1:{port}/hop/{number + 1}"


SCENARIOS = [
    # 1. Accepts the connection, takes the request and never answers.
    failing("silent", never_answer, TIMEOUT),
    # 2. A valid response, a byte every TRICKLE_INTERVAL: from its status line, or after its head.
    failing(
        "trickle-whole-response", trickle(OK_HEAD, b"t" * 20, interval=TRICKLE_INTERVAL), TIMEOUT
    ),
    failing(
        "trickle-body",
        trickle(OK_HEAD, b"t" * 20, head_at_once=True, interval=TRICKLE_INTERVAL),
        TIMEOUT,
    ),
    # ... and a receiver that keeps the attempt busy with interim responses, never a final one.
    failing("100-continue-forever", interim_forever(0.05), TIMEOUT),
    # 3. Bodies far past the response cap.
    failing(
        "endless-chunked-body",
        endless_body(CHUNKED_HEAD, b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK)),
        TOO_LARGE,
        cut_off=True,
    ),
    failing(
        "huge-content-length",
        endless_body(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % 2**40, BLOCK),
        TOO_LARGE,
        cut_off=True,
    ),
    failing(
        "endless-body-until-close",
        endless_body(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", BLOCK),
        TOO_LARGE,
        cut_off=True,
    ),
    # One-byte chunks: reaching the cap means parsing 64 Ki chunks, which the deadline may
    # cut short first (tracemalloc slows the parsers): too large or timed out, both retried.
    # The httpx stack pauses every 64 chunks, so its deadline holds to the usual slack;
    # aiohttp's C parser feeds each chunk of a socket read (up to 256 KiB: ~43 Ki chunks) to
    # the body stream in one callback: ~0.15 s with no pause, several times that here.
    failing(
        "one-byte-chunks",
        endless_body(CHUNKED_HEAD, b"1\r\nx\r\n" * 8192),
        TOO_LARGE,
        TIMEOUT,
        cut_off=True,
        aiohttp_slack=ONE_READ_SLACK,
    ),
    # A small gzip body that would inflate to 48 MiB: read raw (never inflated), so delivered.
    Scenario("gzip-bomb", gzip_bomb(BOMB_MIB), status=200),
    # 4. Endless redirect chains: never followed, so one request; a 3xx dead-letters.
    Scenario("redirect-302-to-itself", redirect(302, lambda port, _: "/hook"), status=302),
    Scenario("redirect-302-to-the-next-hop", redirect(302, next_hop), status=302),
    Scenario("redirect-307-to-the-next-hop", redirect(307, next_hop), status=307),
    # 5. https://: the server accepts TCP and never answers the ClientHello.
    failing("tls-handshake-stalls", tls_stall, TIMEOUT, tls=True),
    # 6. Malformed HTTP.
    failing(
        "garbage-status-line",
        raw_reply(b"HTTP/1.1 abc Broken\r\nContent-Length: 0\r\n\r\n", then_close=False),
        PROTOCOL,
    ),
    failing(
        "binary-garbage",
        raw_reply(b"\x00\x01\x02\xff\xfe garbage\r\n\r\n", then_close=False),
        PROTOCOL,
    ),
    failing(
        "nul-in-a-header-value",
        raw_reply(
            b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 0\r\n\r\n", then_close=False
        ),
        PROTOCOL,
    ),
    failing(
        "space-in-a-header-name",
        raw_reply(b"HTTP/1.1 200 OK\r\nX Bad: a\r\nContent-Length: 0\r\n\r\n", then_close=False),
        PROTOCOL,
    ),
    failing(
        "header-line-without-colon",
        raw_reply(
            b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n", then_close=False
        ),
        PROTOCOL,
    ),
    failing(
        "content-length-not-a-number",
        raw_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello", then_close=False),
        PROTOCOL,
    ),
    failing(
        "chunk-size-not-hex",
        raw_reply(CHUNKED_HEAD + b"zz\r\nhello\r\n0\r\n\r\n", then_close=False),
        PROTOCOL,
    ),
    failing(
        "endless-header-block",
        endless_head(b"X-Flood: " + b"f" * 100 + b"\r\n", header_lines=True),
        PROTOCOL,
        cut_off=True,
    ),
    failing(
        "endless-header-line", endless_head(BLOCK, header_lines=False), PROTOCOL, cut_off=True
    ),
    failing(
        "truncated-body",
        raw_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", then_close=True),
        LOST,
    ),
    failing(
        "truncated-chunked-body",
        raw_reply(CHUNKED_HEAD + b"5\r\nhel", then_close=True),
        LOST,
    ),
    failing("closed-mid-status-line", raw_reply(b"HTTP/1.1 2", then_close=True), LOST),
    failing(
        "closed-mid-headers",
        raw_reply(b"HTTP/1.1 200 OK\r\nContent-Type: te", then_close=True),
        LOST,
    ),
]


def subscription(
    url: str, *, total: float = TOTAL, connect: float = CONNECT
) -> WebhookSubscription:
    """A subscription to a loopback ``url``: exact backoff, several attempts left."""
    return (
        WebhookSubscription(url, SECRET)
        .allow_private_targets(True)
        .timeout(total, connect=connect)
        .retry_policy(RetryPolicy(max_attempts=5, base_delay=RETRY_DELAY, jitter=0))
    )


async def deliver(queue: MemoryQueue, ids: Iterable[str], *, concurrency: int) -> None:
    """Run a worker until each of ``ids`` has one attempt recorded, then stop it."""
    pending = list(ids)
    worker = Worker(queue, concurrency=concurrency)
    running = asyncio.create_task(worker.run())
    try:
        with anyio.fail_after(WAIT):
            while True:
                histories = [await queue.history(delivery_id) for delivery_id in pending]
                if all(histories) or running.done():
                    break
                await asyncio.sleep(0.01)
    finally:
        await worker.stop()
        await running  # a worker that failed fails the test here


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Errors logged during the test (an unexpected exception, an unhandled task failure)."""
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def describe(measurement: Measurement) -> str:
    if measurement.error is not None:
        error = measurement.error
        return f"{error.kind.value}" if isinstance(error, TransportError) else repr(error)
    assert measurement.response is not None
    return f"status {measurement.response.status}"


def check_classification(
    scenario: Scenario, measurement: Measurement, record: AttemptRecord, deadline: float
) -> None:
    """The attempt's raw result and its record agree with what ``scenario`` expects."""
    assert record.attempt == 1
    if scenario.kinds:
        error = measurement.error
        assert isinstance(error, TransportError), repr(error)
        assert error.kind in scenario.kinds, repr(error)
        # Recorded as a transport failure ("<kind>: <message>"), not as an unexpected exception.
        assert record.error == f"{error.kind.value}: {error}"
        assert (record.status, record.outcome) == (None, "retry")
    else:
        assert measurement.error is None, repr(measurement.error)
        assert measurement.response is not None
        assert record.error is None
        assert record.status == scenario.status == measurement.response.status
        assert record.outcome == ("delivered" if scenario.status == 200 else "dead")
    assert record.latency <= deadline


# --- one hostile receiver at a time ---------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.id)
async def test_a_hostile_receiver_costs_one_bounded_attempt(
    make_stack: StackFactory, scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    stack = MeasuredStack(make_stack())
    queue = MemoryQueue()
    await WebhookSubscription.register(queue, stack=stack)
    async with serve(scenario.behaviour) as hostile, serve(answer_ok) as healthy:
        hostile_id = await subscription(scenario.url(hostile.port), total=scenario.total).dispatch(
            queue, EVENT, PAYLOAD
        )
        healthy_url = f"http://127.0.0.1:{healthy.port}/hook"
        healthy_id = await subscription(healthy_url, total=10, connect=5).dispatch(
            queue, EVENT, PAYLOAD
        )
        # One attempt at a time: the healthy delivery is attempted after the hostile one ends,
        # and the memory peak traced is the hostile attempt's own.
        await deliver(queue, [hostile_id, healthy_id], concurrency=1)
        if scenario.cut_off:
            with anyio.fail_after(WAIT):
                await hostile.hung_up.wait()

    hostile_attempt, healthy_attempt = stack.measurements
    print(
        f"| {scenario.id} | {stack.name} | {hostile_attempt.seconds:.2f} s "
        f"| {(hostile_attempt.peak_bytes or 0) / MiB:.2f} MiB | {describe(hostile_attempt)} |"
    )
    assert hostile_attempt.url == scenario.url(hostile.port)

    # Bounded in time and memory.
    deadline = scenario.bound + scenario.slack(stack.name)
    assert hostile_attempt.seconds <= deadline
    assert hostile_attempt.peak_bytes is not None
    assert hostile_attempt.peak_bytes < MEMORY_LIMIT

    # Classified as the rules say.
    [record] = await queue.history(hostile_id)
    check_classification(scenario, hostile_attempt, record, deadline)
    counts = await queue.counts()
    if scenario.kinds:  # retried: pending, due one backoff after the attempt
        assert counts == QueueCounts(pending=1, due=0, in_flight=0, delivered=1, dead=0)
        due = await queue.next_due()
        assert due is not None
        assert RETRY_DELAY <= due - record.started_at <= RETRY_DELAY + deadline
    elif scenario.status == 200:
        assert counts == QueueCounts(pending=0, due=0, in_flight=0, delivered=2, dead=0)
    else:
        assert counts == QueueCounts(pending=0, due=0, in_flight=0, delivered=1, dead=1)
        [dead] = queue.dead_letters
        assert dead.id == hostile_id
        assert dead.last_status == scenario.status
        assert "a redirect (never followed)" in dead.reason
    assert errors_logged(caplog) == []

    # One connection, one request at most: no redirect followed, nothing resent.
    assert hostile.connections == 1
    assert len(hostile.requests) == (0 if scenario.tls else 1)
    if scenario.cut_off:
        # The attempt closed the streaming connection itself (not the pool, at the end).
        assert hostile.hung_up_at is not None
        assert stack.closed_at
        assert hostile.hung_up_at < stack.closed_at[0]
        assert hostile.sent < 32 * MiB
    if scenario.id == "gzip-bomb":
        assert hostile_attempt.response is not None
        body = hostile_attempt.response.body
        assert body[:2] == b"\x1f\x8b"  # still gzip: not inflated to 48 MiB
        assert len(body) <= DEFAULT_MAX_RESPONSE_BYTES

    # The worker kept going: the healthy delivery, attempted next, was delivered.
    assert healthy_attempt.url == healthy_url
    [healthy_record] = await queue.history(healthy_id)
    assert (healthy_record.status, healthy_record.outcome) == (200, "delivered")
    assert len(healthy.requests) == 1


# --- every hostile receiver at once ---------------------------------------------------------


async def crowd(make: Callable[[], NetworkStack]) -> tuple[float, list[str]]:
    """One worker, every scenario at once plus a healthy delivery; the longest attempt."""
    stack = MeasuredStack(make(), trace_memory=False)
    queue = MemoryQueue()
    await WebhookSubscription.register(queue, stack=stack)
    async with AsyncExitStack() as servers:
        receivers: list[Receiver] = [
            await servers.enter_async_context(serve(scenario.behaviour)) for scenario in SCENARIOS
        ]
        healthy = await servers.enter_async_context(serve(answer_ok))
        ids = [
            await subscription(scenario.url(receiver.port), total=scenario.total).dispatch(
                queue, EVENT, PAYLOAD
            )
            for scenario, receiver in zip(SCENARIOS, receivers, strict=True)
        ]
        healthy_id = await subscription(
            f"http://127.0.0.1:{healthy.port}/hook", total=10, connect=5
        ).dispatch(queue, EVENT, PAYLOAD)
        await deliver(queue, [*ids, healthy_id], concurrency=len(ids) + 1)

    by_url = {measurement.url: measurement for measurement in stack.measurements}
    failures: list[str] = []
    for scenario, receiver, delivery_id in zip(SCENARIOS, receivers, ids, strict=True):
        measurement = by_url[scenario.url(receiver.port)]
        [record] = await queue.history(delivery_id)
        try:
            deadline = scenario.bound + max(CROWD_SLACK, scenario.slack(stack.name))
            check_classification(scenario, measurement, record, deadline)
            assert measurement.seconds <= deadline
        except AssertionError as exc:
            failures.append(f"{stack.name} {scenario.id}: {describe(measurement)}: {exc}")
    [healthy_record] = await queue.history(healthy_id)
    if healthy_record.outcome != "delivered":
        failures.append(f"{stack.name}: the healthy delivery was not delivered")
    return max(measurement.seconds for measurement in stack.measurements), failures


async def test_one_worker_per_stack_against_every_hostile_receiver_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = time.monotonic()
    results = await asyncio.gather(crowd(AiohttpStack), crowd(HttpxStack))
    elapsed = time.monotonic() - started
    print(f"crowd: {elapsed:.2f} s; longest attempts {[f'{r[0]:.2f}' for r in results]}")
    assert [failure for _, failures in results for failure in failures] == []
    assert errors_logged(caplog) == []
