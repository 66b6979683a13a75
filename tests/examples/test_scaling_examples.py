"""Run the examples of docs/scaling.md against the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import psycopg
import pytest
from example_modules import EXAMPLES, load_example
from psycopg.types.json import Jsonb

from webhook_kit import PostgresQueue, WebhookEvent, WebhookSubscription, Worker
from webhook_kit.clock import SystemClock
from webhook_kit.queues import QueueCounts
from webhook_kit.testing import MockReceiver

pytestmark = pytest.mark.anyio

app = load_example("scaling_app")
worker = load_example("scaling_worker")


@pytest.fixture
async def queue(postgres_url: str) -> AsyncIterator[PostgresQueue]:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS orders (id serial, body jsonb NOT NULL)")
        connection.execute("TRUNCATE orders")
    opened = await app.open_queue(postgres_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def connection(postgres_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(postgres_url) as opened:
        yield opened


async def deliver(url: str, receiver: MockReceiver) -> None:
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await worker.run_worker(url, until_idle=True, client=client)


def orders(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None
    return int(row[0])


async def test_a_committed_order_sends_its_webhook(
    queue: PostgresQueue, connection: psycopg.AsyncConnection[Any], postgres_url: str
) -> None:
    delivery_id = await app.create_order(queue, connection, {"id": 42})
    receiver = MockReceiver()
    await deliver(postgres_url, receiver)
    receiver.assert_delivered(id=delivery_id, event="order.created", payload={"id": 42}, times=1)
    assert orders(postgres_url) == 1
    assert await queue.counts() == QueueCounts(0, 0, 0, 1, 0)


async def test_an_order_that_rolls_back_sends_nothing(
    queue: PostgresQueue, connection: psycopg.AsyncConnection[Any], postgres_url: str
) -> None:
    async def request_that_fails_after_the_order() -> None:
        async with connection.transaction():  # the request's own transaction, around the order
            await app.create_order(queue, connection, {"id": 43})
            raise RuntimeError("payment declined")

    with pytest.raises(RuntimeError, match="payment declined"):
        await request_that_fails_after_the_order()
    assert orders(postgres_url) == 0
    assert await queue.counts() == QueueCounts(0, 0, 0, 0, 0)
    receiver = MockReceiver()
    await deliver(postgres_url, receiver)
    receiver.assert_no_deliveries()


def test_the_worker_finds_the_secret_by_target() -> None:
    event = app.SUBSCRIPTION.build_event("order.created", {}, now=0.0)
    assert worker.secret_for(event) == "customer-secret"


def test_the_page_includes_both_examples() -> None:
    page = (EXAMPLES.parent / "scaling.md").read_text()
    for name in ("scaling_app", "scaling_worker", "scaling_move_from_procrastinate"):
        assert f'--8<-- "docs/examples/{name}.py"' in page


# -- moving from the procrastinate adapter ------------------------------------------------------

move = load_example("scaling_move_from_procrastinate")

# The part of procrastinate's (3.x) jobs table that the move reads and writes, as it was in the
# databases the adapter ran on.
_PROCRASTINATE_JOBS = """
CREATE TYPE procrastinate_job_status AS ENUM (
    'todo', 'doing', 'succeeded', 'failed', 'cancelled', 'aborting', 'aborted'
);
CREATE TABLE procrastinate_jobs (
    id bigserial PRIMARY KEY,
    queue_name character varying(128) NOT NULL,
    task_name character varying(128) NOT NULL,
    args jsonb DEFAULT '{}' NOT NULL,
    status procrastinate_job_status DEFAULT 'todo' NOT NULL,
    scheduled_at timestamp with time zone NULL,
    attempts integer DEFAULT 0 NOT NULL
);
"""


@pytest.fixture
def procrastinate_era_url() -> Iterator[str]:
    """A database of its own, as the adapter left it: jobs in procrastinate's table."""
    from services import postgres_database

    with postgres_database(schema=False) as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(_PROCRASTINATE_JOBS)
        yield url


def adapter_job(url: str, event: WebhookEvent, status: str, *, in_seconds: float = 0) -> None:
    """One job as the adapter deferred it: the task, and the event as JSON in its arguments."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, scheduled_at)"
            " VALUES ('webhooks', 'webhook_kit.deliver', %s, %s,"
            " CASE WHEN %s > 0 THEN now() + make_interval(secs => %s) END)",
            (
                Jsonb({"delivery_id": event.id, "event": event.to_json()}),
                status,
                in_seconds,
                in_seconds,
            ),
        )


def job_statuses(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT status FROM procrastinate_jobs ORDER BY id").fetchall()
    return [row[0] for row in rows]


@pytest.mark.postgresql
async def test_the_pending_jobs_move_with_their_ids_bodies_and_due_times(
    procrastinate_era_url: str,
) -> None:
    url = procrastinate_era_url
    sub = app.SUBSCRIPTION
    due, later, dead, done = (
        sub.build_event("order.created", {"n": n}, now=SystemClock().now()) for n in range(4)
    )
    adapter_job(url, due, "todo")
    adapter_job(url, later, "todo", in_seconds=3600)
    adapter_job(url, dead, "failed")
    adapter_job(url, done, "succeeded")
    async with PostgresQueue(url) as queue:
        await queue.apply_schema()
        assert sorted(await move.move_pending(queue, url)) == sorted([due.id, later.id])
        assert job_statuses(url) == ["cancelled", "cancelled", "failed", "succeeded"]
        assert await move.move_pending(queue, url) == []  # nothing moves twice

        states = {event.id: (await queue.find_deliveries(event.id))[0] for event in (due, later)}
        assert states[due.id].due is not None
        assert states[due.id].due <= SystemClock().now()
        assert states[later.id].due is not None
        assert states[later.id].due > SystemClock().now() + 3000

        receiver = MockReceiver()
        arrived = anyio.Event()
        receiver.on_delivery = lambda delivery: arrived.set()
        async with httpx.AsyncClient(transport=receiver.transport) as client:
            await WebhookSubscription.register(queue, client=client)
            running = Worker(queue)
            async with anyio.create_task_group() as group:
                group.start_soon(running.run)
                with anyio.fail_after(60):
                    await arrived.wait()
                await running.stop()
        (delivery,) = receiver.assert_delivered(id=due.id, times=1)
        assert delivery.body == due.body.encode()  # the bytes serialised at dispatch
        assert len(receiver.deliveries) == 1  # the later one is not due for an hour
        counts = await queue.counts()
        assert (counts.pending, counts.delivered) == (1, 1)
        next_due = await queue.next_attempt_due()
        assert next_due is not None
        assert next_due > SystemClock().now() + 3000


# -- shards -------------------------------------------------------------------------------------

shards_example = load_example("scaling_shards")


@pytest.fixture
def shard_urls() -> Iterator[list[str]]:
    from services import postgres_database

    with postgres_database(schema=False) as first, postgres_database(schema=False) as second:
        yield [first, second]


@pytest.mark.postgresql
async def test_each_tenant_lives_on_one_shard(shard_urls: list[str]) -> None:
    async with shards_example.Shards(shard_urls) as shards:
        for queue in shards.queues:
            await queue.apply_schema()
        dispatched = {
            tenant: [
                await shards.dispatch(app.SUBSCRIPTION, tenant, "order.created", {"n": n})
                for n in range(2)
            ]
            for tenant in (f"tenant-{n}" for n in range(20))
        }
        for tenant, delivery_ids in dispatched.items():
            home = shards.queue_for(tenant)
            for delivery_id in delivery_ids:
                assert [s.event.id for s in await home.find_deliveries(delivery_id)] == [
                    delivery_id
                ]
                # ...and on no other shard.
                assert [s.event.id for s in await shards.find(delivery_id)] == [delivery_id]
        pending = [(await queue.counts()).pending for queue in shards.queues]
        assert 0 not in pending
        assert (await shards.counts()).pending == sum(pending) == 40


def test_a_tenant_has_the_same_shard_in_every_process() -> None:
    import os
    import subprocess
    import sys

    tenants = [f"tenant-{n}" for n in range(50)]
    shards = shards_example.Shards(["postgresql://a/0", "postgresql://a/1", "postgresql://a/2"])
    here = [shards.queues.index(shards.queue_for(tenant)) for tenant in tenants]
    assert set(here) == {0, 1, 2}
    program = (
        "import sys; sys.path.insert(0, sys.argv[1]); from example_modules import load_example\n"
        "shards = load_example('scaling_shards').Shards(sys.argv[2:])\n"
        f"print([shards.queues.index(shards.queue_for(t)) for t in {tenants!r}])"
    )
    for seed in ("1", "2"):
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                program,
                str(EXAMPLES.parents[1] / "tests" / "examples"),
                "postgresql://a/0",
                "postgresql://a/1",
                "postgresql://a/2",
            ],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert completed.stdout.strip() == str(here)
