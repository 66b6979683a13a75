"""`PostgresQueue`: the queue protocol on PostgreSQL — shared by every worker process and host.

A claim is one statement (``FOR UPDATE SKIP LOCKED``, fair per endpoint, expired leases taken
back), outcomes arriving together share one statement and one commit (`postgres_outcomes`), an
enqueue is one INSERT whose ``pg_notify`` wakes idle workers in every process (a dedicated
LISTEN connection per queue). Due dates and leases are kept on the database server's clock by
default (`time_source`), so workers whose clocks disagree still agree on who holds a lease.

Durability: an enqueue commits with the server's ``synchronous_commit`` (durable on return).
Claims and outcomes commit without waiting for the WAL flush: a crash of the *server* may lose
the last moments of them, and those deliveries are then attempted again once their lease runs
out — at least once, never lost.
The SQL text is in `postgres_sql`, the schema and its migrations in `postgres_schema`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, Literal

from ..clock import Clock, SystemClock
from ..errors import InvalidInputError, MissingDependencyError
from ..events import WebhookEvent, endpoint_of
from ..outcomes import AttemptRecord, DeadLetterRecord, Outcome, RetryAt
from ..url_masking import masked_url, scrubbed
from .errors import QueueStorageError
from .fair_claims import pick_fairly
from .postgres_outcomes import OutcomeBatcher, Pending, batch_parameters
from .postgres_schema import apply_schema, identify
from .postgres_sql import Statements, quoted_schema
from .protocol import (
    DEFAULT_RETENTION,
    UNLIMITED,
    Claim,
    ClaimLimits,
    DeliveryState,
    EndpointRecord,
    QueueCounts,
    UnknownDeliveryError,
    like_prefix,
)
from .signals import WorkSignal

try:
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - exercised only without the extra
    _DRIVER_MISSING = True
else:
    _DRIVER_MISSING = False

__all__ = ["DEFAULT_POOL_SIZE", "DEFAULT_RETENTION", "PostgresQueue", "TimeSource"]

DEFAULT_POOL_SIZE = 8
"""Connections the queue's pool opens at most."""

TimeSource = Literal["database", "clock"]

_PRUNE_EVERY = 60.0
_EVENT_CACHE_LIMIT = 16_384
_RECONNECT_PAUSE = 1.0
_CONNECT_TIMEOUT = 10


class PostgresQueue:
    """The queue protocol on PostgreSQL: durable, shared by every worker process and host.

    Usage:

        async with PostgresQueue("postgresql://app@db/app") as queue:
            await queue.apply_schema()          # once per database (or `webhook-kit schema`)
            await WebhookSubscription.register(queue)
            await subscription.dispatch(queue, "order.created", payload)
            await Worker(queue).run()

    Args:
        conninfo: a libpq connection string or ``postgresql://`` URL.
        clock: the clock the caller's times are on (default `SystemClock`).
        retention: seconds delivered jobs are kept before pruning (default a week).
        pool_size: connections the queue's pool opens at most.
        schema: the PostgreSQL schema holding the queue's tables (created by `apply_schema`).
        time_source: ``"database"`` (the default without ``clock``): due dates and leases are
            kept on the database server's clock, and times handed in or back are translated by
            their distance from ``clock``'s now, so workers whose clocks disagree never take
            over a live lease or run a job early. ``"clock"`` (the default with ``clock``):
            everything is on ``clock`` (a `VirtualClock` in tests).

    Raises:
        MissingDependencyError: psycopg is not installed (``webhook-kit[postgres]``).
        InvalidInputError: a negative retention, a pool size below 1, a schema name that is
            not a plain identifier, or an unknown time source.
    """

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
        if _DRIVER_MISSING:
            raise MissingDependencyError(
                "PostgresQueue needs psycopg 3 and its pool: pip install 'webhook-kit[postgres]'"
            )
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
        self._where = describe_conninfo(conninfo)
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._open_lock: asyncio.Lock | None = None
        self._sync_pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._sync_lock = threading.Lock()
        self._work = WorkSignal()
        self._listener: asyncio.Task[None] | None = None
        self._listening: asyncio.Event | None = None
        self._outcomes = OutcomeBatcher(self._write_outcomes)
        self._last_prune = 0.0
        self._events: dict[str, WebhookEvent] = {}

    # -- opening and closing -----------------------------------------------------------------

    async def __aenter__(self) -> PostgresQueue:
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
        if self._pool is not None:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._pool is not None:
                return
            with self._errors():
                # One connection first: an unreachable server fails here at once, instead of
                # after the pool's reconnect attempts time out.
                probe = await psycopg.AsyncConnection.connect(
                    self.conninfo, connect_timeout=_CONNECT_TIMEOUT
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
                await pool.open(wait=True, timeout=_CONNECT_TIMEOUT)
            self._pool = pool

    async def close(self) -> None:
        """Write pending outcomes, stop listening and close every connection."""
        await self._outcomes.drain()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        self._listening = None
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        with self._sync_lock:
            sync_pool, self._sync_pool = self._sync_pool, None
        if sync_pool is not None:
            await asyncio.to_thread(sync_pool.close)

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

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        pool = self._pool
        if pool is None:
            await self.open()
            pool = self._pool
            if pool is None:  # closed by another task meanwhile
                raise QueueStorageError(f"the queue on {self._where} was closed")
        with self._errors():
            async with pool.connection() as connection:
                yield connection

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turns the driver's errors into `QueueStorageError` naming the database (masked)."""
        try:
            yield
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as exc:
            raise QueueStorageError(
                f"the queue database {self._where} has no webhook-kit schema {self.schema!r}:"
                " run `await queue.apply_schema()` or `webhook-kit schema --queue …` first"
            ) from exc
        except (psycopg.Error, psycopg_pool.PoolTimeout, OSError) as exc:
            message = scrub_conninfo(str(exc).strip(), self.conninfo)
            raise QueueStorageError(
                f"the queue database {self._where} failed: {message}"
            ) from None

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
            with self._errors(), self._sync_connection() as own:
                inserted = own.execute(self._sql.enqueue, params).rowcount
            if inserted == 1:
                self._remember(event)
                self._work.notify()
        if inserted != 1:
            raise InvalidInputError(f"delivery {event.id} is already queued")

    @contextmanager
    def _sync_connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._sync_lock:
            if self._sync_pool is None:
                self._sync_pool = psycopg_pool.ConnectionPool(
                    self.conninfo,
                    min_size=1,
                    max_size=4,
                    kwargs={"autocommit": True, "prepare_threshold": 0},
                    open=False,
                    name=f"webhook-kit {self.schema} (sync)",
                )
                self._sync_pool.open(wait=True, timeout=_CONNECT_TIMEOUT)
            pool = self._sync_pool
        with pool.connection() as connection:
            yield connection

    def _remember(self, event: WebhookEvent) -> None:
        events = self._events
        if len(events) >= _EVENT_CACHE_LIMIT:
            del events[next(iter(events))]  # the oldest
        events[event.id] = event

    # -- claims ----------------------------------------------------------------------------------

    async def claim(
        self, limit: int, *, lease_grace: float, limits: ClaimLimits = UNLIMITED
    ) -> Sequence[Claim]:
        """Lease up to ``limit`` due jobs, earliest due first and each endpoint up to its
        allowance (the jobs beyond it untouched), in one statement when the earliest due jobs
        are within every allowance."""
        if limit <= 0:
            return []
        named = list(limits.per_endpoint)
        params = self._params(
            limit=limit,
            default=limits.default,
            named=named,
            allowances=[limits.per_endpoint[endpoint] for endpoint in named],
            grace=lease_grace,
        )
        async with self._connection() as connection:
            rows = await (await connection.execute(self._sql.claim, params)).fetchall()
            left_out = rows.pop()[9]
            if left_out and len(rows) < limit:
                rows.extend(await self._claim_fairly(connection, rows, limit, limits, params))
        rows.sort(key=lambda row: (row[7], row[8]))
        return [self._claim_of(row) for row in rows]

    async def _claim_fairly(
        self,
        connection: psycopg.AsyncConnection[Any],
        taken: list[tuple[Any, ...]],
        limit: int,
        limits: ClaimLimits,
        params: dict[str, Any],
    ) -> list[tuple[Any, ...]]:
        """A second round when the earliest due jobs went past an endpoint's allowance: each
        endpoint's own earliest, up to what its allowance has left, read through its index."""
        counted = Counter(str(row[4]) for row in taken)
        left = ClaimLimits(
            default=limits.default,
            per_endpoint={
                **limits.per_endpoint,
                **{endpoint: limits.allowance(endpoint) - n for endpoint, n in counted.items()},
            },
        )
        heads = await (await connection.execute(self._sql.endpoint_heads, params)).fetchall()
        # Heads on the server's clock are distances from its now: compare them with 0.
        now = 0.0 if self._database_time else float(params["now"])
        picked = pick_fairly(heads, left, limit - len(taken), now)
        if not picked:
            return []
        fair = dict(
            params,
            endpoints=[endpoint for endpoint, _ in picked],
            counts=[count for _, count in picked],
            limit=limit - len(taken),
        )
        return await (await connection.execute(self._sql.claim_fair, fair)).fetchall()

    def _claim_of(self, row: tuple[Any, ...]) -> Claim:
        delivery_id = row[0]
        event = self._events.get(delivery_id)
        if event is None:
            event = WebhookEvent.from_json(row[6], body=row[5])
            self._remember(event)
        lease_until = self.clock.now() + row[2] if self._database_time else row[2]
        return Claim(event, row[1], lease_until, row[3])

    # -- outcomes --------------------------------------------------------------------------------

    async def record(self, claim: Claim, outcome: Outcome, attempt: AttemptRecord) -> bool:
        """Record an attempt and its outcome; ``False`` if the lease was lost.

        Outcomes share statements and commits: those that arrive while earlier ones are being
        written go together in the next (`postgres_outcomes`). Each call returns once its
        outcome is committed.
        """
        return await self._outcomes.submit(claim, outcome, attempt)

    async def _write_outcomes(self, batch: Sequence[Pending]) -> set[str]:
        params = batch_parameters(batch, self._given)
        params["now"] = now = self.clock.now()
        async with self._connection() as connection:
            rows = await (await connection.execute(self._sql.outcomes, params)).fetchall()
            if now - self._last_prune >= _PRUNE_EVERY:
                self._last_prune = now
                await connection.execute(self._sql.prune, self._params(retention=self.retention))
        recorded = {row[0] for row in rows if row[0] is not None}
        retried = False
        for claim, outcome, _ in batch:
            if claim.event.id in recorded:
                if isinstance(outcome, RetryAt):
                    retried = True
                else:
                    self._events.pop(claim.event.id, None)
        if retried:
            self._work.notify()
        return recorded

    async def release(self, claim: Claim, *, not_before: float | None = None) -> None:
        """Give a leased job back, due at ``not_before`` (default now), the attempt uncounted."""
        now = self.clock.now()
        due = now if not_before is None else not_before
        params = {
            "now": now,
            "due": due - now if self._database_time else due,
            "id": claim.event.id,
            "token": claim.token,
        }
        async with self._connection() as connection:
            await connection.execute(self._sql.release, params)
        self._work.notify()

    # -- waiting ---------------------------------------------------------------------------------

    async def next_attempt_due(self) -> float | None:
        """When the earliest pending delivery is due (maybe past), or ``None`` if none is."""
        async with self._connection() as connection:
            cursor = await connection.execute(self._sql.next_attempt_due, self._params())
            row = await cursor.fetchone()
        return self._back(row[0] if row else None)

    async def next_due(self, *, held: frozenset[str] = frozenset()) -> float | None:
        """The earliest due date of a pending job (of an endpoint not ``held``), or lease
        expiry of an in-flight one."""
        async with self._connection() as connection:
            if held:
                cursor = await connection.execute(self._sql.endpoint_heads, self._params())
                heads = await cursor.fetchall()
                pending = min(
                    (
                        head
                        for endpoint, head in heads
                        if endpoint not in held and head is not None
                    ),
                    default=None,
                )
                cursor = await connection.execute(self._sql.next_lease_end, self._params())
                row = await cursor.fetchone()
                leased = row[0] if row else None
            else:
                cursor = await connection.execute(self._sql.next_due, self._params())
                row = await cursor.fetchone()
                pending, leased = row if row else (None, None)
        found = [value for value in (pending, leased) if value is not None]
        return self._back(min(found)) if found else None

    async def wait_for_work(self, max_wait: float) -> None:
        """Wait, at most ``max_wait`` seconds, for work enqueued (or redriven, released,
        retried) by any process: a dedicated connection LISTENs for the notifications.

        The first call starts listening and returns once it listens (work may have come
        before it did): then the caller looks for work, and later calls wait.
        """
        if self._listener is None or self._listener.done():
            self._listening = asyncio.Event()
            self._listener = asyncio.get_running_loop().create_task(self._listen())
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._listening.wait(), max_wait)
            return
        await self._work.wait(max_wait)

    async def _listen(self) -> None:
        """LISTEN on the queue's channel until cancelled, reconnecting when dropped."""
        channel = self._sql.channel
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=_CONNECT_TIMEOUT
                )
                async with connection:
                    await connection.execute(f'LISTEN "{channel}"')
                    if self._listening is not None:
                        self._listening.set()
                    # Work may have come while no connection listened: look for it now.
                    self._work.notify()
                    async for _ in connection.notifies():
                        self._work.notify()
            except (psycopg.Error, OSError):
                await asyncio.sleep(_RECONNECT_PAUSE)

    # -- dead letters, history, counts -----------------------------------------------------------

    async def list_dead_letters(self) -> list[DeadLetterRecord]:
        """Every dead letter, oldest first."""
        async with self._connection() as connection:
            cursor = await connection.execute(self._sql.list_dead_letters, self._params())
            rows = await cursor.fetchall()
        return [
            DeadLetterRecord(
                event=self._events.get(row[0]) or WebhookEvent.from_json(row[2], body=row[1]),
                reason=row[3],
                gone=bool(row[4]),
                attempts=row[5],
                dead_at=float(self._back(row[6]) or 0.0),
                last_status=row[7],
                last_error=row[8],
                response_excerpt=row[9],
            )
            for row in rows
        ]

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
        return f"PostgresQueue({self._where!r}, schema={self.schema!r})"


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
