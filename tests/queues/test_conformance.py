"""The conformance suite: what every queue does — memory, SQLite, PostgreSQL — as behaviour.

Each test dispatches through `WebhookSubscription`, lets the backend's own workers deliver to
an in-process `MockReceiver`, and checks what arrived and what the queue reports; how a
backend stores, claims or recovers jobs is its harness's business (`backends.py`). Adding a
backend to `BACKENDS` puts it through every test here.

The protocol-level suite for the queues webhook-kit's own `Worker` runs (claims, leases,
records) is `test_queue_protocol.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from backends import BACKENDS, Backend

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.queues import QueueCounts, UnknownDeliveryError
from webhook_kit.testing import MockReceiver, Reply

SECRET = "conformance-suite-secret"
BASE_DELAY = 0.2
POLICY = RetryPolicy(max_attempts=3, base_delay=BASE_DELAY, factor=2, max_delay=10, jitter=0)

pytestmark = pytest.mark.anyio


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.postgresql] if name == "postgresql" else [])
        for name in BACKENDS
    ]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    made = await BACKENDS[request.param](request, tmp_path)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
async def receiver(backend: Backend) -> MockReceiver:
    made = MockReceiver(clock=backend.clock)
    await backend.register(made)
    return made


@pytest.fixture
def subscription(receiver: MockReceiver) -> WebhookSubscription:
    return WebhookSubscription(receiver.url, SECRET).retry_policy(POLICY)


def assert_gaps(backend: Backend, gaps: list[float], expected: list[float]) -> None:
    """Exact: every backend runs on a virtual clock."""
    assert len(gaps) == len(expected), gaps
    for gap, due in zip(gaps, expected, strict=True):
        assert gap == pytest.approx(due), (backend.name, gaps, expected)


async def test_each_delivery_arrives_once_with_its_id_and_body(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    ids = [await subscription.dispatch(backend.queue, "order.created", {"n": n}) for n in range(5)]
    await backend.run_until_idle()
    assert sorted(receiver.unique_ids()) == sorted(ids)
    assert receiver.duplicates() == {}
    for n, delivery_id in enumerate(ids):
        receiver.assert_delivered(id=delivery_id, payload={"n": n}, times=1)
    assert await backend.queue.counts() == QueueCounts(0, 0, 0, 5, 0)


async def test_counts_follow_dispatch_and_delivery(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    for n in range(2):
        await subscription.dispatch(backend.queue, "order.created", {"n": n})
    assert await backend.queue.counts() == QueueCounts(2, 2, 0, 0, 0)
    await backend.run_until_idle()
    assert await backend.queue.counts() == QueueCounts(0, 0, 0, 2, 0)


async def test_nothing_is_delivered_before_it_is_due_and_due_jobs_go_in_due_order(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    now = backend.clock.now()
    later = subscription.build_event("order.later", {}, now=now)
    sooner = subscription.build_event("order.sooner", {}, now=now)
    await backend.queue.enqueue(later, not_before=now + 0.6)
    await backend.queue.enqueue(sooner, not_before=now + 0.3)
    assert (await backend.queue.counts()).due == 0
    await backend.run_until_idle()
    assert receiver.unique_ids() == [sooner.id, later.id]
    first, second = receiver.deliveries
    assert first.received_at >= now + 0.3
    assert second.received_at >= now + 0.6


async def test_a_retry_comes_at_the_policy_time_with_the_same_id_and_body(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    receiver.script([503, 503, 200])
    delivery_id = await subscription.dispatch(backend.queue, "order.created", {"n": 1})
    await backend.run_until_idle()
    assert [d.id for d in receiver.deliveries] == [delivery_id] * 3
    assert len({d.body for d in receiver.deliveries}) == 1
    assert_gaps(backend, receiver.gaps(), [BASE_DELAY, BASE_DELAY * 2])
    history = await backend.queue.history(delivery_id)
    assert [(h.attempt, h.status, h.outcome) for h in history] == [
        (1, 503, "retry"),
        (2, 503, "retry"),
        (3, 200, "delivered"),
    ]


async def test_retry_after_from_the_receiver_sets_the_retry_time(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    receiver.script([Reply(429, headers={"Retry-After": "1"}), 200])
    await subscription.dispatch(backend.queue, "order.created", {})
    await backend.run_until_idle()
    assert_gaps(backend, receiver.gaps(), [1.0])


async def test_the_last_attempt_dead_letters_with_its_reason(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    receiver.script([503])
    delivery_id = await subscription.dispatch(backend.queue, "order.created", {})
    await backend.run_until_idle()
    assert [d.id for d in receiver.deliveries] == [delivery_id] * 3
    (dead,) = await backend.queue.list_dead_letters()
    assert (dead.id, dead.attempts, dead.last_status, dead.gone) == (delivery_id, 3, 503, False)
    assert "gave up after 3 attempts" in dead.reason
    assert dead.event.body == receiver.deliveries[0].body.decode()
    assert await backend.queue.counts() == QueueCounts(0, 0, 0, 0, 1)


async def test_a_fatal_answer_dead_letters_at_once(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    receiver.script([410])
    delivery_id = await subscription.dispatch(backend.queue, "order.created", {})
    await backend.run_until_idle()
    (dead,) = await backend.queue.list_dead_letters()
    assert (dead.id, dead.attempts, dead.last_status, dead.gone) == (delivery_id, 1, 410, True)


async def test_redrive_sends_a_dead_letter_again_with_the_same_id_and_fresh_attempts(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    receiver.script([503])
    delivery_id = await subscription.dispatch(backend.queue, "order.created", {"n": 7})
    await backend.run_until_idle()
    receiver.script([503, 200])
    await backend.queue.redrive(delivery_id)
    assert await backend.queue.list_dead_letters() == []
    await backend.run_until_idle()
    assert [d.id for d in receiver.deliveries] == [delivery_id] * 5
    assert len({d.body for d in receiver.deliveries}) == 1
    history = await backend.queue.history(delivery_id)
    assert [h.attempt for h in history][-2:] == [1, 2]  # the policy's attempts, afresh
    assert history[-1].outcome == "delivered"
    assert await backend.queue.counts() == QueueCounts(0, 0, 0, 1, 0)
    with pytest.raises(UnknownDeliveryError):
        await backend.queue.redrive(delivery_id)  # delivered: nothing to redrive


async def test_redrive_of_an_unknown_delivery_raises(backend: Backend) -> None:
    with pytest.raises(UnknownDeliveryError):
        await backend.queue.redrive("00000000-0000-4000-8000-000000000000")


async def test_an_interrupted_attempt_is_recovered_with_the_same_id_and_counted(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    delivery_id = await subscription.dispatch(backend.queue, "order.created", {"n": 1})
    assert await backend.interrupt_one() == delivery_id
    await backend.recover()
    await backend.run_until_idle()
    receiver.assert_delivered(id=delivery_id, payload={"n": 1}, times=1)
    last = (await backend.queue.history(delivery_id))[-1]
    assert (last.attempt, last.outcome) == (2, "delivered")  # the interrupted one counts


async def test_concurrent_workers_never_run_one_job_twice(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    ids = [
        await subscription.dispatch(backend.queue, "order.created", {"n": n}) for n in range(60)
    ]
    await backend.run_workers(3)
    assert receiver.duplicates() == {}
    assert sorted(receiver.unique_ids()) == sorted(ids)
    assert (await backend.queue.counts()).delivered == 60


async def test_dispatch_sync_stores_a_delivery(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    delivery_id = await anyio.to_thread.run_sync(
        subscription.dispatch_sync, backend.queue, "order.created", {"n": 3}
    )
    await backend.run_until_idle()
    receiver.assert_delivered(id=delivery_id, payload={"n": 3}, times=1)


async def test_dispatch_in_a_transaction_or_a_type_error(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    if not backend.transactions:
        with pytest.raises(TypeError, match="cannot enqueue inside your transaction"):
            await subscription.dispatch(backend.queue, "order.created", {}, connection=object())
        assert await backend.queue.counts() == QueueCounts(0, 0, 0, 0, 0)
        return

    async def order_that_fails() -> None:
        async with backend.transaction() as connection:
            await subscription.dispatch(
                backend.queue, "order.rolled_back", {}, connection=connection
            )
            raise RuntimeError("the order failed")

    with pytest.raises(RuntimeError, match="the order failed"):
        await order_that_fails()
    assert await backend.queue.counts() == QueueCounts(0, 0, 0, 0, 0)
    async with backend.transaction() as connection:
        committed = await subscription.dispatch(
            backend.queue, "order.committed", {}, connection=connection
        )
        assert await backend.queue.counts() == QueueCounts(0, 0, 0, 0, 0)  # not yet committed
    await backend.run_until_idle()
    assert receiver.unique_ids() == [committed]


async def test_dispatch_sync_in_a_transaction_or_a_type_error(
    backend: Backend, receiver: MockReceiver, subscription: WebhookSubscription
) -> None:
    if not backend.transactions:
        with pytest.raises(TypeError, match="cannot enqueue inside your transaction"):
            subscription.dispatch_sync(backend.queue, "order.created", {}, connection=object())
        assert await backend.queue.counts() == QueueCounts(0, 0, 0, 0, 0)
        return

    def order_that_fails() -> None:
        with backend.sync_transaction() as connection:
            subscription.dispatch_sync(
                backend.queue, "order.rolled_back", {}, connection=connection
            )
            raise RuntimeError("the order failed")

    def order_that_commits() -> str:
        with backend.sync_transaction() as connection:
            return subscription.dispatch_sync(
                backend.queue, "order.committed", {}, connection=connection
            )

    with pytest.raises(RuntimeError, match="the order failed"):
        await anyio.to_thread.run_sync(order_that_fails)
    assert await backend.queue.counts() == QueueCounts(0, 0, 0, 0, 0)
    committed = await anyio.to_thread.run_sync(order_that_commits)
    await backend.run_until_idle()
    assert receiver.unique_ids() == [committed]


async def test_a_delivery_whose_every_attempt_is_interrupted_is_dead_lettered(
    backend: Backend, receiver: MockReceiver
) -> None:
    subscription = WebhookSubscription(receiver.url, SECRET).retry_policy(
        RetryPolicy(max_attempts=2, base_delay=BASE_DELAY, jitter=0)
    )
    delivery_id = await subscription.dispatch(backend.queue, "order.created", {})
    for _ in range(2):  # a worker dies holding it, twice: the policy's attempts are spent
        assert await backend.interrupt_one() == delivery_id
        await backend.recover()
    await backend.run_until_idle()
    assert receiver.deliveries == []  # no third request
    (dead,) = await backend.queue.list_dead_letters()
    assert dead.id == delivery_id
    assert "the last was interrupted" in dead.reason
