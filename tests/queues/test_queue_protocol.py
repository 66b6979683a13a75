"""The queue protocol suite: claims, leases and records, on each queue webhook-kit's `Worker` runs.

Every test here is parametrised over `QUEUE_FACTORIES` and exercises the `WebhookQueue`
protocol directly, on a `VirtualClock` (PostgreSQL's on the test session's database, its
tables emptied per test, with the clock time source). A new queue for webhook-kit's `Worker` is
added by appending one `QueueFactory`:

    QueueFactory(
        "mine",
        open=lambda clock, directory: MyQueue(directory / "store", clock=clock),  # empty
        peer=lambda queue: MyQueue(queue.path, clock=queue.clock),  # a 2nd worker's handle
        close=lambda queue: queue.close(),
    )

``open`` makes an empty queue, ``peer`` opens a second handle on the same store (what another
worker in this process or another would hold), and ``close`` releases what either acquired (it
may return an awaitable, awaited in the handle's event loop).

Behaviour covered: due-time ordering, retry at a time, dead letters and redrive (same id, the
attempts restart), attempt counting, recovery of an interrupted attempt (an expired lease makes
the job claimable again and the lost attempt counts), concurrent claimers never holding one
job at once while its lease is valid, a stale record after a lost lease, release, next_due,
counts, history, list_dead_letters, duplicate enqueues, fair rounds (back to plain rounds once
no allowance is exceeded, expired leases taken back, held endpoints untouched, every endpoint
visited however small the window), and dispatch: ``dispatch_sync`` works
and a ``connection=`` that is not a driver connection is refused. And what
every queue stores besides (`DeliveryStore`): redrive since a time, purging dead letters,
finding deliveries by an id's start, the next attempt due, pruning after the retention, and
endpoint health records; `test_every_delivery_store_method_is_exercised_here` fails when the
protocol gains a method no test here calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import random
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from queue_jobs import GRACE, START, TIMEOUT, attempt_of, claim_one, ids, make_event, record

from webhook_kit import (
    InvalidInputError,
    NetworkPolicy,
    RetryPolicy,
    SignatureFormat,
    WebhookSubscription,
    Worker,
)
from webhook_kit.clock import VirtualClock
from webhook_kit.events import WebhookEvent, endpoint_of
from webhook_kit.outcomes import AttemptRecord, DeadLetter, Delivered, Outcome, RetryAt
from webhook_kit.queues import (
    DEFAULT_RETENTION,
    Claim,
    ClaimLimits,
    DeliveryStore,
    EndpointRecord,
    LeaseQueue,
    MemoryQueue,
    PostgresQueue,
    QueueCounts,
    SQLiteQueue,
    UnknownDeliveryError,
    WebhookQueue,
)
from webhook_kit.queues.fair_claims import FairRounds
from webhook_kit.registrations import handler_of, secret_memory_of
from webhook_kit.testing import MockReceiver

LEASE = TIMEOUT + GRACE
SECRET = "conformance-suite-secret"
EMPTY = QueueCounts(pending=0, due=0, in_flight=0, delivered=0, dead=0)


# --- the queues under test -----------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFactory:
    """How the suite makes, shares and closes one kind of queue.

    Attributes:
        name: the test id.
        open: a new, empty queue on ``clock`` (``directory`` is the test's own tmp_path).
        peer: a second handle on the same store as ``queue``, as another worker would open it.
        close: release what ``open`` or ``peer`` acquired (called once per handle).
    """

    name: str
    open: Callable[[VirtualClock, Path], WebhookQueue]
    peer: Callable[[WebhookQueue], WebhookQueue]
    close: Callable[[WebhookQueue], Awaitable[None] | None]
    marks: tuple[pytest.MarkDecorator, ...] = ()


async def close_handle(factory: QueueFactory, handle: WebhookQueue) -> None:
    """``factory.close(handle)``, awaited if it returns an awaitable."""
    closing = factory.close(handle)
    if inspect.isawaitable(closing):
        await closing


def _sqlite_peer(queue: WebhookQueue) -> WebhookQueue:
    assert isinstance(queue, SQLiteQueue)
    return SQLiteQueue(queue.path, clock=queue.clock)


def _sqlite_close(queue: WebhookQueue) -> None:
    assert isinstance(queue, SQLiteQueue)
    queue.close()


def _postgres_peer(queue: WebhookQueue) -> WebhookQueue:
    assert isinstance(queue, PostgresQueue)
    return PostgresQueue(queue.conninfo, clock=queue.clock, schema=queue.schema, pool_size=2)


def _postgres_close(queue: WebhookQueue) -> Awaitable[None]:
    assert isinstance(queue, PostgresQueue)
    return queue.close()


def _needs_postgres(clock: VirtualClock, directory: Path) -> WebhookQueue:
    raise AssertionError("the factory fixture gives the PostgreSQL factory its database")


QUEUE_FACTORIES: list[QueueFactory] = [
    QueueFactory(
        "memory",
        open=lambda clock, directory: MemoryQueue(clock=clock),
        peer=lambda queue: queue,  # one process's memory: every handle is the queue itself
        close=lambda queue: None,
    ),
    QueueFactory(
        "sqlite",
        open=lambda clock, directory: SQLiteQueue(directory / "queue.sqlite3", clock=clock),
        peer=_sqlite_peer,
        close=_sqlite_close,
    ),
    QueueFactory(
        "postgresql",
        open=_needs_postgres,  # on the test session's database: see `factory`
        peer=_postgres_peer,
        close=_postgres_close,
        marks=(pytest.mark.postgresql,),
    ),
]
"""Every queue the suite runs on; add a backend by appending its factory."""


@pytest.fixture(
    params=[pytest.param(factory, marks=factory.marks) for factory in QUEUE_FACTORIES],
    ids=lambda factory: factory.name,
)
def factory(request: pytest.FixtureRequest) -> QueueFactory:
    param: QueueFactory = request.param
    if param.name == "postgresql":
        url: str = request.getfixturevalue("postgres_url")  # emptied for this test
        return dataclasses.replace(
            param,
            open=lambda clock, directory: PostgresQueue(url, clock=clock, pool_size=2),
        )
    return param


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def queue(
    factory: QueueFactory, clock: VirtualClock, tmp_path: Path
) -> AsyncIterator[WebhookQueue]:
    opened = factory.open(clock, tmp_path)
    try:
        yield opened
    finally:
        await close_handle(factory, opened)


pytestmark = pytest.mark.anyio


# --- helpers -------------------------------------------------------------------------------------


def rich_event() -> WebhookEvent:
    """An event with every field away from its default, to check what a queue keeps."""
    return WebhookEvent(
        id=str(uuid.uuid4()),
        event="invoice.paid",
        target_url="https://hooks.example.com/in?tenant=acme",
        body='{"note":"José ✓","amount":12.5,"items":[1,2,3]}',
        signature_format=SignatureFormat.STANDARD_WEBHOOKS,
        signature=None,
        created_at=START - 12.25,
        subscription_id="sub-42",
        headers=(("X-Tenant-Id", "acme"), ("X-Trace", "a b c")),
        timeout=7.5,
        connect_timeout=2.5,
        retry_status_codes=frozenset({409, 425}),
        retry_policy=RetryPolicy(max_attempts=3, base_delay=1, factor=3, max_delay=20, jitter=0),
        network=NetworkPolicy.from_networks(["10.20.0.0/16"]),
    )


def claim_from_threads(
    factory: QueueFactory, queue: WebhookQueue, *, threads: int, seed: int
) -> list[Claim]:
    """Claim everything due from ``threads`` threads at once, each through its own handle.

    Each thread runs its own event loop and claims small random batches until a claim comes
    back empty; every claim any thread got is returned.
    """
    barrier = threading.Barrier(threads)
    claimed: list[list[Claim]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    async def claim_until_empty(handle: WebhookQueue, index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        try:
            while batch := await handle.claim(rng.randint(1, 3), lease_grace=GRACE):
                claimed[index].extend(batch)
                await asyncio.sleep(0)
        finally:
            if handle is not queue:
                await close_handle(factory, handle)

    def run(index: int) -> None:
        try:
            handle = factory.peer(queue)
            barrier.wait(10)
            asyncio.run(claim_until_empty(handle, index))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert not any(worker.is_alive() for worker in workers), "a claiming thread hung"
    if errors:
        raise errors[0]
    return [claim for batch in claimed for claim in batch]


async def test_the_queue_implements_the_protocol(queue: WebhookQueue, clock: VirtualClock) -> None:
    assert isinstance(queue, DeliveryStore)
    assert isinstance(queue, LeaseQueue)
    assert WebhookQueue is LeaseQueue
    assert queue.clock is clock
    # The sending side's state is kept by this process for the queue, not in it.
    for attribute in ("handler", "secret_memory"):
        assert not hasattr(queue, attribute), attribute
    assert handler_of(queue) is None
    assert len(secret_memory_of(queue)) == 0


# --- ordering by due time ------------------------------------------------------------------------


async def test_claim_hands_out_due_jobs_earliest_due_first(queue: WebhookQueue) -> None:
    late, early, now = make_event("late"), make_event("early"), make_event("now")
    await queue.enqueue(late, not_before=START - 10)
    await queue.enqueue(now)
    await queue.enqueue(early, not_before=START - 100)
    claims = await queue.claim(10, lease_grace=GRACE)
    assert ids(claims) == [early.id, late.id, now.id]
    assert [claim.attempt for claim in claims] == [1, 1, 1]
    assert all(claim.lease_until == START + LEASE for claim in claims)
    assert len({claim.token for claim in claims}) == 3


async def test_jobs_due_at_the_same_time_are_claimed_in_enqueue_order(
    queue: WebhookQueue,
) -> None:
    events = [make_event(str(number)) for number in range(12)]
    for event in events:
        await queue.enqueue(event)
    assert ids(await queue.claim(100, lease_grace=GRACE)) == [event.id for event in events]


async def test_a_limited_claim_takes_the_earliest_due(queue: WebhookQueue) -> None:
    events = [make_event(str(number)) for number in range(6)]
    # Enqueued in an order unrelated to their due dates.
    for offset in (3, 0, 5, 1, 4, 2):
        await queue.enqueue(events[offset], not_before=START - 100 + offset)
    assert ids(await queue.claim(2, lease_grace=GRACE)) == [events[0].id, events[1].id]
    assert await queue.claim(0, lease_grace=GRACE) == []
    assert ids(await queue.claim(3, lease_grace=GRACE)) == [event.id for event in events[2:5]]
    assert ids(await queue.claim(10, lease_grace=GRACE)) == [events[5].id]
    assert await queue.claim(10, lease_grace=GRACE) == []


async def test_claim_never_hands_out_a_job_not_yet_due(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    second, first = make_event(), make_event()
    await queue.enqueue(second, not_before=START + 30)
    await queue.enqueue(first, not_before=START + 10)
    assert await queue.claim(10, lease_grace=GRACE) == []
    clock.advance(9.5)
    assert await queue.claim(10, lease_grace=GRACE) == []
    clock.advance(0.5)
    assert ids(await queue.claim(10, lease_grace=GRACE)) == [first.id]
    clock.advance(19)
    assert await queue.claim(10, lease_grace=GRACE) == []
    clock.advance(1)
    assert ids(await queue.claim(10, lease_grace=GRACE)) == [second.id]


async def test_the_lease_lasts_the_event_timeout_plus_the_grace(queue: WebhookQueue) -> None:
    await queue.enqueue(make_event(timeout=7.5))
    await queue.enqueue(make_event(timeout=60))
    short, long = await queue.claim(10, lease_grace=2)
    assert short.lease_until == START + 7.5 + 2
    assert long.lease_until == START + 60 + 2


async def test_the_claimed_event_is_the_enqueued_event(queue: WebhookQueue) -> None:
    event = rich_event()
    await queue.enqueue(event)
    claim = await claim_one(queue)
    assert claim.event == event
    assert claim.event.body_bytes == event.body_bytes


async def test_an_enqueued_job_is_visible_to_another_handle_on_return(
    factory: QueueFactory, queue: WebhookQueue
) -> None:
    event = rich_event()
    await queue.enqueue(event)
    peer = factory.peer(queue)
    try:
        assert await peer.counts() == QueueCounts(1, 1, 0, 0, 0)
        claim = await claim_one(peer)
        assert claim.event == event
        assert await queue.claim(10, lease_grace=GRACE) == []
        assert await record(peer, claim, Delivered(), status=200) is True
        assert (await queue.counts()).delivered == 1
    finally:
        if peer is not queue:
            await close_handle(factory, peer)


# --- outcomes: retry at a time, attempt counting, dead letters -----------------------------------


async def test_retry_at_makes_the_job_due_at_that_time(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event)
    first = await claim_one(queue)
    assert await record(queue, first, RetryAt(START + 300)) is True
    assert await queue.counts() == QueueCounts(pending=1, due=0, in_flight=0, delivered=0, dead=0)
    assert await queue.next_due() == START + 300
    clock.advance(299.5)
    assert await queue.claim(10, lease_grace=GRACE) == []
    clock.advance(0.5)
    assert (await queue.counts()).due == 1
    second = await claim_one(queue)
    assert second.event == event
    assert second.attempt == 2
    assert second.token != first.token
    assert [item.attempt for item in await queue.history(event.id)] == [1]


async def test_a_retry_in_the_past_is_due_at_once(queue: WebhookQueue) -> None:
    await queue.enqueue(make_event())
    claim = await claim_one(queue)
    await record(queue, claim, RetryAt(START - 60))
    assert (await claim_one(queue)).attempt == 2


async def test_retries_are_ordered_by_their_due_time_among_other_jobs(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    retried, fresh = make_event("retried"), make_event("fresh")
    await queue.enqueue(retried)
    claim = await claim_one(queue)
    await record(queue, claim, RetryAt(START + 10))
    await queue.enqueue(fresh, not_before=START + 20)
    clock.advance(30)
    assert ids(await queue.claim(10, lease_grace=GRACE)) == [retried.id, fresh.id]


async def test_attempts_are_counted_across_retries(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event)
    for expected in range(1, 6):
        claim = await claim_one(queue)
        assert claim.attempt == expected
        await record(queue, claim, RetryAt(clock.now() + 60), started_at=clock.now())
        clock.advance(60)
    last = await claim_one(queue)
    assert last.attempt == 6
    await record(queue, last, Delivered(), status=200, outcome="delivered", started_at=clock.now())
    assert [item.attempt for item in await queue.history(event.id)] == [1, 2, 3, 4, 5, 6]


async def test_delivered_is_final(queue: WebhookQueue, clock: VirtualClock) -> None:
    event = make_event()
    await queue.enqueue(event)
    claim = await claim_one(queue)
    attempt = attempt_of(claim, status=200, outcome="delivered", excerpt="ok")
    assert await queue.record(claim, Delivered(), attempt) is True
    assert await queue.counts() == QueueCounts(pending=0, due=0, in_flight=0, delivered=1, dead=0)
    assert await queue.history(event.id) == [attempt]
    assert await queue.next_due() is None
    clock.advance(10**6)
    assert await queue.claim(10, lease_grace=GRACE) == []
    assert await queue.list_dead_letters() == []


async def test_a_dead_letter_keeps_its_reason_and_last_attempt(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    event = rich_event()
    await queue.enqueue(event)
    first = await claim_one(queue)
    await record(queue, first, RetryAt(START + 60), status=503, excerpt="busy")
    clock.advance(60)
    second = await claim_one(queue)
    assert await record(
        queue,
        second,
        DeadLetter("the receiver answered 410 Gone", gone=True),
        status=410,
        excerpt="gone for good ✓",
        outcome="dead",
    )
    (dead,) = await queue.list_dead_letters()
    assert dead.event == event
    assert dead.id == event.id
    assert dead.reason == "the receiver answered 410 Gone"
    assert dead.gone is True
    assert dead.attempts == 2
    assert dead.dead_at == START + 60
    assert dead.last_status == 410
    assert dead.last_error is None
    assert dead.response_excerpt == "gone for good ✓"
    assert await queue.counts() == QueueCounts(pending=0, due=0, in_flight=0, delivered=0, dead=1)
    assert await queue.next_due() is None
    clock.advance(10**6)
    assert await queue.claim(10, lease_grace=GRACE) == []


async def test_a_dead_letter_after_a_transport_error_keeps_the_error(
    queue: WebhookQueue,
) -> None:
    await queue.enqueue(make_event())
    claim = await claim_one(queue)
    await record(queue, claim, DeadLetter("gave up"), status=None, error="connect: refused")
    (dead,) = await queue.list_dead_letters()
    assert (dead.last_status, dead.last_error, dead.gone) == (None, "connect: refused", False)
    assert dead.response_excerpt == ""


async def test_dead_letters_are_listed_oldest_first(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    events = [make_event("a"), make_event("b"), make_event("c")]
    for event in events:
        await queue.enqueue(event)
    first, second, third = await queue.claim(10, lease_grace=GRACE)
    await record(queue, second, DeadLetter("b"))
    clock.advance(1)
    await record(queue, third, DeadLetter("c"))
    clock.advance(1)
    await record(queue, first, DeadLetter("a"))
    listed = await queue.list_dead_letters()
    assert [dead.reason for dead in listed] == ["b", "c", "a"]
    assert [dead.dead_at for dead in listed] == [START, START + 1, START + 2]
    listed.clear()  # a copy: the queue's dead letters are untouched
    assert len(await queue.list_dead_letters()) == 3


# --- redrive -------------------------------------------------------------------------------------


async def test_redrive_sends_a_dead_letter_again_with_the_same_id_and_fresh_attempts(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    event = rich_event()
    await queue.enqueue(event)
    for step in range(3):
        claim = await claim_one(queue)
        assert claim.attempt == step + 1
        outcome: Outcome = RetryAt(clock.now() + 10) if step < 2 else DeadLetter("gave up")
        await record(queue, claim, outcome, started_at=clock.now())
        clock.advance(10)
    assert len(await queue.list_dead_letters()) == 1
    clock.advance(1000)
    await queue.redrive(event.id)
    assert await queue.list_dead_letters() == []
    assert await queue.counts() == QueueCounts(pending=1, due=1, in_flight=0, delivered=0, dead=0)
    assert await queue.next_due() == clock.now()
    again = await claim_one(queue)
    assert again.event == event
    assert again.event.id == event.id
    assert again.attempt == 1
    assert len(await queue.history(event.id)) == 3  # the earlier attempts are kept
    # Dead again: the count restarted with the redrive.
    await record(queue, again, DeadLetter("still failing"), started_at=clock.now())
    (dead,) = await queue.list_dead_letters()
    assert (dead.reason, dead.attempts, dead.dead_at) == ("still failing", 1, clock.now())
    assert [item.attempt for item in await queue.history(event.id)] == [1, 2, 3, 1]


async def test_redrive_of_an_unknown_or_live_delivery_raises_and_changes_nothing(
    queue: WebhookQueue,
) -> None:
    with pytest.raises(UnknownDeliveryError) as info:
        await queue.redrive("no-such-id")
    assert isinstance(info.value, KeyError)
    assert "no-such-id" in str(info.value)
    pending, in_flight, delivered = make_event(), make_event(), make_event()
    for event in (delivered, in_flight, pending):
        await queue.enqueue(event)
    delivered_claim, in_flight_claim = await queue.claim(2, lease_grace=GRACE)
    await record(queue, delivered_claim, Delivered(), status=200)
    before = await queue.counts()
    for event in (pending, in_flight, delivered):
        with pytest.raises(UnknownDeliveryError):
            await queue.redrive(event.id)
    assert await queue.counts() == before == QueueCounts(1, 1, 1, 1, 0)
    assert await record(queue, in_flight_claim, Delivered(), status=200) is True


async def test_a_dead_letter_is_redriven_once(queue: WebhookQueue) -> None:
    event = make_event()
    await queue.enqueue(event)
    await record(queue, await claim_one(queue), DeadLetter("no"))
    await queue.redrive(event.id)
    with pytest.raises(UnknownDeliveryError):
        await queue.redrive(event.id)
    assert len(await queue.claim(10, lease_grace=GRACE)) == 1


# --- what every queue stores: redrive since a time, purge, find, the next attempt, prune --------


async def dead_letters_at(
    queue: WebhookQueue, clock: VirtualClock, events: Sequence[WebhookEvent]
) -> None:
    """Enqueue ``events`` and dead-letter them one by one, 10 s apart (from START)."""
    for event in events:
        await queue.enqueue(event)
    for claim in await queue.claim(len(events), lease_grace=GRACE):
        await record(queue, claim, DeadLetter(f"dead {claim.event.event}"))
        clock.advance(10)


async def test_redrive_since_redrives_the_dead_letters_from_then_on(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    assert await queue.redrive_since(0) == 0
    events = [make_event(name) for name in ("a", "b", "c")]
    for event in events:
        await queue.enqueue(event)
    for claim in await queue.claim(3, lease_grace=GRACE):
        await record(queue, claim, RetryAt(START))
    for claim in await queue.claim(3, lease_grace=GRACE):  # dead at START, +10, +20
        await record(queue, claim, DeadLetter(f"dead {claim.event.event}"))
        clock.advance(10)

    assert await queue.redrive_since(START + 10) == 2

    assert [letter.id for letter in await queue.list_dead_letters()] == [events[0].id]
    assert await queue.next_due() == clock.now()  # due now
    redriven = await queue.claim(10, lease_grace=GRACE)
    assert [(claim.event, claim.attempt) for claim in redriven] == [(e, 1) for e in events[1:]]
    assert len(await queue.history(events[1].id)) == 2  # the earlier attempts are kept
    assert await queue.redrive_since(clock.now() + 1) == 0
    assert await queue.redrive_since(0) == 1
    assert await queue.list_dead_letters() == []


async def test_purge_deletes_dead_letters_before_a_time_and_nothing_else(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    assert await queue.purge_dead_letters() == 0
    dead = [make_event(name) for name in ("a", "b", "c")]
    await dead_letters_at(queue, clock, dead)  # dead at START, +10, +20
    pending, in_flight, delivered = make_event(), make_event(), make_event()
    for event in (delivered, in_flight):
        await queue.enqueue(event)
    delivered_claim, in_flight_claim = await queue.claim(2, lease_grace=GRACE)
    await record(queue, delivered_claim, Delivered(), status=200)
    await queue.enqueue(pending, not_before=clock.now() + 100)

    assert await queue.purge_dead_letters(before=START + 10) == 1  # before, not at

    with pytest.raises(UnknownDeliveryError):
        await queue.history(dead[0].id)
    with pytest.raises(UnknownDeliveryError):
        await queue.redrive(dead[0].id)
    assert await queue.find_deliveries(dead[0].id) == []
    assert [letter.id for letter in await queue.list_dead_letters()] == [e.id for e in dead[1:]]
    assert await queue.counts() == QueueCounts(pending=1, due=0, in_flight=1, delivered=1, dead=2)
    assert len(await queue.history(delivered.id)) == 1
    assert await record(queue, in_flight_claim, Delivered(), status=200) is True

    assert await queue.purge_dead_letters() == 2
    assert await queue.list_dead_letters() == []
    assert await queue.counts() == QueueCounts(pending=1, due=0, in_flight=0, delivered=2, dead=0)
    assert await queue.history(pending.id) == []
    await queue.enqueue(dead[0])  # a purged id may be dispatched again
    assert (await claim_one(queue)).attempt == 1


def event_with_id(delivery_id: str) -> WebhookEvent:
    return dataclasses.replace(make_event(), id=delivery_id)


async def test_find_deliveries_by_an_id_or_its_start(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    events = {i: event_with_id(i) for i in ("aa12", "aa1", "aa11", "ab", "a_b", "axb", "a%c")}
    for delivery_id in ("aa11", "aa12"):
        await queue.enqueue(events[delivery_id])
    delivered, retried = await queue.claim(2, lease_grace=GRACE)
    await record(queue, delivered, Delivered(), status=200)
    await record(queue, retried, RetryAt(START + 300))
    await dead_letters_at(queue, clock, [events["aa1"]])
    for delivery_id in ("a_b", "axb", "a%c"):
        await queue.enqueue(events[delivery_id], not_before=START + 60)
    await queue.enqueue(events["ab"])
    in_flight = await claim_one(queue)  # START + 10 now: a_b, axb, a%c are not due
    assert in_flight.event.id == "ab"

    found = await queue.find_deliveries("aa1", limit=10)
    assert [(state.event, state.state, state.due) for state in found] == [
        (events["aa1"], "dead", None),  # the id itself first
        (events["aa11"], "delivered", None),
        (events["aa12"], "pending", START + 300),
    ]
    assert [state.event.id for state in await queue.find_deliveries("aa1")] == ["aa1", "aa11"]
    assert [state.event.id for state in await queue.find_deliveries("aa")] == ["aa1", "aa11"]
    assert [(s.event.id, s.state, s.due) for s in await queue.find_deliveries("ab")] == [
        ("ab", "in_flight", None)
    ]
    # Wildcards of SQL's LIKE are plain characters in a prefix.
    assert [state.event.id for state in await queue.find_deliveries("a_")] == ["a_b"]
    assert [state.event.id for state in await queue.find_deliveries("a%")] == ["a%c"]
    assert await queue.find_deliveries("b") == []
    assert await queue.find_deliveries("aa12x") == []
    assert len(await queue.find_deliveries("a", limit=100)) == len(events)


async def test_next_attempt_due_is_the_earliest_pending_even_when_past(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    assert await queue.next_attempt_due() is None
    later, now = make_event(url="https://a.example/hooks"), make_event(url=SLOW)
    await queue.enqueue(later, not_before=START + 50)
    assert await queue.next_attempt_due() == START + 50
    await queue.enqueue(now)
    assert await queue.next_attempt_due() == START
    claim = await claim_one(queue)  # an attempt in flight is not a pending one
    assert claim.event == now
    assert await queue.next_attempt_due() == START + 50
    assert await queue.next_due() == START + LEASE  # next_due counts the lease too
    clock.advance(100)
    assert await queue.next_attempt_due() == START + 50  # due, not yet claimed: still there
    await record(queue, claim, RetryAt(START + 20))
    assert await queue.next_attempt_due() == START + 20
    for claim in await queue.claim(10, lease_grace=GRACE):
        await record(queue, claim, Delivered(), status=200)
    assert await queue.next_attempt_due() is None


async def test_prune_deletes_delivered_deliveries_older_than_the_retention(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    old, dead, pending, recent = (make_event(name) for name in ("old", "dead", "pending", "new"))
    for event in (old, dead):
        await queue.enqueue(event)
    old_claim, dead_claim = await queue.claim(2, lease_grace=GRACE)
    await record(queue, old_claim, RetryAt(START))
    await record(queue, dead_claim, DeadLetter("no"))
    await record(queue, await claim_one(queue), Delivered(), status=200)  # old's 2nd attempt
    clock.advance(DEFAULT_RETENTION - 10)
    await queue.enqueue(pending, not_before=clock.now() + DEFAULT_RETENTION)
    await queue.enqueue(recent)
    await record(queue, await claim_one(queue), Delivered(), status=200)
    assert await queue.prune() == 0  # old is not quite a retention old

    clock.advance(20)
    assert await queue.prune() == 1

    with pytest.raises(UnknownDeliveryError):
        await queue.history(old.id)
    assert await queue.find_deliveries(old.id) == []
    assert len(await queue.history(recent.id)) == 1
    assert len(await queue.history(dead.id)) == 1
    assert [letter.id for letter in await queue.list_dead_letters()] == [dead.id]
    assert await queue.counts() == QueueCounts(pending=1, due=0, in_flight=0, delivered=1, dead=1)
    assert await queue.prune() == 0
    clock.advance(10 * DEFAULT_RETENTION)
    assert await queue.prune() == 1  # recent, old too now; dead and pending stay
    assert await queue.counts() == QueueCounts(pending=1, due=1, in_flight=0, delivered=0, dead=1)
    assert len(await queue.history(dead.id)) == 1
    await queue.enqueue(old)  # a pruned id may be dispatched again
    assert (await queue.claim(10, lease_grace=GRACE))[0].event == pending


async def test_recording_outcomes_prunes_by_itself(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    old, later = make_event("old"), make_event("later")
    await queue.enqueue(old)
    await record(queue, await claim_one(queue), Delivered(), status=200)
    clock.advance(DEFAULT_RETENTION + 3600)
    assert len(await queue.history(old.id)) == 1  # nothing is pruned without a write
    await queue.enqueue(later)
    await record(queue, await claim_one(queue), Delivered(), status=200)
    with pytest.raises(UnknownDeliveryError):
        await queue.history(old.id)
    assert len(await queue.history(later.id)) == 1
    assert (await queue.counts()).delivered == 1


# --- leases: recovery of an interrupted attempt, concurrent claimers, stale records --------------


async def test_an_expired_lease_makes_the_job_claimable_again_and_the_attempt_counts(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event)
    first = await claim_one(queue)  # the worker holding it dies here
    assert await queue.next_due() == first.lease_until == START + LEASE
    clock.advance(LEASE - 0.5)
    assert await queue.claim(10, lease_grace=GRACE) == []
    assert (await queue.counts()).in_flight == 1
    clock.advance(0.5)
    second = await claim_one(queue)
    assert second.event == event
    assert second.attempt == 2  # the interrupted attempt counts
    assert second.token != first.token
    assert second.lease_until == clock.now() + LEASE
    assert await queue.counts() == QueueCounts(pending=0, due=0, in_flight=1, delivered=0, dead=0)
    assert await record(queue, second, Delivered(), status=200) is True
    assert [(item.attempt, item.status) for item in await queue.history(event.id)] == [(2, 200)]


async def test_a_recovered_job_keeps_its_place_by_its_lease_expiry(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    interrupted, later = make_event("interrupted"), make_event("later")
    await queue.enqueue(interrupted)
    await claim_one(queue)
    await queue.enqueue(later, not_before=START + LEASE + 1)
    clock.advance(LEASE + 10)
    assert ids(await queue.claim(10, lease_grace=GRACE)) == [interrupted.id, later.id]


async def test_concurrent_claimers_never_hold_one_job_while_its_lease_is_valid(
    factory: QueueFactory, queue: WebhookQueue, clock: VirtualClock
) -> None:
    events = [make_event(str(number)) for number in range(60)]
    for event in events:
        await queue.enqueue(event)
    everyone = sorted(event.id for event in events)

    first = claim_from_threads(factory, queue, threads=4, seed=1)
    assert sorted(ids(first)) == everyone  # each job claimed exactly once
    assert len({claim.token for claim in first}) == len(events)
    assert {claim.attempt for claim in first} == {1}

    clock.advance(LEASE - 0.5)  # every lease still valid: nobody gets anything
    assert claim_from_threads(factory, queue, threads=4, seed=2) == []

    clock.advance(0.5)  # every lease expired: each job is claimed once more
    second = claim_from_threads(factory, queue, threads=4, seed=3)
    assert sorted(ids(second)) == everyone
    assert {claim.attempt for claim in second} == {2}
    assert not {claim.token for claim in first} & {claim.token for claim in second}

    results = [await record(queue, claim, Delivered(), status=200) for claim in first]
    assert not any(results)  # the lost leases record nothing
    results = [await record(queue, claim, Delivered(), status=200) for claim in second]
    assert all(results)
    assert await queue.counts() == QueueCounts(0, 0, 0, len(events), 0)


async def test_a_record_after_the_lease_was_lost_returns_false_and_changes_nothing(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event)
    stale = await claim_one(queue)
    clock.advance(LEASE)
    current = await claim_one(queue)
    before = (await queue.counts(), await queue.next_due())
    for outcome in (Delivered(), DeadLetter("late"), RetryAt(START)):
        assert await record(queue, stale, outcome) is False
    await queue.release(stale)  # releasing a lost lease does nothing either
    assert (await queue.counts(), await queue.next_due()) == before
    assert before[0] == QueueCounts(pending=0, due=0, in_flight=1, delivered=0, dead=0)
    assert await queue.history(event.id) == []
    assert await queue.list_dead_letters() == []
    assert await queue.claim(10, lease_grace=GRACE) == []
    assert await record(queue, current, Delivered(), status=200) is True


async def test_a_claim_is_recorded_once(queue: WebhookQueue) -> None:
    event = make_event()
    await queue.enqueue(event)
    claim = await claim_one(queue)
    assert await record(queue, claim, Delivered(), status=200) is True
    assert await record(queue, claim, DeadLetter("again")) is False
    assert await record(queue, claim, RetryAt(START)) is False
    assert await queue.counts() == QueueCounts(0, 0, 0, 1, 0)
    assert len(await queue.history(event.id)) == 1
    assert await queue.list_dead_letters() == []


async def test_a_worker_recovers_an_interrupted_attempt_with_the_same_id(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    receiver = MockReceiver(clock=clock)
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await WebhookSubscription.register(queue, client=client)
        sub = WebhookSubscription(receiver.url, SECRET).timeout(TIMEOUT)
        delivery_id = await sub.dispatch(queue, "order.created", {"order": 7})
        (lost,) = await queue.claim(10, lease_grace=GRACE)  # a worker that then died
        with anyio.fail_after(60):
            await Worker(queue, lease_grace=GRACE).run_until_idle()
    (delivery,) = receiver.assert_delivered(id=delivery_id, times=1)
    assert delivery.body == lost.event.body_bytes
    assert delivery.received_at == lost.lease_until  # retried when the lease ran out
    history = await queue.history(delivery_id)
    assert [(item.attempt, item.outcome) for item in history] == [(2, "delivered")]
    assert await queue.counts() == QueueCounts(0, 0, 0, 1, 0)
    assert await record(queue, lost, Delivered(), status=200) is False


# --- release -------------------------------------------------------------------------------------


async def test_release_gives_the_job_back_uncounted_and_due_now(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event, not_before=START - 100)
    claim = await claim_one(queue)
    clock.advance(3)
    await queue.release(claim)
    assert await queue.counts() == QueueCounts(pending=1, due=1, in_flight=0, delivered=0, dead=0)
    assert await queue.next_due() == START + 3
    again = await claim_one(queue)
    assert again.event == event
    assert again.attempt == 1  # the released attempt did not count
    assert again.token != claim.token
    assert await record(queue, claim, Delivered()) is False  # the released lease is gone
    assert await record(queue, again, Delivered(), status=200) is True


async def test_release_after_retries_keeps_the_earlier_attempts(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    await queue.enqueue(make_event())
    await record(queue, await claim_one(queue), RetryAt(START))
    second = await claim_one(queue)
    assert second.attempt == 2
    await queue.release(second)
    assert (await claim_one(queue)).attempt == 2


# --- fair claims: each endpoint up to its allowance ----------------------------------------------

SLOW, FAST = "https://slow.example/hooks", "https://fast.example/hooks"


async def test_a_claim_gives_no_endpoint_more_than_its_allowance(queue: WebhookQueue) -> None:
    backlog = [make_event(url=f"{SLOW}?n={n}") for n in range(50)]  # the query is one endpoint
    for event in backlog:
        await queue.enqueue(event, not_before=START - 100)
    fast = [make_event(url=FAST) for _ in range(3)]
    for event in fast:
        await queue.enqueue(event)
    limits = ClaimLimits(default=10, per_endpoint={SLOW: 2})
    claims = await queue.claim(8, lease_grace=GRACE, limits=limits)
    # Earliest due first, but the backlog ahead gives up only its allowance.
    assert ids(claims) == [backlog[0].id, backlog[1].id, *(event.id for event in fast)]


async def test_jobs_beyond_an_allowance_are_not_touched(queue: WebhookQueue) -> None:
    events = [make_event(url=SLOW) for _ in range(4)]
    for event in events:
        await queue.enqueue(event)
    held = ClaimLimits(default=10, per_endpoint={SLOW: 0})
    assert await queue.claim(10, lease_grace=GRACE, limits=held) == []
    one = ClaimLimits(default=10, per_endpoint={SLOW: 1})
    assert ids(await queue.claim(10, lease_grace=GRACE, limits=one)) == [events[0].id]
    # Left where they were: still due, in order, never attempted.
    rest = await queue.claim(10, lease_grace=GRACE)
    assert ids(rest) == [event.id for event in events[1:]]
    assert [claim.attempt for claim in rest] == [1, 1, 1]
    counts = await queue.counts()
    assert (counts.pending, counts.in_flight) == (0, 4)


async def test_an_endpoint_not_named_gets_the_default_allowance(queue: WebhookQueue) -> None:
    for _ in range(5):
        await queue.enqueue(make_event(url=FAST))
    claims = await queue.claim(10, lease_grace=GRACE, limits=ClaimLimits(default=3))
    assert len(claims) == 3


# --- fair rounds: what a claim does while a backlog is ahead -------------------------------------

HELD = "https://held.example/hooks"


def rounds_of(queue: WebhookQueue) -> FairRounds | None:
    """What a SQL queue remembers between claims (`fair_claims`); the memory queue reads every
    endpoint's head in each claim and remembers nothing."""
    rounds = getattr(queue, "_rounds", None)
    assert rounds is None or isinstance(rounds, FairRounds)
    return rounds


def assert_fair(queue: WebhookQueue, fair: bool) -> None:
    """The next claim of a SQL queue starts with a fair round, or not."""
    rounds = rounds_of(queue)
    assert rounds is None or rounds.fair is fair


async def enqueue_backlog(queue: WebhookQueue, url: str, jobs: int) -> list[WebhookEvent]:
    """``jobs`` jobs to ``url``'s endpoint, due one second apart from `START` - 1000: ahead of
    everything else in due order."""
    events = [make_event(url=f"{url}?n={n}") for n in range(jobs)]
    for n, event in enumerate(events):
        await queue.enqueue(event, not_before=START - 1000 + n)
    return events


async def assert_untouched(queue: WebhookQueue, backlog: Sequence[WebhookEvent]) -> None:
    """Each job of an `enqueue_backlog` is pending, due when it was enqueued to be."""
    for n, event in enumerate(backlog):
        (found,) = await queue.find_deliveries(event.id, limit=1)
        assert (found.state, found.due) == ("pending", START - 1000 + n)


async def test_a_fair_round_goes_back_to_plain_once_the_backlog_is_gone(
    queue: WebhookQueue,
) -> None:
    slow = await enqueue_backlog(queue, SLOW, 3)
    fast = [make_event(url=FAST) for _ in range(3)]
    for event in fast:
        await queue.enqueue(event, not_before=START - 50)
    limits = ClaimLimits(default=10, per_endpoint={SLOW: 1})
    first = await queue.claim(4, lease_grace=GRACE, limits=limits)
    assert ids(first) == [slow[0].id, *(event.id for event in fast)]
    assert_fair(queue, True)  # the slow backlog is still ahead
    assert ids(await queue.claim(4, lease_grace=GRACE, limits=limits)) == [slow[1].id]
    assert_fair(queue, True)  # two were ahead, one more than the allowance
    assert ids(await queue.claim(4, lease_grace=GRACE, limits=limits)) == [slow[2].id]
    assert_fair(queue, False)  # no allowance was exceeded: plain rounds again
    later = [make_event(url=url) for url in (SLOW, FAST, HELD, FAST)]
    for event, due in zip(later, (START - 1, START - 3, START - 2, START + 1), strict=True):
        await queue.enqueue(event, not_before=due)
    claims = await queue.claim(4, lease_grace=GRACE, limits=limits)
    assert ids(claims) == [later[1].id, later[2].id, later[0].id]  # earliest due first
    assert [claim.attempt for claim in claims] == [1, 1, 1]
    assert_fair(queue, False)


async def test_a_fair_round_takes_back_expired_leases(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    slow = await enqueue_backlog(queue, SLOW, 10)
    lost = make_event(url=FAST)
    await queue.enqueue(lost, not_before=START - 50)
    limits = ClaimLimits(default=10, per_endpoint={SLOW: 1})
    first = await queue.claim(2, lease_grace=GRACE, limits=limits)
    assert ids(first) == [slow[0].id, lost.id]  # the worker holding them dies
    clock.advance(LEASE)
    assert_fair(queue, True)
    again = await queue.claim(4, lease_grace=GRACE, limits=limits)
    # The slow endpoint's earliest pending job comes before its expired one, due at its end.
    assert ids(again) == [slow[1].id, lost.id]
    assert [claim.attempt for claim in again] == [1, 2]  # the interrupted attempt counts
    assert again[1].token != first[1].token
    assert again[1].lease_until == clock.now() + LEASE
    (back,) = await queue.find_deliveries(slow[0].id, limit=1)
    assert (back.state, back.due) == ("pending", START + LEASE)  # beyond the allowance


async def test_a_fair_round_leaves_a_held_endpoints_jobs_alone(queue: WebhookQueue) -> None:
    held = await enqueue_backlog(queue, HELD, 5)
    fast = [make_event(url=FAST) for _ in range(5)]
    for event in fast[:3]:
        await queue.enqueue(event)
    limits = ClaimLimits(default=10, per_endpoint={HELD: 0})
    assert ids(await queue.claim(4, lease_grace=GRACE, limits=limits)) == [
        event.id for event in fast[:3]
    ]
    assert_fair(queue, True)
    for event in fast[3:]:
        await queue.enqueue(event)
    assert ids(await queue.claim(4, lease_grace=GRACE, limits=limits)) == [
        event.id for event in fast[3:]
    ]
    assert_fair(queue, True)  # the held backlog is still ahead
    assert await queue.claim(4, lease_grace=GRACE, limits=limits) == []
    await assert_untouched(queue, held)
    claims = await queue.claim(10, lease_grace=GRACE)  # released: in order, never attempted
    assert ids(claims) == [event.id for event in held]
    assert [claim.attempt for claim in claims] == [1] * len(held)


async def test_a_fair_round_gives_no_endpoint_more_than_its_allowance(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    a, b, c = (f"https://{name}.example/hooks" for name in "abc")
    await enqueue_backlog(queue, HELD, 3)
    expired = make_event(url=a)
    await queue.enqueue(expired, not_before=START - 500)
    limits = ClaimLimits(default=3, per_endpoint={HELD: 0, a: 2})
    assert ids(await queue.claim(10, lease_grace=GRACE, limits=limits)) == [expired.id]
    clock.advance(LEASE)  # its lease ends: due again, after a's pending jobs
    assert_fair(queue, True)
    jobs = {url: [make_event(url=url) for _ in range(count)] for url, count in ((a, 4), (b, 5))}
    jobs[c] = [make_event(url=c)]
    for n in range(5):
        for url in (a, b, c):
            if n < len(jobs[url]):
                await queue.enqueue(jobs[url][n], not_before=START - 100 + n)
    claims = await queue.claim(10, lease_grace=GRACE, limits=limits)
    assert Counter(endpoint_of(claim.event.target_url) for claim in claims) == {a: 2, b: 3, c: 1}
    order = [(a, 0), (b, 0), (c, 0), (a, 1), (b, 1), (b, 2)]  # earliest due first
    assert ids(claims) == [jobs[url][n].id for url, n in order]
    beyond = [*jobs[a][2:], *jobs[b][3:], expired]
    for event in beyond:
        (found,) = await queue.find_deliveries(event.id, limit=1)
        assert found.state == "pending"
    rest = await queue.claim(
        20, lease_grace=GRACE, limits=ClaimLimits(default=20, per_endpoint={HELD: 0})
    )
    assert sorted(ids(rest)) == sorted(event.id for event in beyond)
    assert {claim.event.id: claim.attempt for claim in rest} == {
        **{event.id: 1 for event in beyond},
        expired.id: 2,  # its interrupted attempt counted once, none added
    }


async def test_fair_rounds_visit_every_endpoint_beyond_the_window(queue: WebhookQueue) -> None:
    rounds = rounds_of(queue)
    if rounds is not None:
        rounds.scan = 4  # a window of four endpoints: some windows wrap around past the last
    await enqueue_backlog(queue, HELD, 5)  # ahead of all: every round is a fair one
    endpoints = [f"https://e{n}.example/hooks" for n in range(8)]  # before HELD in order
    for k in range(5):
        for n, url in enumerate(endpoints):
            await queue.enqueue(make_event(url=url), not_before=START - 100 + 10 * k + n)
    limits = ClaimLimits(default=1, per_endpoint={HELD: 0})
    served: list[Counter[str]] = []
    for _ in range(6):
        claims = await queue.claim(4, lease_grace=GRACE, limits=limits)
        assert claims, served  # there is always a due endpoint to visit
        served.append(Counter(endpoint_of(claim.event.target_url) for claim in claims))
        assert_fair(queue, True)
    assert all(max(counts.values()) == 1 for counts in served)  # each one's allowance
    # Every endpoint (never the held one) within three rounds, and again in the next three.
    for sweep in (served[:3], served[3:]):
        assert {endpoint for counts in sweep for endpoint in counts} == set(endpoints)
    total = sum(served, Counter[str]())
    assert max(total.values()) - min(total.values()) <= 1  # none starved


async def test_next_due_leaves_out_held_endpoints(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    await queue.enqueue(make_event(url=SLOW), not_before=START - 10)
    await queue.enqueue(make_event(url=FAST), not_before=START + 60)
    assert await queue.next_due() == START - 10
    assert await queue.next_due(held=frozenset({SLOW})) == START + 60
    assert await queue.next_due(held=frozenset({SLOW, FAST})) is None


# --- endpoint health records ---------------------------------------------------------------------


async def test_endpoint_records_are_saved_replaced_and_seen_by_every_handle(
    factory: QueueFactory, queue: WebhookQueue, clock: VirtualClock
) -> None:
    assert await queue.endpoint_records() == []
    paused = EndpointRecord(SLOW, "paused", "5 timeouts in a row", START, probe_at=START + 30)
    disabled = EndpointRecord(FAST, "disabled", "answered 410 Gone", START + 1)
    await queue.save_endpoint(paused)
    await queue.save_endpoint(disabled)
    assert await queue.endpoint_records() == [disabled, paused]  # by endpoint
    peer = factory.peer(queue)
    try:
        assert await peer.endpoint_records() == [disabled, paused]
        enabled = EndpointRecord(FAST, "healthy", "re-enabled", START + 2)
        await peer.save_endpoint(enabled)  # replaces what was recorded for that endpoint
        assert await queue.endpoint_records() == [enabled, paused]
    finally:
        if peer is not queue:
            await close_handle(factory, peer)


def test_every_delivery_store_method_is_exercised_here() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    members = [
        name
        for protocol in (DeliveryStore, LeaseQueue)
        for name in vars(protocol)
        if not name.startswith("_")
    ]
    assert {"clock", "enqueue", "prune", "claim", "wait_for_work"} <= set(members)
    untested = [name for name in members if f"queue.{name}" not in source]
    assert untested == []


# --- next_due, counts, history -------------------------------------------------------------------


async def test_next_due(queue: WebhookQueue, clock: VirtualClock) -> None:
    assert await queue.next_due() is None
    await queue.enqueue(make_event(), not_before=START + 500)
    assert await queue.next_due() == START + 500
    await queue.enqueue(make_event(), not_before=START + 100)
    assert await queue.next_due() == START + 100
    clock.advance(100)
    claim = await claim_one(queue)
    assert await queue.next_due() == claim.lease_until == START + 100 + LEASE
    await record(queue, claim, RetryAt(START + 1000))
    assert await queue.next_due() == START + 500
    clock.advance(400)
    other = await claim_one(queue)
    await record(queue, other, Delivered(), status=200)
    assert await queue.next_due() == START + 1000
    clock.advance(500)
    await record(queue, await claim_one(queue), DeadLetter("no"))
    assert await queue.next_due() is None


async def test_counts(queue: WebhookQueue, clock: VirtualClock) -> None:
    assert await queue.counts() == EMPTY
    events = [make_event(str(number)) for number in range(5)]
    for event in events[:4]:
        await queue.enqueue(event)
    await queue.enqueue(events[4], not_before=START + 60)
    assert await queue.counts() == QueueCounts(pending=5, due=4, in_flight=0, delivered=0, dead=0)
    delivered, dead, retried = await queue.claim(3, lease_grace=GRACE)
    assert await queue.counts() == QueueCounts(pending=2, due=1, in_flight=3, delivered=0, dead=0)
    await record(queue, delivered, Delivered(), status=200)
    await record(queue, dead, DeadLetter("no"))
    await record(queue, retried, RetryAt(START + 30))
    assert await queue.counts() == QueueCounts(pending=3, due=1, in_flight=0, delivered=1, dead=1)
    clock.advance(60)
    assert await queue.counts() == QueueCounts(pending=3, due=3, in_flight=0, delivered=1, dead=1)


async def test_history_is_every_recorded_attempt_in_order(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event)
    assert await queue.history(event.id) == []
    records = []
    for status in (503, 500):
        claim = await claim_one(queue)
        records.append(attempt_of(claim, status=status, started_at=clock.now()))
        await queue.record(claim, RetryAt(clock.now() + 1), records[-1])
        clock.advance(1)
    claim = await claim_one(queue)
    records.append(
        AttemptRecord(
            delivery_id=event.id,
            attempt=3,
            started_at=clock.now(),
            status=None,
            error="read timeout: the receiver took too long ✓",
            latency=1.25,
            response_excerpt="partial ✓",
            outcome="delivered",
        )
    )
    await queue.record(claim, Delivered(), records[-1])
    history = await queue.history(event.id)
    assert history == records
    history.clear()  # a copy
    assert len(await queue.history(event.id)) == 3


async def test_history_is_in_the_order_attempts_were_recorded(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    # A wall clock can step back (NTP) between two attempts; the log is still the order in
    # which the attempts happened, as a redrive's restarted attempt numbers are too.
    event = make_event()
    await queue.enqueue(event)
    first = await claim_one(queue)
    await record(queue, first, RetryAt(START), started_at=START + 5)
    second = await claim_one(queue)
    await record(queue, second, Delivered(), status=200, started_at=START + 2)
    history = await queue.history(event.id)
    assert [(item.attempt, item.started_at) for item in history] == [
        (1, START + 5),
        (2, START + 2),
    ]


async def test_history_of_an_unknown_delivery_raises(queue: WebhookQueue) -> None:
    with pytest.raises(UnknownDeliveryError) as info:
        await queue.history("no-such-id")
    assert "no-such-id" in str(info.value)


# --- enqueue and dispatch ------------------------------------------------------------------------


async def test_enqueueing_a_stored_id_again_is_refused(queue: WebhookQueue) -> None:
    event, delivered = make_event(), make_event()
    await queue.enqueue(event)
    await queue.enqueue(delivered, not_before=START - 1)
    (claim,) = await queue.claim(1, lease_grace=GRACE)
    assert claim.event == delivered
    await record(queue, claim, Delivered(), status=200)
    for stored in (event, delivered):
        with pytest.raises(InvalidInputError, match=stored.id):
            await queue.enqueue(stored)
        with pytest.raises(InvalidInputError, match=stored.id):
            queue.enqueue_sync(stored, not_before=START - 1000)
    assert await queue.counts() == QueueCounts(pending=1, due=1, in_flight=0, delivered=1, dead=0)
    assert ids(await queue.claim(10, lease_grace=GRACE)) == [event.id]
    assert await queue.claim(10, lease_grace=GRACE) == []


async def test_enqueue_sync_stores_like_enqueue(queue: WebhookQueue, clock: VirtualClock) -> None:
    now, later = rich_event(), make_event()
    queue.enqueue_sync(now)
    queue.enqueue_sync(later, not_before=START + 5)
    assert (await claim_one(queue)).event == now
    clock.advance(5)
    assert (await claim_one(queue)).event == later


async def test_dispatch_sync_stores_a_delivery(queue: WebhookQueue) -> None:
    sub = WebhookSubscription("https://example.com/hooks", SECRET)
    delivery_id = sub.dispatch_sync(queue, "order.created", {"order_id": 42, "note": "José"})
    claim = await claim_one(queue)
    assert claim.event.id == delivery_id
    assert claim.event.event == "order.created"
    assert claim.event.created_at == START
    assert claim.event.signature is not None  # a body-only format, signed at dispatch
    assert claim.event.body_bytes == '{"order_id":42,"note":"José"}'.encode()


async def test_dispatch_sync_keeps_a_timestamped_format_secret_in_memory(
    queue: WebhookQueue,
) -> None:
    secret = "whsec_" + "Y29uZm9ybWFuY2Utc3VpdGUta2V5LTMyLWJ5dGVzISE="
    sub = WebhookSubscription("https://example.com/hooks", secret).signature_format(
        SignatureFormat.STANDARD_WEBHOOKS
    )
    delivery_id = sub.dispatch_sync(queue, "order.created", {"n": 1})
    assert secret_memory_of(queue).get(delivery_id) == secret
    assert (await claim_one(queue)).event.signature is None  # signed at each attempt


async def test_dispatch_with_a_connection_is_refused_and_stores_nothing(
    queue: WebhookQueue,
) -> None:
    sub = WebhookSubscription("https://example.com/hooks", SECRET)
    # A queue that cannot join a transaction names itself; PostgresQueue names the driver's.
    refusal = "psycopg" if isinstance(queue, PostgresQueue) else type(queue).__name__
    with pytest.raises(TypeError, match=refusal):
        await sub.dispatch(queue, "order.created", {"n": 1}, connection=object())
    assert await queue.counts() == EMPTY
    assert len(secret_memory_of(queue)) == 0
    assert await queue.claim(10, lease_grace=GRACE) == []


async def test_dispatch_stores_a_delivery(queue: WebhookQueue) -> None:
    sub = WebhookSubscription("https://example.com/hooks", SECRET).header("X-Tenant-Id", "acme")
    delivery_id = await sub.dispatch(queue, "order.created", {"n": 1})
    claim = await claim_one(queue)
    assert claim.event.id == delivery_id
    assert claim.event.headers == (("X-Tenant-Id", "acme"),)


# --- waking a worker -----------------------------------------------------------------------------


async def test_wait_for_work_wakes_on_an_enqueue(queue: WebhookQueue) -> None:
    async def enqueue_soon() -> None:
        await anyio.sleep(0.01)
        await queue.enqueue(make_event())

    with anyio.fail_after(60):  # a deadline, not a measurement: max_wait is an hour
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(enqueue_soon)
            await queue.wait_for_work(3600)
    assert (await queue.counts()).pending == 1


async def test_wait_for_work_wakes_on_a_retry(queue: WebhookQueue) -> None:
    await queue.enqueue(make_event())
    claim = await claim_one(queue)
    await queue.wait_for_work(0)  # take the enqueue's wake-up

    async def retry_soon() -> None:
        await anyio.sleep(0.01)
        await record(queue, claim, RetryAt(START))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(retry_soon)
            await queue.wait_for_work(3600)


async def test_wait_for_work_returns_after_max_wait(queue: WebhookQueue) -> None:
    with anyio.fail_after(60):
        await queue.wait_for_work(0.01)


# --- with a worker -------------------------------------------------------------------------------


async def test_a_worker_delivers_retries_and_dead_letters_through_the_queue(
    queue: WebhookQueue, clock: VirtualClock
) -> None:
    receiver = MockReceiver(clock=clock)
    receiver.script([503, 503, 200], event="order.updated")
    receiver.script([400], event="order.refused")
    policy = RetryPolicy(max_attempts=5, base_delay=60, factor=2, max_delay=3600, jitter=0)
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await WebhookSubscription.register(queue, client=client)
        sub = WebhookSubscription(receiver.url, SECRET).retry_policy(policy)
        retried = await sub.dispatch(queue, "order.updated", {"n": 1})
        refused = await sub.dispatch(queue, "order.refused", {"n": 2})
        delivered = await sub.dispatch(queue, "order.created", {"n": 3})
        with anyio.fail_after(60):
            await Worker(queue).run_until_idle()

    history = await queue.history(retried)
    assert [item.status for item in history] == [503, 503, 200]
    assert [item.started_at - START for item in history] == [0, 60, 180]
    assert set(receiver.duplicates()) == {retried}
    assert len({d.body for d in receiver.duplicates()[retried]}) == 1  # the same bytes each time
    (dead,) = await queue.list_dead_letters()
    assert (dead.id, dead.last_status, dead.attempts) == (refused, 400, 1)
    receiver.assert_delivered(id=delivered, times=1)
    assert await queue.counts() == QueueCounts(0, 0, 0, 2, 1)
