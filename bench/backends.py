"""The queues a benchmark runs on: memory, SQLite, and PostgreSQL where the server is reachable.

PostgreSQL: ``WEBHOOK_KIT_POSTGRES_URL`` (default: the local server, user ``postgres``). A
benchmark makes a database of its own there and drops it at the end; each queue it opens gets
a schema of its own in that database, so runs never see each other's jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from webhook_kit import SQLiteQueue, WebhookSubscription
from webhook_kit.queues import MemoryQueue, WebhookQueue

ADMIN_URL = os.environ.get(
    "WEBHOOK_KIT_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

QueueFactory = Callable[[], contextlib.AbstractAsyncContextManager[WebhookQueue]]


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be benchmarked here, or ``None``."""
    try:
        import psycopg

        import webhook_kit.queues.postgres  # noqa: F401 (the extra is installed)
    except ImportError as exc:
        return f"the postgres extra is missing ({exc}): pip install 'webhook-kit[postgres]'"
    try:
        psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        return f"PostgreSQL is not reachable at {ADMIN_URL}: {reason}"
    return None


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database; yields its URL and drops it after."""
    import psycopg

    name = f"webhook_kit_bench_{uuid.uuid4().hex[:12]}"
    base, _, _ = ADMIN_URL.rpartition("/")
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_schema() -> str:
    """A PostgreSQL schema name no run has used."""
    return f"bench_{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def memory_queue() -> AsyncIterator[WebhookQueue]:
    yield MemoryQueue()


@contextlib.asynccontextmanager
async def sqlite_queue(directory: Path) -> AsyncIterator[WebhookQueue]:
    """A new SQLiteQueue file in ``directory``."""
    queue = SQLiteQueue(directory / f"bench-{uuid.uuid4().hex}.sqlite3")
    try:
        yield queue
    finally:
        queue.close()


@contextlib.asynccontextmanager
async def postgres_queue(url: str) -> AsyncIterator[WebhookQueue]:
    """A PostgresQueue on a new schema of the database at ``url``."""
    from webhook_kit.queues.postgres import PostgresQueue

    async with PostgresQueue(url, schema=fresh_schema()) as queue:
        await queue.apply_schema()
        yield queue


@contextlib.contextmanager
def queue_backends(directory: Path) -> Iterator[tuple[dict[str, QueueFactory], str | None]]:
    """Factories of every queue to run on, by name, and why PostgreSQL is left out (if it is)."""
    factories: dict[str, QueueFactory] = {
        "MemoryQueue": memory_queue,
        "SQLiteQueue": functools.partial(sqlite_queue, directory),
    }
    reason = postgres_unavailable()
    if reason is not None:
        yield factories, reason
        return
    with postgres_database() as url:
        factories["PostgresQueue"] = functools.partial(postgres_queue, url)
        yield factories, None


async def dispatch_many(
    subscription: WebhookSubscription,
    queue: WebhookQueue,
    count: int,
    payload: object,
    *,
    dispatchers: int = 16,
) -> None:
    """Store ``count`` deliveries with ``dispatchers`` dispatches in flight (setup, untimed:
    a queue on a server stores them faster so than one at a time)."""

    async def dispatch(share: int) -> None:
        for _ in range(share):
            await subscription.dispatch(queue, "order.created", payload)

    share, extra = divmod(count, dispatchers)
    await asyncio.gather(*(dispatch(share + (n < extra)) for n in range(dispatchers)))
