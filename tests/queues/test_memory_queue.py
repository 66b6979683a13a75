"""`MemoryQueue` on a `VirtualClock`: claims, leases, outcomes, dead letters, redrive, waking."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from queue_jobs import GRACE, START, TIMEOUT, attempt_of, claim_one, ids, make_event, record

from webhook_kit import InvalidInputError
from webhook_kit.clock import VirtualClock
from webhook_kit.outcomes import DeadLetter, Delivered, Outcome, RetryAt
from webhook_kit.queues import (
    MemoryQueue,
    QueueCounts,
    UnknownDeliveryError,
    WebhookQueue,
)
from webhook_kit.queues.memory_retention import DeliveredLog
from webhook_kit.registrations import handler_of, secret_memory_of


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def queue(clock: VirtualClock) -> MemoryQueue:
    return MemoryQueue(clock=clock)


def test_memory_queue_implements_the_protocol(queue: MemoryQueue) -> None:
    assert isinstance(queue, WebhookQueue)
    assert handler_of(queue) is None
    assert len(secret_memory_of(queue)) == 0


# --- claiming ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_claim_hands_out_due_jobs_earliest_due_first(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    late, early, now = make_event("late"), make_event("early"), make_event("now")
    await queue.enqueue(late, not_before=START - 10)
    await queue.enqueue(now)
    await queue.enqueue(early, not_before=START - 100)
    claims = await queue.claim(10, lease_grace=GRACE)
    assert ids(claims) == [early.id, late.id, now.id]
    assert [claim.attempt for claim in claims] == [1, 1, 1]
    assert all(claim.lease_until == START + TIMEOUT + GRACE for claim in claims)
    assert len({claim.token for claim in claims}) == 3


@pytest.mark.anyio
async def test_jobs_due_at_the_same_time_are_claimed_in_enqueue_order(queue: MemoryQueue) -> None:
    events = [make_event(str(number)) for number in range(5)]
    for event in events:
        await queue.enqueue(event)
    assert ids(await queue.claim(10, lease_grace=GRACE)) == [event.id for event in events]


@pytest.mark.anyio
async def test_claim_never_hands_out_a_job_not_yet_due(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    second, first = make_event(), make_event()
    await queue.enqueue(second, not_before=START + 30)
    await queue.enqueue(first, not_before=START + 10)
    assert await queue.claim(10, lease_grace=GRACE) == []
    clock.advance(9.999)
    assert await queue.claim(10, lease_grace=GRACE) == []
    clock.advance(0.001)
    assert ids(await queue.claim(10, lease_grace=GRACE)) == [first.id]
    clock.advance(19)
    assert await queue.claim(10, lease_grace=GRACE) == []
    clock.advance(1)
    assert ids(await queue.claim(10, lease_grace=GRACE)) == [second.id]


@pytest.mark.anyio
async def test_claim_respects_the_limit(queue: MemoryQueue) -> None:
    events = [make_event() for _ in range(5)]
    for offset, event in enumerate(events):
        await queue.enqueue(event, not_before=START - 10 + offset)
    first = await queue.claim(2, lease_grace=GRACE)
    assert ids(first) == [events[0].id, events[1].id]
    assert await queue.claim(0, lease_grace=GRACE) == []
    rest = await queue.claim(10, lease_grace=GRACE)
    assert ids(rest) == [event.id for event in events[2:]]
    assert await queue.claim(10, lease_grace=GRACE) == []


@pytest.mark.anyio
async def test_lease_is_the_event_timeout_plus_grace(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    await queue.enqueue(make_event(timeout=7.5))
    claim = await claim_one(queue)
    assert claim.lease_until == START + 7.5 + GRACE


@pytest.mark.anyio
async def test_a_leased_job_is_not_claimed_again_until_the_lease_expires(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event)
    first = await claim_one(queue)
    clock.advance(TIMEOUT + GRACE - 0.5)
    assert await queue.claim(10, lease_grace=GRACE) == []
    assert (await queue.counts()).in_flight == 1
    clock.advance(0.5)
    second = await claim_one(queue)
    assert second.event.id == event.id
    assert second.attempt == 2  # the interrupted attempt counts
    assert second.token != first.token
    assert second.lease_until == clock.now() + TIMEOUT + GRACE


@pytest.mark.anyio
async def test_record_with_a_lost_lease_returns_false_and_changes_nothing(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event)
    stale = await claim_one(queue)
    clock.advance(TIMEOUT + GRACE)
    current = await claim_one(queue)
    before = await queue.counts()
    for outcome in (Delivered(), DeadLetter("late"), RetryAt(START)):
        assert await record(queue, stale, outcome) is False
    assert await queue.history(event.id) == []
    assert (
        await queue.counts()
        == before
        == QueueCounts(pending=0, due=0, in_flight=1, delivered=0, dead=0)
    )
    assert queue.dead_letters == ()
    assert await record(queue, current, Delivered(), status=200) is True


@pytest.mark.anyio
async def test_a_claim_cannot_be_recorded_twice(queue: MemoryQueue) -> None:
    await queue.enqueue(make_event())
    claim = await claim_one(queue)
    assert await record(queue, claim, Delivered(), status=200) is True
    assert await record(queue, claim, DeadLetter("again")) is False
    assert (await queue.counts()).delivered == 1
    assert queue.dead_letters == ()


# --- outcomes ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_delivered(queue: MemoryQueue, clock: VirtualClock) -> None:
    event = make_event()
    await queue.enqueue(event)
    claim = await claim_one(queue)
    attempt = attempt_of(claim, status=200, outcome="delivered")
    assert await queue.record(claim, Delivered(), attempt) is True
    assert await queue.counts() == QueueCounts(pending=0, due=0, in_flight=0, delivered=1, dead=0)
    assert await queue.history(event.id) == [attempt]
    clock.advance(10**6)
    assert await queue.claim(10, lease_grace=GRACE) == []
    assert await queue.next_due() is None


@pytest.mark.anyio
async def test_retry_at_makes_the_job_due_at_that_time(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event)
    first = await claim_one(queue)
    assert await record(queue, first, RetryAt(START + 300)) is True
    counts = await queue.counts()
    assert (counts.pending, counts.due, counts.in_flight) == (1, 0, 0)
    assert await queue.next_due() == START + 300
    clock.advance(299)
    assert await queue.claim(10, lease_grace=GRACE) == []
    clock.advance(1)
    second = await claim_one(queue)
    assert second.event == event
    assert second.attempt == 2
    assert [item.attempt for item in await queue.history(event.id)] == [1]


@pytest.mark.anyio
async def test_dead_letter_is_kept_with_its_last_attempt(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    event = make_event()
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
        error=None,
        excerpt="gone for good",
        outcome="dead",
    )
    (dead,) = queue.dead_letters
    assert dead.event == event
    assert dead.id == event.id
    assert dead.reason == "the receiver answered 410 Gone"
    assert dead.gone is True
    assert dead.attempts == 2
    assert dead.dead_at == START + 60
    assert dead.last_status == 410
    assert dead.last_error is None
    assert dead.response_excerpt == "gone for good"
    assert await queue.list_dead_letters() == [dead]
    assert await queue.counts() == QueueCounts(pending=0, due=0, in_flight=0, delivered=0, dead=1)
    clock.advance(10**6)
    assert await queue.claim(10, lease_grace=GRACE) == []


@pytest.mark.anyio
async def test_dead_letter_after_a_transport_error_keeps_the_error(queue: MemoryQueue) -> None:
    await queue.enqueue(make_event())
    claim = await claim_one(queue)
    await record(queue, claim, DeadLetter("gave up"), status=None, error="connect: refused")
    (dead,) = await queue.list_dead_letters()
    assert (dead.last_status, dead.last_error, dead.gone) == (None, "connect: refused", False)


@pytest.mark.anyio
async def test_dead_letters_are_a_read_only_snapshot_oldest_first(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    events = [make_event(), make_event()]
    for event in events:
        await queue.enqueue(event)
    first, second = await queue.claim(10, lease_grace=GRACE)
    await record(queue, second, DeadLetter("b"))
    clock.advance(1)
    await record(queue, first, DeadLetter("a"))
    snapshot = queue.dead_letters
    assert isinstance(snapshot, tuple)
    assert [dead.reason for dead in snapshot] == ["b", "a"]
    listed = await queue.list_dead_letters()
    listed.clear()
    assert len(queue.dead_letters) == 2
    with pytest.raises(AttributeError):
        queue.dead_letters = ()  # type: ignore[misc]


@pytest.mark.anyio
async def test_release_gives_the_job_back_uncounted_and_due_now(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event, not_before=START - 100)
    claim = await claim_one(queue)
    clock.advance(3)
    await queue.release(claim)
    counts = await queue.counts()
    assert (counts.pending, counts.due, counts.in_flight) == (1, 1, 0)
    assert await queue.next_due() == START + 3
    again = await claim_one(queue)
    assert again.event.id == event.id
    assert again.attempt == 1
    assert await record(queue, claim, Delivered()) is False  # the released lease is gone


@pytest.mark.anyio
async def test_release_of_a_lost_lease_does_nothing(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    await queue.enqueue(make_event())
    stale = await claim_one(queue)
    clock.advance(TIMEOUT + GRACE)
    current = await claim_one(queue)
    await queue.release(stale)
    assert (await queue.counts()).in_flight == 1
    assert await record(queue, current, Delivered()) is True


# --- next_due, redrive, history, counts ----------------------------------------------------


@pytest.mark.anyio
async def test_next_due(queue: MemoryQueue, clock: VirtualClock) -> None:
    assert await queue.next_due() is None
    later = make_event()
    await queue.enqueue(later, not_before=START + 500)
    assert await queue.next_due() == START + 500
    await queue.enqueue(make_event(), not_before=START + 100)
    assert await queue.next_due() == START + 100
    clock.advance(100)
    claim = await claim_one(queue)
    assert await queue.next_due() == claim.lease_until == START + 100 + TIMEOUT + GRACE
    await record(queue, claim, RetryAt(START + 1000))
    assert await queue.next_due() == START + 500


@pytest.mark.anyio
async def test_redrive_sends_a_dead_letter_again_with_the_same_id(
    queue: MemoryQueue, clock: VirtualClock
) -> None:
    event = make_event()
    await queue.enqueue(event)
    for step in range(3):
        claim = await claim_one(queue)
        assert claim.attempt == step + 1
        outcome: Outcome = RetryAt(clock.now() + 10) if step < 2 else DeadLetter("gave up")
        await record(queue, claim, outcome)
        clock.advance(10)
    assert len(queue.dead_letters) == 1
    clock.advance(1000)
    await queue.redrive(event.id)
    assert queue.dead_letters == ()
    assert await queue.counts() == QueueCounts(pending=1, due=1, in_flight=0, delivered=0, dead=0)
    assert await queue.next_due() == clock.now()
    again = await claim_one(queue)
    assert again.event == event
    assert again.attempt == 1
    assert len(await queue.history(event.id)) == 3  # earlier attempts are kept


@pytest.mark.anyio
async def test_redrive_of_an_unknown_or_live_delivery_raises(queue: MemoryQueue) -> None:
    with pytest.raises(UnknownDeliveryError) as info:
        await queue.redrive("no-such-id")
    assert isinstance(info.value, KeyError)
    assert "no-such-id" in str(info.value)
    pending = make_event()
    await queue.enqueue(pending)
    with pytest.raises(UnknownDeliveryError):
        await queue.redrive(pending.id)
    assert (await queue.counts()).pending == 1


@pytest.mark.anyio
async def test_history_in_order(queue: MemoryQueue, clock: VirtualClock) -> None:
    event = make_event()
    await queue.enqueue(event)
    assert await queue.history(event.id) == []
    records = []
    for status in (503, 500):
        claim = await claim_one(queue)
        records.append(attempt_of(claim, status=status))
        await queue.record(claim, RetryAt(clock.now()), records[-1])
    claim = await claim_one(queue)
    records.append(attempt_of(claim, status=200, outcome="delivered"))
    await queue.record(claim, Delivered(), records[-1])
    history = await queue.history(event.id)
    assert history == records
    history.clear()
    assert len(await queue.history(event.id)) == 3
    with pytest.raises(UnknownDeliveryError):
        await queue.history("no-such-id")


@pytest.mark.anyio
async def test_counts(queue: MemoryQueue, clock: VirtualClock) -> None:
    assert await queue.counts() == QueueCounts(pending=0, due=0, in_flight=0, delivered=0, dead=0)
    events = [make_event() for _ in range(4)]
    await queue.enqueue(events[0])
    await queue.enqueue(events[1])
    await queue.enqueue(events[2], not_before=START + 60)
    await queue.enqueue(events[3], not_before=START + 120)
    assert await queue.counts() == QueueCounts(pending=4, due=2, in_flight=0, delivered=0, dead=0)
    first, second = await queue.claim(10, lease_grace=GRACE)
    await record(queue, first, Delivered())
    assert await queue.counts() == QueueCounts(pending=2, due=0, in_flight=1, delivered=1, dead=0)
    await record(queue, second, DeadLetter("no"))
    clock.advance(60)
    assert await queue.counts() == QueueCounts(pending=2, due=1, in_flight=0, delivered=1, dead=1)


@pytest.mark.anyio
async def test_enqueueing_the_same_id_twice_is_refused(queue: MemoryQueue) -> None:
    event = make_event()
    await queue.enqueue(event)
    with pytest.raises(InvalidInputError):
        await queue.enqueue(event)
    with pytest.raises(InvalidInputError):
        queue.enqueue_sync(event, not_before=START - 1000)
    assert (await queue.counts()).pending == 1
    assert len(await queue.claim(10, lease_grace=GRACE)) == 1
    assert await queue.claim(10, lease_grace=GRACE) == []


@pytest.mark.anyio
async def test_enqueue_sync_stores_like_enqueue(queue: MemoryQueue) -> None:
    event = make_event()
    queue.enqueue_sync(event)
    assert (await claim_one(queue)).event == event


# --- waking a waiting worker ---------------------------------------------------------------


@pytest.mark.anyio
async def test_wait_for_work_wakes_on_an_enqueue_from_another_thread(
    queue: MemoryQueue,
) -> None:
    waiting = threading.Event()

    def enqueue_later() -> None:
        waiting.wait(60)
        time.sleep(0.05)
        queue.enqueue_sync(make_event())

    # Woken by the enqueue: max_wait is an hour, the bound a minute.
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(anyio.to_thread.run_sync, enqueue_later)
            waiting.set()
            await queue.wait_for_work(3600)
    assert (await queue.counts()).pending == 1


@pytest.mark.anyio
async def test_wait_for_work_wakes_on_a_retry(queue: MemoryQueue) -> None:
    await queue.enqueue(make_event())
    claim = await claim_one(queue)
    with anyio.fail_after(60):  # woken by the retry: max_wait is an hour
        async with anyio.create_task_group() as tasks:

            async def record_later() -> None:
                await anyio.sleep(0.02)
                await record(queue, claim, RetryAt(START))

            tasks.start_soon(record_later)
            await queue.wait_for_work(3600)


@pytest.mark.anyio
async def test_wait_for_work_returns_after_max_wait(queue: MemoryQueue) -> None:
    with anyio.fail_after(60):
        await queue.wait_for_work(0.05)


# --- bounded memory: only the latest delivered deliveries are kept ---------------------------


@pytest.mark.anyio
async def test_only_the_latest_delivered_deliveries_are_kept() -> None:
    from webhook_kit import RetryPolicy, WebhookSubscription, Worker
    from webhook_kit.queues import MemoryQueue, UnknownDeliveryError
    from webhook_kit.testing import MockReceiver

    clock = VirtualClock()
    queue = MemoryQueue(clock=clock, keep_delivered=3)
    receiver = MockReceiver(clock=clock)
    receiver.script([200], event="ok")
    receiver.script([410], event="gone")
    import httpx

    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await WebhookSubscription.register(queue, client=client)
        sub = WebhookSubscription(receiver.url, "s").retry_policy(RetryPolicy(max_attempts=1))
        dead = await sub.dispatch(queue, "gone", {})
        delivered = [await sub.dispatch(queue, "ok", {"n": n}) for n in range(5)]
        # Health off: the 410 would otherwise disable the endpoint the others go to.
        await Worker(queue, concurrency=1, health=False).run_until_idle()
        waiting = await sub.dispatch(queue, "ok", {"n": 99})
    for forgotten in delivered[:2]:
        with pytest.raises(UnknownDeliveryError):
            await queue.history(forgotten)
    for kept in delivered[2:]:
        assert len(await queue.history(kept)) == 1
    assert [letter.id for letter in await queue.list_dead_letters()] == [dead]  # never forgotten
    assert await queue.history(waiting) == []  # pending: never forgotten
    counts = await queue.counts()
    assert (counts.delivered, counts.dead, counts.pending) == (5, 1, 1)  # counts stay whole


@pytest.mark.parametrize("bad", [-1, True])
def test_keep_delivered_must_be_a_count(bad: int) -> None:
    from webhook_kit.queues import MemoryQueue

    with pytest.raises(InvalidInputError):
        MemoryQueue(keep_delivered=bad)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), True])
def test_retention_must_be_a_number_of_seconds(bad: float) -> None:
    with pytest.raises(InvalidInputError):
        MemoryQueue(retention=bad)


async def deliver(queue: MemoryQueue, count: int) -> list[str]:
    events = [make_event() for _ in range(count)]
    for event in events:
        await queue.enqueue(event)
    for claim in await queue.claim(count, lease_grace=GRACE):
        await queue.record(claim, Delivered(), attempt_of(claim, status=200, outcome="delivered"))
    return [event.id for event in events]


@pytest.mark.anyio
async def test_deliveries_forgotten_past_keep_delivered_are_counted_until_pruned(
    clock: VirtualClock,
) -> None:
    queue = MemoryQueue(clock=clock, retention=1000, keep_delivered=2)
    first = await deliver(queue, 3)  # at START: the first is forgotten at once
    clock.advance(500)
    second = await deliver(queue, 3)  # at START + 500: all of the first and one more forgotten
    assert [len(await queue.history(i)) for i in second[1:]] == [1, 1]
    for forgotten in [*first, second[0]]:
        with pytest.raises(UnknownDeliveryError):
            await queue.history(forgotten)
    assert (await queue.counts()).delivered == 6
    clock.advance(500)
    assert await queue.prune() == 0  # none is a retention old yet
    clock.advance(100)  # the first three are (and a minute more)
    assert await queue.prune() == 3
    assert (await queue.counts()).delivered == 3
    clock.advance(500)
    assert await queue.prune() == 3  # the one forgotten at START + 500, and the two kept
    assert (await queue.counts()).delivered == 0
    assert await queue.prune() == 0


@pytest.mark.anyio
async def test_a_queue_with_no_retention_keeps_nothing_delivered_past_its_next_write(
    clock: VirtualClock,
) -> None:
    queue = MemoryQueue(clock=clock, retention=0)
    (delivered,) = await deliver(queue, 1)
    clock.advance(60)
    await deliver(queue, 1)  # recording prunes what is older than 0 s, once a minute
    with pytest.raises(UnknownDeliveryError):
        await queue.history(delivered)


def test_pruning_finds_old_deliveries_behind_newer_ones() -> None:
    # A wall clock may step back: a delivery made "earlier" can come after a later one.
    log = DeliveredLog(keep=10, retention=10)
    log.add("a", 100.0)
    log.add("b", 90.0)
    assert log.prune(100.0) == ([], 0)
    assert log.prune(101.0) == (["b"], 1)
    assert log.count == 1
    assert log.prune(111.0) == (["a"], 1)
