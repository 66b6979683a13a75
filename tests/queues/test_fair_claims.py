"""Fair claims on real sockets: a slow endpoint's backlog never stalls another endpoint.

200 deliveries wait for an endpoint that never answers (5 s timeout), then 10 for a healthy
one; the worker runs 8 attempts at once. A claim round gives the hanging endpoint only its
share and leaves the rest of its backlog in the queue, so every healthy delivery arrives while
the first hanging attempts are still open: before any of them has timed out. The order of
events proves it (no hanging attempt is recorded yet when the last healthy one arrives), not
a stopwatch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import anyio
import pytest

from webhook_kit import (
    MemoryQueue,
    PostgresQueue,
    RetryPolicy,
    SQLiteQueue,
    WebhookSubscription,
    Worker,
)
from webhook_kit.events import endpoint_of
from webhook_kit.queues import ClaimLimits, WebhookQueue
from webhook_kit.queues.fair_claims import (
    FairRounds,
    by_heads,
    left_after,
    may_cap,
    over_allowances,
)
from webhook_kit.testing import Delay, MockReceiver

pytestmark = pytest.mark.anyio

SECRET = "fair-claims-secret"
HANGING_JOBS = 200
HEALTHY_JOBS = 10
CONCURRENCY = 8
WAIT = 60  # seconds: a generous bound for a busy machine, never a figure under test


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WebhookQueue]:
    if request.param == "memory":
        yield MemoryQueue()
        return
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")  # emptied for this test
        async with PostgresQueue(url) as postgres:
            yield postgres
        return
    sqlite = SQLiteQueue(tmp_path / "queue.sqlite3")
    try:
        yield sqlite
    finally:
        sqlite.close()


@pytest.fixture
def receivers() -> Iterator[tuple[MockReceiver, str, MockReceiver, str]]:
    hanging = MockReceiver().script([Delay(8)])  # never answers within the 5 s timeout
    healthy = MockReceiver()
    with ExitStack() as stack:
        hanging_url = stack.enter_context(hanging.serve_in_thread())
        healthy_url = stack.enter_context(healthy.serve_in_thread())
        yield hanging, hanging_url, healthy, healthy_url


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (the receiver runs in another thread), at most `WAIT` seconds."""
    with anyio.fail_after(WAIT):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)


async def test_a_backlog_on_a_hanging_endpoint_does_not_delay_a_healthy_one(
    queue: WebhookQueue, receivers: tuple[MockReceiver, str, MockReceiver, str]
) -> None:
    _, hanging_url, healthy, healthy_url = receivers
    await WebhookSubscription.register(queue)
    stuck = (
        WebhookSubscription(hanging_url, SECRET)
        .allow_private_targets(True)
        .timeout(5)
        .retry_policy(RetryPolicy(max_attempts=1))
    )
    hanging_ids = [
        await stuck.dispatch(queue, "order.created", {"n": n}) for n in range(HANGING_JOBS)
    ]
    fine = WebhookSubscription(healthy_url, SECRET).allow_private_targets(True).timeout(30)
    for n in range(HEALTHY_JOBS):
        await fine.dispatch(queue, "order.created", {"n": n})

    worker = Worker(queue, concurrency=CONCURRENCY)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker.run)
        await until(lambda: len(healthy.deliveries) >= HEALTHY_JOBS)
        # The hanging endpoint's first attempts are still open: none has timed out yet.
        timed_out = [i for i in hanging_ids[:CONCURRENCY] if await queue.history(i)]
        assert worker.health is not None
        [hanging_in_flight] = [
            status.in_flight
            for status in worker.health.status()
            if status.endpoint == endpoint_of(hanging_url)
        ]
        await worker.stop()  # the hanging attempts end at their timeout
    healthy.assert_delivered(times=HEALTHY_JOBS)
    assert timed_out == [], "a hanging attempt timed out before the healthy deliveries arrived"
    # It was tried, with no more than its share of the slots (a quarter by default).
    assert 1 <= hanging_in_flight <= CONCURRENCY // 4


def test_by_heads_takes_endpoints_by_their_earliest_due_job() -> None:
    limits = ClaimLimits(default=3, per_endpoint={"slow": 1, "held": 0})
    heads = [("late", 9.0), ("slow", 1.0), ("held", 0.5), ("fast", 2.0)]
    assert by_heads(heads, limits, limit=8) == [("slow", 1), ("fast", 3), ("late", 3)]
    assert by_heads(heads, limits, limit=2) == [("slow", 1), ("fast", 2), ("late", 2)]
    assert by_heads([], limits, limit=2) == []


def test_allowances_below_the_limit_may_cap_a_plain_round() -> None:
    assert not may_cap(8, ClaimLimits(default=8, per_endpoint={"a": 9}))
    assert may_cap(8, ClaimLimits(default=8, per_endpoint={"a": 0}))
    assert may_cap(8, ClaimLimits(default=7))
    limits = ClaimLimits(default=2, per_endpoint={"slow": 1})
    assert over_allowances([("slow", 1), ("fast", 2)], limits) == 0
    assert over_allowances([("slow", 2), ("fast", 3), ("other", 1)], limits) == 2


def test_left_after_takes_off_what_a_round_took() -> None:
    limits = ClaimLimits(default=3, per_endpoint={"slow": 1})
    left = left_after(["slow", "fast", "fast"], limits)
    assert (left.allowance("slow"), left.allowance("fast"), left.allowance("new")) == (0, 1, 3)


def test_fair_rounds_remember_what_the_last_claim_needed() -> None:
    rounds = FairRounds()
    capping = ClaimLimits(default=3, per_endpoint={"slow": 0})
    assert not rounds.starts_fair(8, capping)  # a plain round first
    rounds.finished(1, "https://m.example/")
    assert rounds.starts_fair(8, capping)
    assert rounds.after == "https://m.example/"  # the next window starts after it
    assert not rounds.starts_fair(2, ClaimLimits(default=2))  # nothing can cap: plain
    rounds.finished(0, None)
    assert not rounds.starts_fair(8, capping)
    assert rounds.after == ""
