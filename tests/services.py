"""The real servers some tests need, and what happens where one is missing.

PostgreSQL is found at ``WEBHOOK_KIT_POSTGRES_URL`` (default: the local server, user
``postgres``). A test that needs it skips, naming the address it tried, when it cannot be
reached — unless ``WEBHOOK_KIT_REQUIRE_SERVICES=1`` (set by CI), which makes that a failure.
Each test session works in a database of its own, created here and dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_URL = os.environ.get(
    "WEBHOOK_KIT_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("WEBHOOK_KIT_REQUIRE_SERVICES") == "1"

# Tables a test may have written to; emptied between tests: PostgresQueue's (in its schema,
# `webhook_kit`).
_TABLES = "webhook_kit.jobs, webhook_kit.attempts, webhook_kit.dead_letters, webhook_kit.endpoints"


def missing_service(reason: str) -> None:
    """Skip the test — or, where services are required, fail it — saying what is missing."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (WEBHOOK_KIT_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@contextmanager
def postgres_database(*, schema: bool = True) -> Iterator[str]:
    """A new database (with `PostgresQueue`'s schema unless told not to); yields its URL, then
    drops it."""
    try:
        import psycopg
    except ImportError:
        missing_service("psycopg is not installed (pip install 'webhook-kit[postgres]')")
        raise AssertionError("unreachable") from None
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        missing_service(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}".strip())
        raise AssertionError("unreachable") from None
    name = f"webhook_kit_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = _with_database(POSTGRES_URL, name)
            if schema:
                _apply_schema(url)
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _apply_schema(url: str) -> None:
    """`PostgresQueue.apply_schema`, on a thread of its own: the caller may be inside an event
    loop (a fixture first asked for by an async one)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from webhook_kit.queues.postgres import PostgresQueue

    async def apply() -> None:
        async with PostgresQueue(url) as queue:
            await queue.apply_schema()

    with ThreadPoolExecutor(1) as executor:
        executor.submit(asyncio.run, apply()).result()


def empty_tables(url: str) -> None:
    """Remove every job, attempt, dead letter and worker row a test left behind."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
