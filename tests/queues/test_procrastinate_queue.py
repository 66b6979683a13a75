"""What is particular to the PostgreSQL queue: its schema, errors, stalled jobs and strategy.

The behaviour it shares with every queue is in `test_conformance.py`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import httpx
import psycopg
import pytest

from services import postgres_database
from webhook_kit import InvalidInputError, RetryPolicy, SignatureFormat, WebhookSubscription
from webhook_kit.queues import QueueCounts
from webhook_kit.queues.procrastinate import (
    TASK_NAME,
    UNFINISHED_RETRY_SECONDS,
    ProcrastinateQueue,
    QueueDatabaseError,
    WebhookRetryStrategy,
    _DeadLettered,
    _RetryLater,
)
from webhook_kit.registrations import secret_memory_of
from webhook_kit.testing import MockReceiver

pytestmark = pytest.mark.anyio

SECRET = "postgresQueueSecret"  # valid base64: Standard Webhooks decodes it


@pytest.fixture
async def queue(postgres_url: str) -> AsyncIterator[ProcrastinateQueue]:
    async with ProcrastinateQueue(postgres_url) as opened:
        yield opened


@pytest.fixture
async def receiver(queue: ProcrastinateQueue) -> AsyncIterator[MockReceiver]:
    made = MockReceiver()
    async with httpx.AsyncClient(transport=made.transport) as client:
        await WebhookSubscription.register(queue, client=client)
        yield made


async def drain(queue: ProcrastinateQueue) -> None:
    await queue.run_worker(wait=False, poll_interval=0.05)


# --- the retry strategy: procrastinate carries out webhook-kit's decision -------------------


def test_the_strategy_retries_at_webhook_kits_absolute_time() -> None:
    at = 1_800_000_000.5
    decision = WebhookRetryStrategy().get_retry_decision(exception=_RetryLater(at), job=None)  # type: ignore[arg-type]
    assert decision is not None
    assert decision.retry_at is not None
    assert decision.retry_at.timestamp() == at


def test_the_strategy_fails_a_dead_letter() -> None:
    strategy = WebhookRetryStrategy()
    assert strategy.get_retry_decision(exception=_DeadLettered("gone"), job=None) is None  # type: ignore[arg-type]


def test_an_attempt_that_ended_without_an_outcome_is_retried_soon() -> None:
    strategy = WebhookRetryStrategy()
    decision = strategy.get_retry_decision(exception=RuntimeError("boom"), job=None)  # type: ignore[arg-type]
    assert decision is not None
    assert decision.retry_at is not None
    assert 0 < decision.retry_at.timestamp() - time.time() <= UNFINISHED_RETRY_SECONDS + 1


# --- construction, schema and errors -------------------------------------------------------


def test_it_needs_a_conninfo_or_an_app() -> None:
    with pytest.raises(InvalidInputError):
        ProcrastinateQueue()
    with pytest.raises(InvalidInputError):
        ProcrastinateQueue("postgresql://x/y", retention=-1)


def test_repr_hides_the_password() -> None:
    queue = ProcrastinateQueue("postgresql://app:hunter2@db.internal:5432/app")
    assert "hunter2" not in repr(queue)
    assert "db.internal" in repr(queue)


async def test_an_unreachable_database_is_a_clear_error_at_once() -> None:
    queue = ProcrastinateQueue("postgresql://postgres@127.0.0.1:1/nothing")
    with anyio.fail_after(60), pytest.raises(QueueDatabaseError, match=r"127\.0\.0\.1"):
        await queue.open()


async def test_a_database_without_the_schema_is_a_clear_error_and_stores_nothing(
    postgres_session_url: str,
) -> None:
    with postgres_database(schema=False) as url:
        async with ProcrastinateQueue(url) as queue:
            sub = WebhookSubscription("https://example.com/hooks", SECRET)
            with pytest.raises(QueueDatabaseError, match="schema is missing"):
                await sub.dispatch(queue, "order.created", {})
            await queue.apply_schema()
            await sub.dispatch(queue, "order.created", {})
            assert (await queue.counts()).pending == 1


async def test_applying_the_schema_again_is_harmless(queue: ProcrastinateQueue) -> None:
    await queue.apply_schema()
    await queue.apply_schema()
    assert await queue.counts() == QueueCounts(0, 0, 0, 0, 0)


async def test_connection_must_be_a_psycopg_async_connection(
    queue: ProcrastinateQueue, postgres_url: str
) -> None:
    sub = WebhookSubscription("https://example.com/hooks", SECRET)
    with pytest.raises(TypeError, match=r"psycopg\.AsyncConnection"):
        await sub.dispatch(queue, "order.created", {}, connection=object())
    with psycopg.connect(postgres_url) as sync_connection, pytest.raises(TypeError):
        await sub.dispatch(queue, "order.created", {}, connection=sync_connection)
    assert (await queue.counts()).pending == 0
    assert len(secret_memory_of(queue)) == 0


async def test_a_worker_needs_the_delivery_handler(queue: ProcrastinateQueue) -> None:
    with pytest.raises(InvalidInputError, match="register"):
        await queue.run_worker(wait=False)


# --- deliveries -------------------------------------------------------------------------------


async def test_a_timestamped_format_is_signed_at_each_attempt_with_the_remembered_secret(
    queue: ProcrastinateQueue, receiver: MockReceiver
) -> None:
    receiver.expect_signature(SECRET, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    receiver.script([503, 200])
    sub = (
        WebhookSubscription(receiver.url, SECRET)
        .signature_format(SignatureFormat.STANDARD_WEBHOOKS)
        .retry_policy(RetryPolicy(base_delay=0.1, jitter=0))
    )
    delivery_id = await sub.dispatch(queue, "order.created", {"n": 1})
    while (await queue.counts()).delivered == 0:
        await drain(queue)
    assert [d.verified for d in receiver.deliveries] == [True, True]
    assert {d.id for d in receiver.deliveries} == {delivery_id}
    assert len(secret_memory_of(queue)) == 0  # forgotten once delivered


async def test_each_job_is_the_webhook_task_with_the_delivery_id(
    queue: ProcrastinateQueue, postgres_url: str
) -> None:
    sub = WebhookSubscription("https://example.com/hooks", SECRET)
    delivery_id = await sub.dispatch(queue, "order.created", {"n": 1})
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute(
            "SELECT task_name, queue_name, args ->> 'delivery_id' FROM procrastinate_jobs"
        ).fetchone()
    assert row == (TASK_NAME, "webhooks", delivery_id)


# --- stalled jobs -----------------------------------------------------------------------------


async def hold_one_job(queue: ProcrastinateQueue, postgres_url: str, *, silent_for: str) -> int:
    """Take the due job as a worker whose last heartbeat was ``silent_for`` ago."""
    manager = queue.app.job_manager
    worker_id = await manager.register_worker()
    job = await manager.fetch_job(queues=[queue.queue_name], worker_id=worker_id)
    assert job is not None
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - %s::interval WHERE id = %s",
            (silent_for, worker_id),
        )
    return worker_id


async def test_a_job_held_by_a_live_worker_is_left_alone(
    queue: ProcrastinateQueue, receiver: MockReceiver, postgres_url: str
) -> None:
    sub = WebhookSubscription(receiver.url, SECRET)
    await sub.dispatch(queue, "order.created", {})
    await hold_one_job(queue, postgres_url, silent_for="5 seconds")
    assert await queue.recover_stalled(stalled_after=60) == 0
    await drain(queue)
    assert receiver.deliveries == []
    assert (await queue.counts()).in_flight == 1


async def test_a_dead_workers_job_is_recovered_and_the_interruption_logged(
    queue: ProcrastinateQueue, receiver: MockReceiver, postgres_url: str
) -> None:
    sub = WebhookSubscription(receiver.url, SECRET)
    delivery_id = await sub.dispatch(queue, "order.created", {})
    await hold_one_job(queue, postgres_url, silent_for="2 minutes")
    assert await queue.recover_stalled(stalled_after=60) == 1
    assert await queue.recover_stalled(stalled_after=60) == 0  # once only
    await drain(queue)
    history = await queue.history(delivery_id)
    assert [(h.attempt, h.outcome) for h in history] == [(1, "retry"), (2, "delivered")]
    assert history[0].error is not None
    assert "interrupted" in history[0].error
    receiver.assert_delivered(id=delivery_id, times=1)


async def test_a_job_whose_worker_row_was_pruned_is_recovered_too(
    queue: ProcrastinateQueue, receiver: MockReceiver, postgres_url: str
) -> None:
    sub = WebhookSubscription(receiver.url, SECRET)
    delivery_id = await sub.dispatch(queue, "order.created", {})
    worker_id = await hold_one_job(queue, postgres_url, silent_for="5 seconds")
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        # Another worker's start-up pruned the row: the job's worker_id is now NULL.
        connection.execute("DELETE FROM procrastinate_workers WHERE id = %s", (worker_id,))
    assert await queue.recover_stalled(stalled_after=60) == 1
    await drain(queue)
    receiver.assert_delivered(id=delivery_id, times=1)


# --- retention --------------------------------------------------------------------------------


async def test_prune_deletes_old_delivered_jobs_and_their_attempts(
    postgres_url: str,
) -> None:
    async with ProcrastinateQueue(postgres_url, retention=3600) as queue:
        receiver = MockReceiver()
        async with httpx.AsyncClient(transport=receiver.transport) as client:
            await WebhookSubscription.register(queue, client=client)
            sub = WebhookSubscription(receiver.url, SECRET)
            old = await sub.dispatch(queue, "order.old", {})
            await drain(queue)
            with psycopg.connect(postgres_url, autocommit=True) as connection:
                connection.execute(
                    "UPDATE procrastinate_events SET at = now() - interval '3 hours'"
                )
            recent = await sub.dispatch(queue, "order.recent", {})
            await drain(queue)
            assert await queue.prune() == 1
        assert await queue.counts() == QueueCounts(0, 0, 0, 1, 0)
        assert len(await queue.history(recent)) == 1
        with pytest.raises(KeyError):
            await queue.history(old)


async def test_a_sweep_working_from_a_stale_list_leaves_a_recovered_job_alone(
    queue: ProcrastinateQueue, receiver: MockReceiver, postgres_url: str
) -> None:
    sub = WebhookSubscription(receiver.url, SECRET)
    delivery_id = await sub.dispatch(queue, "order.created", {})
    await hold_one_job(queue, postgres_url, silent_for="2 minutes")
    manager = queue.app.job_manager
    (stale,) = await manager.get_stalled_jobs(seconds_since_heartbeat=60)
    assert await queue.recover_stalled(stalled_after=60) == 1  # sweep X
    live = await manager.register_worker()
    assert await manager.fetch_job(queues=[queue.queue_name], worker_id=live) is not None
    assert await queue._recover(stale) is False  # sweep Y, from its list read before X ran
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute(
            "SELECT status, worker_id, attempts FROM procrastinate_jobs"
        ).fetchone()
    assert row == ("doing", live, 1)  # still the live worker's attempt
    interrupted = [h for h in await queue.history(delivery_id) if h.error]
    assert len(interrupted) == 1
