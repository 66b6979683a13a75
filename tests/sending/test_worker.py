"""`Worker` end to end: when it stops, how many attempts it has in flight, waking on dispatch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import anyio.to_thread
import pytest

from webhook_kit import (
    MemoryQueue,
    NotRegisteredError,
    QueueCounts,
    SystemClock,
    VirtualClock,
    WebhookSubscription,
    Worker,
)
from webhook_kit.errors import InvalidInputError
from webhook_kit.http_stacks import HttpResponse, NetworkStack
from webhook_kit.queues.protocol import Claim

from .conftest import (
    PAYLOAD,
    SECRET,
    InProcess,
    Receiver,
    Reply,
    exact,
    gaps,
    to,
    wait_for_requests,
)

pytestmark = pytest.mark.anyio

EVENT = "order.created"
POLL_INTERVAL = 3600.0
"""The idle poll of a `long_poll` worker: what only its poll would do takes an hour."""
PROMPTLY = 60.0
"""Well within `POLL_INTERVAL`, and generous on a loaded machine."""


@pytest.fixture
def long_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers poll once an hour: a test done within `PROMPTLY` was woken, not polled."""
    monkeypatch.setattr("webhook_kit.worker._POLL_INTERVAL", POLL_INTERVAL)


# --- run_until_idle -------------------------------------------------------------------------


async def test_run_until_idle_returns_at_once_on_an_empty_queue(
    queue: MemoryQueue, asgi: InProcess, long_poll: None
) -> None:
    await WebhookSubscription.register(queue, client=asgi.client)
    with anyio.fail_after(PROMPTLY):
        await Worker(queue).run_until_idle()
    assert await queue.counts() == QueueCounts(0, 0, 0, 0, 0)


async def test_dead_letters_do_not_keep_run_until_idle_running(
    queue: MemoryQueue, asgi: InProcess, long_poll: None
) -> None:
    receiver = asgi.receiver
    endpoints = [receiver.endpoint(400), receiver.endpoint(410), receiver.endpoint(503, 200)]
    endpoints.append(receiver.endpoint(200))
    await WebhookSubscription.register(queue, client=asgi.client)
    ids = [await to(endpoint).dispatch(queue, EVENT, PAYLOAD) for endpoint in endpoints]

    with anyio.fail_after(60):
        await Worker(queue).run_until_idle()

    assert await queue.counts() == QueueCounts(pending=0, due=0, in_flight=0, delivered=2, dead=2)
    assert [dead.id for dead in queue.dead_letters] == ids[:2]
    # Idle again at once, and the dead letters are not attempted again.
    with anyio.fail_after(PROMPTLY):
        await Worker(queue).run_until_idle()
    assert [len(endpoint.requests) for endpoint in endpoints] == [1, 1, 2, 1]


async def test_run_until_idle_waits_for_a_retry_on_the_system_clock(
    asgi: InProcess,
) -> None:
    queue = MemoryQueue(clock=SystemClock())
    endpoint = asgi.receiver.endpoint(503, 200)
    await WebhookSubscription.register(queue, client=asgi.client)
    sub = to(endpoint).retry_policy(exact(base_delay=0.2))
    delivery_id = await sub.dispatch(queue, EVENT, PAYLOAD)

    with anyio.fail_after(60):
        await Worker(queue).run_until_idle()

    history = await queue.history(delivery_id)
    assert [r.outcome for r in history] == ["retry", "delivered"]
    assert gaps(history)[0] >= 0.2


# --- concurrency ----------------------------------------------------------------------------


async def test_concurrency_bounds_the_attempts_in_flight(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    endpoint = live_receiver.endpoint(Reply(200, delay=0.05))
    await WebhookSubscription.register(queue, stack=stack)
    sub = to(endpoint)
    ids = [await sub.dispatch(queue, EVENT, {"n": n}) for n in range(16)]

    await Worker(queue, concurrency=4).run_until_idle()

    assert 1 < endpoint.max_in_flight <= 4
    assert sorted(endpoint.ids) == sorted(ids)
    assert (await queue.counts()).delivered == 16


async def test_concurrency_one_sends_one_at_a_time(
    queue: MemoryQueue, live_receiver: Receiver, stack: NetworkStack
) -> None:
    endpoint = live_receiver.endpoint(Reply(200, delay=0.02))
    await WebhookSubscription.register(queue, stack=stack)
    ids = [await to(endpoint).dispatch(queue, EVENT, {"n": n}) for n in range(5)]

    await Worker(queue, concurrency=1).run_until_idle()

    assert endpoint.max_in_flight == 1
    assert endpoint.ids == ids  # one at a time, in dispatch order


# --- run() and stop() -----------------------------------------------------------------------


async def test_stop_lets_attempts_in_flight_finish_and_loses_nothing(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    endpoint = live_receiver.endpoint(Reply(200, delay=0.3))
    await WebhookSubscription.register(queue, stack=stack)
    ids = [await to(endpoint).dispatch(queue, EVENT, {"n": n}) for n in range(12)]
    # Endpoint health off: an unproven endpoint would start at a share of the concurrency.
    worker = Worker(queue, concurrency=4, health=False)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            # A full set of attempts in flight.
            with anyio.fail_after(60):
                await wait_for_requests(endpoint, 4)
            assert endpoint.completed == []
            await worker.stop()
        # run() has returned: every attempt it started is finished and recorded.

    assert worker.in_flight == 0
    assert endpoint.in_flight == 0
    started = set(endpoint.ids)
    assert sorted(endpoint.completed) == sorted(endpoint.ids)  # the receiver saw them finish
    delivered: set[str] = set()
    pending: set[str] = set()
    for delivery_id in ids:
        outcomes = [record.outcome for record in await queue.history(delivery_id)]
        assert outcomes in ([], ["delivered"]), outcomes
        (delivered if outcomes else pending).add(delivery_id)
    assert delivered == started
    assert len(delivered) >= 4
    assert pending, "stop() should have left some deliveries pending"
    assert await queue.counts() == QueueCounts(
        pending=len(pending), due=len(pending), in_flight=0, delivered=len(delivered), dead=0
    )

    # Nothing was lost: the next worker delivers the rest, each exactly once.
    await Worker(queue, concurrency=12).run_until_idle()
    assert sorted(endpoint.ids) == sorted(ids)
    assert (await queue.counts()).delivered == 12


async def test_stop_on_an_idle_worker_returns_promptly(
    queue: MemoryQueue, asgi: InProcess, long_poll: None
) -> None:
    await WebhookSubscription.register(queue, client=asgi.client)
    worker = Worker(queue)
    returned = anyio.Event()

    async def run() -> None:
        await worker.run()
        returned.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run)
        await anyio.sleep(0.05)  # now idle, waiting for work
        await worker.stop()
        with anyio.move_on_after(PROMPTLY):
            await returned.wait()
        tasks.cancel_scope.cancel()
    assert returned.is_set(), (
        f"run() did not return within {PROMPTLY}s of stop() on an idle worker: stop() does "
        "not wake the worker waiting in queue.wait_for_work(), so it sits out its poll"
    )


async def test_stop_called_before_run_gets_going_still_stops_it(
    queue: MemoryQueue, asgi: InProcess
) -> None:
    await WebhookSubscription.register(queue, client=asgi.client)
    worker = Worker(queue)
    with anyio.move_on_after(60) as deadline:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)  # scheduled, not running yet
            await worker.stop()
    assert not deadline.cancelled_caught, (
        "run() ignored a stop() that came before it started: _run() resets _stopping"
    )


# --- dispatch wakes a running worker --------------------------------------------------------


async def test_a_dispatch_while_run_is_running_is_picked_up_promptly(
    queue: MemoryQueue, asgi: InProcess, long_poll: None
) -> None:
    endpoint = asgi.receiver.endpoint(200)
    await WebhookSubscription.register(queue, client=asgi.client)
    sub = to(endpoint)
    worker = Worker(queue)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker.run)
        for n in range(1, 4):
            await anyio.sleep(0.05)  # let the worker go idle, waiting for work
            delivery_id = await sub.dispatch(queue, EVENT, {"n": n})
            with anyio.fail_after(PROMPTLY):
                await wait_for_requests(endpoint, n)
            assert endpoint.requests[-1].id == delivery_id
        # From another thread (a sync web view) too.
        await anyio.sleep(0.05)
        delivery_id = await anyio.to_thread.run_sync(sub.dispatch_sync, queue, EVENT, PAYLOAD)
        with anyio.fail_after(PROMPTLY):
            await wait_for_requests(endpoint, 4)
        assert endpoint.requests[-1].id == delivery_id
        tasks.cancel_scope.cancel()
    assert (await queue.counts()).delivered == 4


# --- no handler -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["run_until_idle", "run"])
async def test_a_worker_on_a_queue_without_a_handler_says_to_register(
    queue: MemoryQueue, asgi: InProcess, method: str
) -> None:
    endpoint = asgi.receiver.endpoint(200)
    await to(endpoint).dispatch(queue, EVENT, PAYLOAD)
    worker = Worker(queue)

    with anyio.fail_after(60), pytest.raises(NotRegisteredError, match=r"register\(queue\)"):
        await getattr(worker, method)()

    assert endpoint.requests == []
    counts = await queue.counts()
    assert (counts.pending, counts.in_flight) == (1, 0)  # still there for a registered worker


# --- claiming ahead -------------------------------------------------------------------------


class GatedStack:
    """Answers 200 to every POST once `gate` is set; counts the attempts begun, by id."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.begun: list[str] = []
        self._another = anyio.Event()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], **_: object) -> Any:
        self.begun.append({k.lower(): v for k, v in headers.items()}["x-webhook-id"])
        self._another.set()
        self._another = anyio.Event()
        await self.gate.wait()
        return HttpResponse(200, {}, b"")

    async def aclose(self) -> None:
        pass

    async def begun_at_least(self, count: int) -> None:
        while len(self.begun) < count:
            await self._another.wait()


def subscription() -> WebhookSubscription:
    return (
        WebhookSubscription("http://127.0.0.1:9/hooks", SECRET)
        .allow_private_targets(True)
        .retry_policy(exact())
    )


async def test_claim_ahead_leases_more_than_the_slots_and_stop_gives_them_back() -> None:
    queue = MemoryQueue(clock=SystemClock())
    stack = GatedStack()
    await WebhookSubscription.register(queue, stack=stack)
    ids = [await subscription().dispatch(queue, EVENT, {"n": n}) for n in range(8)]
    worker = Worker(queue, concurrency=2, claim_ahead=3, health=False)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            await stack.begun_at_least(2)
            # Two attempts under way, three more leased and waiting for a slot.
            assert worker.in_flight == 2
            assert (await queue.counts()).in_flight == 5
            await worker.stop()  # the three waiting go back at once, the two finish
            stack.gate.set()

    assert sorted(stack.begun) == sorted(ids[:2])
    counts = await queue.counts()
    assert (counts.delivered, counts.pending, counts.in_flight) == (2, 6, 0)
    for delivery_id in ids[2:5]:
        assert await queue.history(delivery_id) == []  # given back unattempted
    # Nothing was charged an attempt: the next worker makes each one once, as attempt 1.
    await Worker(queue, concurrency=4).run_until_idle()
    assert sorted(stack.begun) == sorted(ids)
    for delivery_id in ids:
        assert [record.attempt for record in await queue.history(delivery_id)] == [1]


async def test_a_delivery_that_waited_past_half_the_grace_is_given_back_not_started() -> None:
    clock = VirtualClock()
    queue = MemoryQueue(clock=clock)
    stack = GatedStack()
    await WebhookSubscription.register(queue, stack=stack)
    first, second = [await subscription().dispatch(queue, EVENT, {"n": n}) for n in range(2)]
    released: list[str] = []
    release = queue.release

    async def recorded_release(claim: Claim, *, not_before: float | None = None) -> None:
        released.append(claim.event.id)
        await release(claim, not_before=not_before)

    queue.release = recorded_release  # type: ignore[method-assign]
    worker = Worker(queue, concurrency=1, claim_ahead=1, lease_grace=10.0, health=False)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run_until_idle)
            await stack.begun_at_least(1)
            assert (await queue.counts()).in_flight == 2  # the second waits for the slot
            clock.advance(6.0)  # past half the grace: its lease might not last an attempt
            stack.gate.set()

    assert released == [second]  # given back when the slot freed, then claimed afresh
    assert stack.begun == [first, second]
    for delivery_id in (first, second):
        assert [record.outcome for record in await queue.history(delivery_id)] == ["delivered"]


def test_claim_ahead_defaults_to_half_the_concurrency_and_needs_a_lease_grace() -> None:
    queue = MemoryQueue()
    assert Worker(queue).claim_ahead == 16
    assert Worker(queue, concurrency=7).claim_ahead == 3
    assert Worker(queue, lease_grace=1.0).claim_ahead == 0  # a short grace: none by default
    assert Worker(queue, lease_grace=1.0, claim_ahead=0).claim_ahead == 0
    with pytest.raises(InvalidInputError, match="claim_ahead needs a lease_grace of at least"):
        Worker(queue, lease_grace=1.0, claim_ahead=4)
    for bad in (-1, 1.5, True):
        with pytest.raises(InvalidInputError, match="claim_ahead must be an int"):
            Worker(queue, claim_ahead=bad)  # type: ignore[arg-type]
