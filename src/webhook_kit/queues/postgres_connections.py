"""The PostgreSQL queue's connections: its pools, its LISTEN connection, and its errors.

`Connections` holds a queue's async pool (opened on first use), a small sync pool for
``enqueue_sync`` (opened on first use, thread-safe), and turns the driver's errors into
`QueueStorageError` naming the database with its password masked. `Listener` keeps one
connection LISTENing on the queue's channel, reconnecting when it drops, and wakes a
`WorkSignal` on every notification.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

from ..errors import MissingDependencyError
from ..url_masking import masked_url, scrubbed
from .errors import QueueStorageError
from .signals import WorkSignal

try:
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - exercised only without the extra
    _DRIVER_MISSING = True
else:
    _DRIVER_MISSING = False

__all__ = ["Connections", "Listener", "describe_conninfo", "require_driver", "scrub_conninfo"]

CONNECT_TIMEOUT = 10
"""Seconds to wait for the server when connecting."""

_RECONNECT_PAUSE = 1.0
_SYNC_POOL_SIZE = 4


def require_driver() -> None:
    """Raise `MissingDependencyError` naming the extra if psycopg or its pool is missing."""
    if _DRIVER_MISSING:
        raise MissingDependencyError(
            "PostgresQueue needs psycopg 3 and its pool: pip install 'webhook-kit[postgres]'"
        )


class Connections:
    """One queue's connections to its database.

    Args:
        conninfo: a libpq connection string or ``postgresql://`` URL.
        pool_size: connections the async pool opens at most.
        schema: the queue's schema (named in the error for a schema not applied yet).
    """

    def __init__(self, conninfo: str, *, pool_size: int, schema: str) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.pool_size = pool_size
        self.where = describe_conninfo(conninfo)
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._open_lock: asyncio.Lock | None = None
        self._sync_pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._sync_lock = threading.Lock()

    async def open(self) -> None:
        """Open the async pool (done on first use otherwise).

        Raises:
            QueueStorageError: the server cannot be reached.
        """
        if self._pool is not None:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._pool is not None:
                return
            with self.errors():
                # One connection first: an unreachable server fails here at once, instead of
                # after the pool's reconnect attempts time out.
                probe = await psycopg.AsyncConnection.connect(
                    self.conninfo, connect_timeout=CONNECT_TIMEOUT
                )
                await probe.close()
                pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
                    self.conninfo,
                    min_size=1,
                    max_size=self.pool_size,
                    kwargs={"autocommit": True, "prepare_threshold": 0},
                    open=False,
                    name=f"webhook-kit {self.schema}",
                )
                await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            self._pool = pool

    async def close(self) -> None:
        """Close both pools (a later use opens them again)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        with self._sync_lock:
            sync_pool, self._sync_pool = self._sync_pool, None
        if sync_pool is not None:
            await asyncio.to_thread(sync_pool.close)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection (autocommit: each statement is its own transaction)."""
        pool = self._pool
        if pool is None:
            await self.open()
            pool = self._pool
            if pool is None:  # closed by another task meanwhile
                raise QueueStorageError(f"the queue on {self.where} was closed")
        with self.errors():
            async with pool.connection() as connection:
                yield connection

    @contextmanager
    def sync_connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the sync pool, from any thread (autocommit)."""
        with self.errors():
            with self._sync_lock:
                if self._sync_pool is None:
                    pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
                        self.conninfo,
                        min_size=1,
                        max_size=_SYNC_POOL_SIZE,
                        kwargs={"autocommit": True, "prepare_threshold": 0},
                        open=False,
                        name=f"webhook-kit {self.schema} (sync)",
                    )
                    pool.open(wait=True, timeout=CONNECT_TIMEOUT)
                    self._sync_pool = pool
                sync_pool = self._sync_pool
            with sync_pool.connection() as connection:
                yield connection

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turns the driver's errors into `QueueStorageError` naming the database (masked)."""
        try:
            yield
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as exc:
            raise QueueStorageError(
                f"the queue database {self.where} has no webhook-kit schema {self.schema!r}:"
                " run `await queue.apply_schema()` or `webhook-kit schema --queue …` first"
            ) from exc
        except (psycopg.Error, psycopg_pool.PoolTimeout, OSError) as exc:
            message = scrub_conninfo(str(exc).strip(), self.conninfo)
            raise QueueStorageError(f"the queue database {self.where} failed: {message}") from None


class Listener:
    """A connection LISTENing on ``channel`` that wakes ``signal`` on every notification.

    Args:
        conninfo: where to connect.
        channel: the channel name (NOTIFY'd by every enqueue, redrive, release and retry).
        signal: what to wake.
    """

    def __init__(self, conninfo: str, channel: str, signal: WorkSignal) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.signal = signal
        self._task: asyncio.Task[None] | None = None
        self._listening: asyncio.Event | None = None

    async def wait(self, max_wait: float) -> None:
        """Wait for a notification (or a wake-up from this process), at most ``max_wait``.

        The first call starts listening and returns once it listens (work may have come
        before it did): the caller looks for work then, and later calls wait.
        """
        if self._task is None or self._task.done():
            self._listening = listening = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._listen(listening))
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(listening.wait(), max_wait)
            return
        await self.signal.wait(max_wait)

    async def _listen(self, listening: asyncio.Event) -> None:
        """LISTEN until cancelled, reconnecting when the connection drops."""
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT
                )
                async with connection:
                    await connection.execute(f'LISTEN "{self.channel}"')  # a checked name
                    listening.set()
                    # Work may have come while no connection listened: look for it now.
                    self.signal.notify()
                    async for _ in connection.notifies():
                        self.signal.notify()
            except (psycopg.Error, OSError):
                await asyncio.sleep(_RECONNECT_PAUSE)

    async def close(self) -> None:
        """Stop listening (a later `wait` starts again)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def describe_conninfo(conninfo: str) -> str:
    """Where ``conninfo`` points, for messages and reprs: never its password or user."""
    if "://" in conninfo:
        return masked_url(conninfo)
    try:
        parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "<conninfo>"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    database = parts.get("dbname") or ""
    return f"postgresql://{host}{port}/{database}"


def scrub_conninfo(text: str, conninfo: str) -> str:
    """``text`` (a driver's message) without any secret part of ``conninfo``."""
    if "://" in conninfo:
        return scrubbed(text, conninfo)
    try:
        password = psycopg.conninfo.conninfo_to_dict(conninfo).get("password")
    except psycopg.Error:
        return text.replace(conninfo, "<conninfo>")
    text = text.replace(conninfo, describe_conninfo(conninfo))
    return text.replace(str(password), "…") if password else text
