"""Run the examples of docs/scaling.md against the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from example_modules import load_example

from webhook_kit.queues import QueueCounts
from webhook_kit.queues.procrastinate import ProcrastinateQueue
from webhook_kit.testing import MockReceiver

pytestmark = pytest.mark.anyio

app = load_example("scaling_app")
worker = load_example("scaling_worker")


@pytest.fixture
async def queue(postgres_url: str) -> AsyncIterator[ProcrastinateQueue]:
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


async def deliver(queue: ProcrastinateQueue, receiver: MockReceiver) -> None:
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await worker.run_worker(queue, until_idle=True, client=client)


def orders(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None
    return int(row[0])


async def test_a_committed_order_sends_its_webhook(
    queue: ProcrastinateQueue, connection: psycopg.AsyncConnection[Any], postgres_url: str
) -> None:
    delivery_id = await app.create_order(queue, connection, {"id": 42})
    receiver = MockReceiver()
    await deliver(queue, receiver)
    receiver.assert_delivered(id=delivery_id, event="order.created", payload={"id": 42}, times=1)
    assert orders(postgres_url) == 1


async def test_an_order_that_rolls_back_sends_nothing(
    queue: ProcrastinateQueue, connection: psycopg.AsyncConnection[Any], postgres_url: str
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
    await deliver(queue, receiver)
    receiver.assert_no_deliveries()


def test_the_worker_finds_the_secret_by_target() -> None:
    event = app.SUBSCRIPTION.build_event("order.created", {}, now=0.0)
    assert worker.secret_for(event) == "customer-secret"


def test_the_page_includes_both_examples() -> None:
    from example_modules import EXAMPLES

    page = (EXAMPLES.parent / "scaling.md").read_text()
    for name in ("scaling_app", "scaling_worker"):
        assert f'--8<-- "docs/examples/{name}.py"' in page
