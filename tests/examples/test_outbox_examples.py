"""Run the outbox examples of docs/scaling.md (Django, SQLAlchemy sync and async) against the
real PostgreSQL: a committed order's webhook is delivered by a `Worker`, a rolled-back one's is
never stored nor sent."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import psycopg
import pytest
from example_modules import EXAMPLES, load_example

from webhook_kit import PostgresQueue
from webhook_kit.queues import QueueCounts
from webhook_kit.testing import MockReceiver

pytestmark = pytest.mark.anyio

worker = load_example("scaling_worker")
EMPTY = QueueCounts(0, 0, 0, 0, 0)
DJANGO_PROCESS = Path(__file__).with_name("django_outbox_process.py")


@pytest.fixture
def shop(postgres_url: str) -> str:
    """The app's own table, beside the queue's schema, in the same database."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS shop_order (id serial PRIMARY KEY, body json NOT NULL)"
        )
        connection.execute("TRUNCATE shop_order RESTART IDENTITY")
    return postgres_url


@pytest.fixture
async def queue(shop: str) -> AsyncIterator[PostgresQueue]:
    async with PostgresQueue(shop) as opened:
        await opened.apply_schema()
        yield opened


def stored_orders(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT id, body FROM shop_order ORDER BY id").fetchall()
    return [{"id": order_id, **body} for order_id, body in rows]


async def deliver_everything(url: str) -> MockReceiver:
    """A worker process's job: run a `Worker` until nothing is pending, into a receiver."""
    receiver = MockReceiver().expect_signature("customer-secret")
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await worker.run_worker(url, until_idle=True, client=client)
    assert receiver.problems == []
    return receiver


# -- Django --------------------------------------------------------------------------------------

# Served by a process of its own (django_outbox_process.py); loaded here for what needs no
# settings.
django_example = load_example("outbox_django")


def test_django_charges_after_dispatching_and_declines_by_card() -> None:
    django_example.charge({"card": "ok"})
    with pytest.raises(django_example.PaymentDeclined):
        django_example.charge({"card": "declined"})


def run_django(url: str, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, "-W", "error", str(DJANGO_PROCESS), url, json.dumps(orders)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    responses: list[dict[str, Any]] = json.loads(completed.stdout)
    return responses


async def test_django_a_declined_order_and_its_webhook_roll_back_together(
    queue: PostgresQueue, shop: str
) -> None:
    declined = {"sku": "A-1", "card": "declined"}
    paid = {"sku": "B-2", "card": "ok"}
    responses = await anyio.to_thread.run_sync(run_django, shop, [declined, paid])
    assert responses == [
        {"status": 402, "body": {"error": "payment declined"}},
        {"status": 201, "body": {"id": 2}},  # id 1 went with the rolled-back order
    ]
    assert stored_orders(shop) == [{"id": 2, **paid}]
    assert (await queue.counts()).pending == 1
    receiver = await deliver_everything(shop)
    receiver.assert_delivered(event="order.created", payload={"id": 2, **paid}, times=1)
    assert len(receiver.deliveries) == 1
    assert await queue.counts() == QueueCounts(0, 0, 0, 1, 0)


# -- SQLAlchemy ----------------------------------------------------------------------------------

sqlalchemy_example = load_example("outbox_sqlalchemy")


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def engine(shop: str) -> Iterator[Any]:
    from sqlalchemy import create_engine

    created = create_engine(sqlalchemy_url(shop))
    try:
        yield created
    finally:
        created.dispose()


@pytest.fixture
async def async_engine(shop: str) -> AsyncIterator[Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    created = create_async_engine(sqlalchemy_url(shop))
    try:
        yield created
    finally:
        await created.dispose()


async def test_sqlalchemy_sync_commits_the_webhook_with_the_order(
    queue: PostgresQueue, engine: Any, shop: str
) -> None:
    declined = {"sku": "A-1", "card": "declined"}
    with pytest.raises(sqlalchemy_example.PaymentDeclined):
        await anyio.to_thread.run_sync(sqlalchemy_example.create_order, engine, queue, declined)
    assert stored_orders(shop) == []
    assert await queue.counts() == EMPTY
    (await deliver_everything(shop)).assert_no_deliveries()

    paid = {"sku": "B-2", "card": "ok"}
    delivery_id = await anyio.to_thread.run_sync(
        sqlalchemy_example.create_order, engine, queue, paid
    )
    assert stored_orders(shop) == [{"id": 2, **paid}]
    receiver = await deliver_everything(shop)
    receiver.assert_delivered(id=delivery_id, payload={"id": 2, **paid}, times=1)


async def test_sqlalchemy_async_commits_the_webhook_with_the_order(
    queue: PostgresQueue, async_engine: Any, shop: str
) -> None:
    declined = {"sku": "A-1", "card": "declined"}
    with pytest.raises(sqlalchemy_example.PaymentDeclined):
        await sqlalchemy_example.create_order_async(async_engine, queue, declined)
    assert stored_orders(shop) == []
    assert await queue.counts() == EMPTY
    (await deliver_everything(shop)).assert_no_deliveries()

    paid = {"sku": "B-2", "card": "ok"}
    delivery_id = await sqlalchemy_example.create_order_async(async_engine, queue, paid)
    assert stored_orders(shop) == [{"id": 2, **paid}]
    receiver = await deliver_everything(shop)
    receiver.assert_delivered(id=delivery_id, payload={"id": 2, **paid}, times=1)


def test_the_page_includes_the_outbox_examples() -> None:
    page = (EXAMPLES.parent / "scaling.md").read_text()
    for name in ("outbox_django", "outbox_sqlalchemy"):
        assert f'--8<-- "docs/examples/{name}.py"' in page
