"""`dispatch(..., connection=)` and `dispatch_sync(..., connection=)`: which queue joins a
caller's transaction, and which connection each call takes (the message says what to pass)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from webhook_kit.clock import VirtualClock
from webhook_kit.events import WebhookEvent
from webhook_kit.queues import MemoryQueue, QueueCounts
from webhook_kit.registrations import secret_memory_of
from webhook_kit.signing import SignatureFormat
from webhook_kit.subscription import WebhookSubscription

URL = "https://customer.example.com/hooks"
SECRET = "subSecretValue7c1d9e"
EMPTY = QueueCounts(pending=0, due=0, in_flight=0, delivered=0, dead=0)


class Connection:
    """Stands for a driver's connection the queue below knows how to write on."""


class TransactionalQueue(MemoryQueue):
    """A memory queue that can join a caller's "transaction": it notes which connection."""

    def __init__(self) -> None:
        super().__init__(clock=VirtualClock(1_700_000_000))
        self.connections: list[object] = []
        self.fail = False

    async def enqueue(
        self, event: WebhookEvent, *, not_before: float | None = None, connection: object = None
    ) -> None:
        self._note(connection)
        MemoryQueue.enqueue_sync(self, event, not_before=not_before)

    def enqueue_sync(
        self, event: WebhookEvent, *, not_before: float | None = None, connection: object = None
    ) -> None:
        self._note(connection)
        super().enqueue_sync(event, not_before=not_before)

    def _note(self, connection: object) -> None:
        if self.fail:
            raise RuntimeError("the statement failed")
        self.connections.append(connection)


def subscription() -> WebhookSubscription:
    # Timestamped: dispatch keeps the secret in memory, so a leftover one would show.
    return WebhookSubscription(URL, SECRET).signature_format(SignatureFormat.STANDARD_WEBHOOKS)


@pytest.fixture
def queue() -> TransactionalQueue:
    return TransactionalQueue()


@pytest.mark.anyio
async def test_dispatch_hands_the_connection_to_the_queue(queue: TransactionalQueue) -> None:
    connection = Connection()
    await subscription().dispatch(queue, "order.created", {}, connection=connection)
    assert queue.connections == [connection]
    assert (await queue.counts()).pending == 1
    await subscription().dispatch(queue, "order.created", {})
    assert queue.connections == [connection, None]


def test_dispatch_sync_hands_the_connection_to_the_queue(queue: TransactionalQueue) -> None:
    connection = Connection()
    subscription().dispatch_sync(queue, "order.created", {}, connection=connection)
    subscription().dispatch_sync(queue, "order.created", {})
    assert queue.connections == [connection, None]


@pytest.mark.anyio
async def test_a_failed_transactional_enqueue_forgets_the_secret(
    queue: TransactionalQueue,
) -> None:
    queue.fail = True
    with pytest.raises(RuntimeError, match="the statement failed"):
        await subscription().dispatch(queue, "order.created", {}, connection=Connection())
    with pytest.raises(RuntimeError, match="the statement failed"):
        subscription().dispatch_sync(queue, "order.created", {}, connection=Connection())
    assert len(secret_memory_of(queue)) == 0
    assert await queue.counts() == EMPTY


@pytest.mark.anyio
async def test_a_queue_that_cannot_join_a_transaction_refuses_the_connection() -> None:
    queue = MemoryQueue(clock=VirtualClock(1_700_000_000))
    with pytest.raises(TypeError, match="MemoryQueue cannot enqueue inside your transaction"):
        await subscription().dispatch(queue, "order.created", {}, connection=Connection())
    with pytest.raises(TypeError, match="MemoryQueue cannot enqueue inside your transaction"):
        subscription().dispatch_sync(queue, "order.created", {}, connection=Connection())
    assert len(secret_memory_of(queue)) == 0
    assert await queue.counts() == EMPTY


def django_connection() -> Any:
    from django.db import connection

    return connection  # the proxy: a common slip for connection.connection


@pytest.mark.anyio
async def test_a_framework_connection_names_the_driver_connection_to_pass(
    queue: TransactionalQueue,
) -> None:
    with pytest.raises(TypeError, match=r"dispatch_sync\(\.\.\., connection=django\.db\."):
        await subscription().dispatch(queue, "e", {}, connection=django_connection())
    with pytest.raises(TypeError, match=r"pass django\.db\.connection\.connection inside"):
        subscription().dispatch_sync(queue, "e", {}, connection=django_connection())
    assert queue.connections == []
    assert len(secret_memory_of(queue)) == 0


class Psycopg2Connection:
    """Named as psycopg2 names its connections (psycopg2 itself is not installed here)."""

    __module__ = "psycopg2.extensions"


@pytest.mark.anyio
async def test_a_psycopg2_connection_says_psycopg_3_is_needed(queue: TransactionalQueue) -> None:
    with pytest.raises(TypeError, match=r"cannot take a psycopg2\.extensions\..*not psycopg2"):
        await subscription().dispatch(queue, "e", {}, connection=Psycopg2Connection())
    with pytest.raises(TypeError, match="writes with psycopg 3"):
        subscription().dispatch_sync(queue, "e", {}, connection=Psycopg2Connection())
    assert queue.connections == []


@pytest.fixture
def sqlalchemy_connection(postgres_url: str) -> Iterator[Any]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@pytest.mark.anyio
async def test_a_sqlalchemy_connection_names_the_driver_connection_to_pass(
    queue: TransactionalQueue, sqlalchemy_connection: Any
) -> None:
    with pytest.raises(TypeError, match=r"get_raw_connection\(\)\)\.driver_connection"):
        await subscription().dispatch(queue, "e", {}, connection=sqlalchemy_connection)
    with pytest.raises(TypeError, match=r"pass conn\.connection\.driver_connection"):
        subscription().dispatch_sync(queue, "e", {}, connection=sqlalchemy_connection)
    driver = sqlalchemy_connection.connection.driver_connection
    subscription().dispatch_sync(queue, "e", {}, connection=driver)
    assert queue.connections == [driver]


@pytest.mark.anyio
async def test_a_sync_psycopg_connection_is_refused_by_dispatch(
    queue: TransactionalQueue, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url) as connection:
        with pytest.raises(TypeError, match=r"use dispatch_sync\(\.\.\., connection=\.\.\.\)"):
            await subscription().dispatch(queue, "e", {}, connection=connection)
        subscription().dispatch_sync(queue, "e", {}, connection=connection)
        assert queue.connections == [connection]
    assert len(secret_memory_of(queue)) == 1  # the one dispatched


@pytest.mark.anyio
async def test_an_async_psycopg_connection_is_refused_by_dispatch_sync(
    queue: TransactionalQueue, postgres_url: str
) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
        with pytest.raises(TypeError, match=r"use `await dispatch\(\.\.\., connection=\.\.\.\)`"):
            subscription().dispatch_sync(queue, "e", {}, connection=connection)
        await subscription().dispatch(queue, "e", {}, connection=connection)
        assert queue.connections == [connection]
    assert len(secret_memory_of(queue)) == 1
