"""`PostgresStore`: what the PostgreSQL queue stores and reports (`DeliveryStore`).

The leasing half — claims, outcomes, waiting for work — is `PostgresQueue`, its subclass, in
`postgres`; use that. This half opens the connections (`postgres_connections`), applies the
schema, enqueues (alone or in a caller's transaction), and answers dead letters, redrives,
history, counts, endpoint health and pruning. Times go in and out through `_given` and
`_back`, so on the database's clock (``time_source="database"``) every comparison uses the
server's now (see `postgres_sql`).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager, suppress
from typing import Any, Literal, TypeVar

from ..clock import Clock, SystemClock
from ..errors import InvalidInputError
from ..events import WebhookEvent, endpoint_of
from ..outcomes import AttemptRecord, DeadLetterRecord
from .postgres_connections import Connections, require_driver
from .postgres_schema import apply_schema, identify
from .postgres_sql import Statements, quoted_schema
from .protocol import (
    DEFAULT_RETENTION,
    DeliveryState,
    EndpointRecord,
    QueueCounts,
    UnknownDeliveryError,
    like_prefix,
)
from .records import dead_letter_from_row
from .signals import WorkSignal

with suppress(ImportError):  # without the extra: the constructor says which to install
    import psycopg

__all__ = ["DEFAULT_POOL_SIZE", "PostgresStore", "TimeSource"]

DEFAULT_POOL_SIZE = 8
"""Connections the queue's pool opens at most."""

TimeSource = Literal["database", "clock"]
"""Whose clock due dates and leases are kept on: the database server's, or the queue's."""

_EVENT_CACHE_LIMIT = 16_384

_Store = TypeVar("_Store", bound="PostgresStore")


class PostgresStore:
    """The storing half of `PostgresQueue` (which see, for the arguments)."""

    def __init__(
        self,
        conninfo: str,
        *,
        clock: Clock | None = None,
        retention: float = DEFAULT_RETENTION,
        pool_size: int = DEFAULT_POOL_SIZE,
        schema: str = "webhook_kit",
        time_source: TimeSource | None = None,
    ) -> None:
        require_driver()
        if not isinstance(conninfo, str) or not conninfo:
            raise InvalidInputError("conninfo must be a non-empty connection string")
        if retention < 0:
            raise InvalidInputError("retention must not be negative")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise InvalidInputError("pool_size must be a whole number of at least 1")
        if time_source is None:
            time_source = "database" if clock is None else "clock"
        if time_source not in ("database", "clock"):
            raise InvalidInputError("time_source must be 'database' or 'clock'")
        quoted_schema(schema)
        self.conninfo = conninfo
        self.schema = schema
        self.time_source: TimeSource = time_source
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.retention = float(retention)
        self.pool_size = pool_size
        self._sql = Statements(schema, database_time=time_source == "database")
        self._database_time = time_source == "database"
        self._db = Connections(conninfo, pool_size=pool_size, schema=schema)
        self._where = self._db.where
        self._work = WorkSignal()
        self._last_prune = 0.0
        self._events: dict[str, WebhookEvent] = {}

    # -- opening and closing -----------------------------------------------------------------

    async def __aenter__(self: _Store) -> _Store:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the connection pool (done on first use otherwise).

        Raises:
            QueueStorageError: the server cannot be reached (the message names the database,
                never its password).
        """
        await self._db.open()

    async def close(self) -> None:
        """Close every connection (a later use opens them again)."""
        await self._db.close()

    async def apply_schema(self) -> int:
        """Create or migrate the queue's tables; return the schema version found before.

        Raises:
            QueueStorageError: the schema holds another application's tables (left as found).
            SchemaError: the schema is a newer webhook-kit's (left as found).
        """
        async with self._connection() as connection:
            return await apply_schema(connection, self.schema, self._where)

    async def schema_version(self) -> int:
        """The version of webhook-kit's schema in the database (0: not applied); writes nothing.

        Raises:
            QueueStorageError: the schema holds another application's tables.
            SchemaError: the schema is a newer webhook-kit's.
        """
        async with self._connection() as connection:
            return await identify(connection, self.schema, self._where)

    def _connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        return self._db.connection()

    def _errors(self) -> AbstractContextManager[None]:
        return self._db.errors()

    # -- times ----------------------------------------------------------------------------------

    def _given(self, at: float) -> float:
        """A caller's time as the statements take it (its distance from now on the server)."""
        return at - self.clock.now() if self._database_time else at

    def _back(self, value: float | None) -> float | None:
        """A time handed back by a statement, on the caller's clock."""
        if value is None:
            return None
        return self.clock.now() + value if self._database_time else float(value)

    def _params(self, **params: Any) -> dict[str, Any]:
        params["now"] = self.clock.now()
        return params

    # -- enqueue ---------------------------------------------------------------------------------

    def _enqueue_params(self, event: WebhookEvent, not_before: float | None) -> dict[str, Any]:
        now = self.clock.now()
        due = now if not_before is None else not_before
        return {
            "now": now,
            "id": event.id,
            "due": due - now if self._database_time else due,
            "timeout": event.timeout,
            "created_at": event.created_at,
            "target_url": event.target_url,
            "endpoint": endpoint_of(event.target_url),
            "body": event.body,
            "event_json": event.to_json(with_body=False),
        }

    async def enqueue(
        self,
        event: WebhookEvent,
        *,
        not_before: float | None = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> None:
        """Store ``event``, due at ``not_before`` (default now); committed when this returns.

        Args:
            event: the delivery to store.
            not_before: when it is due, on the queue's clock.
            connection: the caller's open ``psycopg.AsyncConnection``: the INSERT (and the
                notification waking workers) run in its transaction, committed or rolled back
                by the caller, never by the queue.

        Raises:
            InvalidInputError: a delivery with this id is already stored.
            TypeError: ``connection`` is not a psycopg async connection.
        """
        params = self._enqueue_params(event, not_before)
        if connection is not None:
            if not isinstance(connection, psycopg.AsyncConnection):
                raise TypeError(
                    "PostgresQueue.enqueue(connection=) takes a psycopg.AsyncConnection"
                    f" (use enqueue_sync for a psycopg.Connection), not {type(connection)!r}"
                )
            with self._errors():
                cursor = await connection.execute(self._sql.enqueue, params)
                inserted = cursor.rowcount
        else:
            async with self._connection() as own:
                cursor = await own.execute(self._sql.enqueue, params)
                inserted = cursor.rowcount
            if inserted == 1:  # a duplicate must not replace the stored delivery's event here
                self._remember(event)
                self._work.notify()
        if inserted != 1:
            raise InvalidInputError(f"delivery {event.id} is already queued")

    def enqueue_sync(
        self,
        event: WebhookEvent,
        *,
        not_before: float | None = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> None:
        """`enqueue` from synchronous code (any thread), on the caller's ``psycopg.Connection``
        (in its transaction) or on a small pool of the queue's own."""
        params = self._enqueue_params(event, not_before)
        if connection is not None:
            if not isinstance(connection, psycopg.Connection):
                raise TypeError(
                    "PostgresQueue.enqueue_sync(connection=) takes a psycopg.Connection"
                    f" (use enqueue for a psycopg.AsyncConnection), not {type(connection)!r}"
                )
            with self._errors():
                inserted = connection.execute(self._sql.enqueue, params).rowcount
        else:
            with self._db.sync_connection() as own:
                inserted = own.execute(self._sql.enqueue, params).rowcount
            if inserted == 1:
                self._remember(event)
                self._work.notify()
        if inserted != 1:
            raise InvalidInputError(f"delivery {event.id} is already queued")

    def _remember(self, event: WebhookEvent) -> None:
        events = self._events
        if len(events) >= _EVENT_CACHE_LIMIT:
            del events[next(iter(events))]  # the oldest
        events[event.id] = event

    # -- reading back --------------------------------------------------------------------------

    async def next_attempt_due(self) -> float | None:
        """When the earliest pending delivery is due (maybe past), or ``None`` if none is."""
        async with self._connection() as connection:
            cursor = await connection.execute(self._sql.next_attempt_due, self._params())
            row = await cursor.fetchone()
        return self._back(row[0] if row else None)

    # -- dead letters, history, counts -----------------------------------------------------------

    async def list_dead_letters(self) -> list[DeadLetterRecord]:
        """Every dead letter, oldest first."""
        async with self._connection() as connection:
            cursor = await connection.execute(self._sql.list_dead_letters, self._params())
            rows = await cursor.fetchall()
        return [
            dead_letter_from_row(row, event_of=self._stored_event, time_of=self._stored_time)
            for row in rows
        ]

    def _stored_event(self, delivery_id: str, body: str, event_json: str) -> WebhookEvent:
        return self._events.get(delivery_id) or WebhookEvent.from_json(event_json, body=body)

    def _stored_time(self, value: float) -> float:
        return float(self._back(value) or 0.0)

    async def redrive(self, delivery_id: str) -> None:
        """Send a dead letter again: same id and body, a fresh set of attempts, due now.

        Raises:
            UnknownDeliveryError: no dead letter has that id.
        """
        async with self._connection() as connection:
            cursor = await connection.execute(self._sql.redrive, self._params(id=delivery_id))
            row = await cursor.fetchone()
        if not row or not row[0]:
            raise UnknownDeliveryError(f"no dead letter with id {delivery_id}")
        self._work.notify()

    async def redrive_since(self, since: float) -> int:
        """Redrive every dead letter dead-lettered at or after ``since``; return how many."""
        params = self._params(since=self._given(since))
        async with self._connection() as connection:
            row = await (await connection.execute(self._sql.redrive_since, params)).fetchone()
        count = int(row[0]) if row else 0
        if count:
            self._work.notify()
        return count

    async def purge_dead_letters(self, before: float | None = None) -> int:
        """Delete dead letters for good (their jobs and attempts with them); return how many.

        Args:
            before: only those dead-lettered before this time (epoch seconds); ``None``: all.
                Pending, in-flight and delivered jobs are never touched.
        """
        params = self._params(before=None if before is None else self._given(before))
        async with self._connection() as connection:
            cursor = await connection.execute(self._sql.purge_dead_letters, params)
            ids = [row[0] for row in await cursor.fetchall()]
        for delivery_id in ids:
            self._events.pop(delivery_id, None)
        return len(ids)

    async def history(self, delivery_id: str) -> list[AttemptRecord]:
        """Every recorded attempt of one delivery, in order.

        Raises:
            UnknownDeliveryError: no delivery has that id (or it was pruned).
        """
        async with self._connection() as connection:
            known = await (
                await connection.execute(self._sql.job_exists, {"id": delivery_id})
            ).fetchone()
            cursor = await connection.execute(self._sql.history, {"id": delivery_id})
            rows = await cursor.fetchall()
        if known is None:
            raise UnknownDeliveryError(f"no delivery with id {delivery_id}")
        return [AttemptRecord(delivery_id, *row) for row in rows]

    async def find_deliveries(self, prefix: str, *, limit: int = 2) -> list[DeliveryState]:
        """The deliveries whose id is ``prefix`` or starts with it, at most ``limit``; an id
        equal to ``prefix`` comes first."""
        params = self._params(pattern=like_prefix(prefix), prefix=prefix, limit=limit)
        async with self._connection() as connection:
            rows = await (await connection.execute(self._sql.find_deliveries, params)).fetchall()
        return [
            DeliveryState(
                event=self._events.get(row[0]) or WebhookEvent.from_json(row[2], body=row[1]),
                state=row[3],
                due=self._back(row[4]) if row[3] == "pending" else None,
            )
            for row in rows
        ]

    async def counts(self) -> QueueCounts:
        """How many deliveries are in each state."""
        async with self._connection() as connection:
            row = await (await connection.execute(self._sql.counts, self._params())).fetchone()
        return QueueCounts(*(int(value or 0) for value in row or (0, 0, 0, 0, 0)))

    # -- endpoint health -------------------------------------------------------------------------

    async def endpoint_records(self) -> list[EndpointRecord]:
        """Every endpoint whose health was recorded (by any process)."""
        async with self._connection() as connection:
            rows = await (await connection.execute(self._sql.endpoint_records)).fetchall()
        return [EndpointRecord(*row) for row in rows]

    async def save_endpoint(self, record: EndpointRecord) -> None:
        """Record an endpoint's health (every worker on the database and the CLI see it)."""
        params = {
            "endpoint": record.endpoint,
            "state": record.state,
            "reason": record.reason,
            "updated_at": record.updated_at,
            "probe_at": record.probe_at,
        }
        async with self._connection() as connection:
            await connection.execute(self._sql.save_endpoint, params)
        self._work.notify()

    # -- retention -------------------------------------------------------------------------------

    async def prune(self) -> int:
        """Delete delivered jobs older than the retention period; return how many."""
        async with self._connection() as connection:
            cursor = await connection.execute(
                self._sql.prune, self._params(retention=self.retention)
            )
            return cursor.rowcount

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r}, schema={self.schema!r})"
