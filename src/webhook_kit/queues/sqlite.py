"""`SQLiteQueue`: the queue protocol on one SQLite file — durable, shared by processes.

Every write is a short transaction in WAL mode, run inline on the event loop: an enqueue is one
INSERT and COMMIT (``dispatch`` returns once it is durable), a claim one UPDATE … RETURNING for a
whole batch, and outcomes arriving within `GROUP_COMMIT_WINDOW` share one COMMIT (group commit:
a commit writes whole pages, so sharing it saves most of the I/O). Measured against running
claims and outcomes on a thread of their own, inline was faster: the GIL made the thread wait as
often as it helped. Nothing is held across an ``await``, so several processes can work one file;
``busy_timeout`` covers the moments when another process holds the write lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ..clock import Clock, SystemClock
from ..errors import InvalidInputError
from ..events import WebhookEvent, endpoint_of
from ..outcomes import AttemptRecord, DeadLetter, DeadLetterRecord, Delivered, Outcome, RetryAt
from .fair_claims import FairRounds
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
from .records import dead_letter_from_row
from .signals import WorkSignal
from .sqlite_claims import ENDPOINT_HEADS, choose
from .sqlite_errors import QueueStorageError
from .sqlite_schema import check_before_opening, migrate

__all__ = ["DEFAULT_RETENTION", "QueueStorageError", "SQLiteQueue"]

_PRUNE_EVERY = 60.0
_GROUP_COMMIT_MAX = 256

GROUP_COMMIT_WINDOW = 0.002
"""Seconds the first outcome of a batch waits for others to share its commit (at most 256)."""
_EVENT_CACHE_LIMIT = 16_384


class SQLiteQueue:
    """The queue protocol on a SQLite file: survives a killed process, shared by processes.

    Usage:

        queue = SQLiteQueue("webhooks.sqlite3")
        await WebhookSubscription.register(queue)
        await subscription.dispatch(queue, "order.created", payload)   # durable on return
        await Worker(queue).run()

    Args:
        path: the database file (created, with its schema, if missing).
        clock: the clock due dates and leases are measured on (default `SystemClock`).
        retention: seconds delivered jobs are kept before pruning (default a week).
        busy_timeout: seconds to wait for another process's write lock.

    Raises:
        QueueStorageError: the file cannot be opened or is not a webhook-kit queue.
        SchemaError: the file was written by a newer webhook-kit.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        retention: float = DEFAULT_RETENTION,
        busy_timeout: float = 5.0,
    ) -> None:
        if retention < 0 or busy_timeout < 0:
            raise InvalidInputError("retention and busy_timeout must not be negative")
        self.path = Path(path)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.retention = float(retention)
        self._busy_timeout = float(busy_timeout)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._work = WorkSignal()
        self._pending: list[tuple[Claim, Outcome, AttemptRecord, asyncio.Future[bool]]] = []
        self._flush_scheduled = False
        self._last_prune = 0.0
        self._events: dict[str, WebhookEvent] = {}
        self._rounds = FairRounds()  # whether the next claim starts with a fair round
        # Identify the file before the first write (the WAL switch on connecting): a refused
        # file is left exactly as it was. `migrate` identifies it again inside its transaction.
        _check_before_opening(self.path)
        try:
            with _storage_errors(self.path):
                migrate(self._connection(), where=str(self.path))
        except BaseException:
            self.close()
            raise

    # -- connections -----------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            with _storage_errors(self.path):
                connection = self._connect()
                self._adopt(connection)
                _configure(connection, self._busy_timeout)
        return connection

    def _connect(self) -> sqlite3.Connection:
        # Each thread has its own connection; close() may run in another thread.
        return sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )

    def _adopt(self, connection: sqlite3.Connection) -> None:
        """Make ``connection`` this thread's, closed by `close`."""
        self._local.connection = connection
        with self._connections_lock:
            self._connections.append(connection)

    def close(self) -> None:
        """Close every connection this queue opened (in any thread)."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()

    # -- enqueue ---------------------------------------------------------------------------

    async def enqueue(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """Store ``event``; it is on disk (and survives a killed process) when this returns."""
        self.enqueue_sync(event, not_before=not_before)

    def enqueue_sync(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """`enqueue` from synchronous code (any thread: each has its own connection)."""
        now = self.clock.now()
        try:
            with _storage_errors(self.path):
                self._connection().execute(
                    "INSERT INTO jobs (id, state, due, timeout, created_at, target_url, body,"
                    " event_json, endpoint) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.id,
                        now if not_before is None else not_before,
                        event.timeout,
                        event.created_at,
                        event.target_url,
                        event.body,
                        event.to_json(with_body=False),
                        endpoint_of(event.target_url),
                    ),
                )
        except QueueStorageError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise InvalidInputError(f"delivery {event.id} is already queued") from None
            raise
        self._remember(event)
        self._work.notify()

    def _remember(self, event: WebhookEvent) -> None:
        events = self._events
        if len(events) >= _EVENT_CACHE_LIMIT:
            del events[next(iter(events))]  # the oldest
        events[event.id] = event

    def _events_for(
        self, connection: sqlite3.Connection, delivery_ids: list[str]
    ) -> dict[str, WebhookEvent]:
        """The stored events of ``delivery_ids``: from memory if dispatched here, else loaded."""
        found = {i: self._events[i] for i in delivery_ids if i in self._events}
        missing = [i for i in delivery_ids if i not in found]
        if missing:
            for delivery_id, body, event_json in connection.execute(
                "SELECT id, body, event_json FROM jobs"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(missing),),
            ):
                found[delivery_id] = WebhookEvent.from_json(event_json, body=body)
        return found

    # -- claims ----------------------------------------------------------------------------

    async def claim(
        self, limit: int, *, lease_grace: float, limits: ClaimLimits = UNLIMITED
    ) -> Sequence[Claim]:
        """Lease up to ``limit`` due jobs, earliest due first and each endpoint up to its
        allowance, in one transaction."""
        if limit <= 0:
            return []
        return self._claim(limit, lease_grace, self.clock.now(), limits)

    def _claim(
        self, limit: int, lease_grace: float, now: float, limits: ClaimLimits
    ) -> list[Claim]:
        connection = self._connection()
        with _storage_errors(self.path), _transaction(connection):
            # An in-flight job's due date is its lease's end (one index serves both states).
            # An expired lease: the attempt was interrupted (it counts); due again from then.
            connection.execute(
                "UPDATE jobs SET state = 'pending', lease_token = NULL"
                " WHERE state = 'in_flight' AND due <= ?",
                (now,),
            )
            due_ids = choose(connection, now, limit, limits, self._rounds)
            if not due_ids:
                return []
            rows = connection.execute(
                "UPDATE jobs SET state = 'in_flight', attempts = attempts + 1,"
                " lease_token = random(), due = ? + timeout + ?"
                " WHERE id IN (SELECT value FROM json_each(?))"
                " RETURNING id, attempts, due, lease_token",
                (now, lease_grace, json.dumps(due_ids)),
            ).fetchall()
            events = self._events_for(connection, due_ids)
        order = {delivery_id: position for position, delivery_id in enumerate(due_ids)}
        rows.sort(key=lambda row: order[row[0]])
        return [Claim(events[row[0]], row[1], row[2], row[3]) for row in rows]

    # -- outcomes (group commit) -----------------------------------------------------------

    async def record(self, claim: Claim, outcome: Outcome, attempt: AttemptRecord) -> bool:
        """Record an attempt and its outcome; ``False`` if the lease was lost.

        Outcomes share commits: the first waits `GROUP_COMMIT_WINDOW` for others to join it,
        then one transaction writes them all. Each call returns once its outcome is committed.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._pending.append((claim, outcome, attempt, done))
        if len(self._pending) >= _GROUP_COMMIT_MAX:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_later(GROUP_COMMIT_WINDOW, self._flush)
        return await done

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            results = self._write_outcomes([(c, o, a) for c, o, a, _ in batch])
        except Exception as exc:
            for *_, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        retried = False
        for (_, outcome, _, done), recorded in zip(batch, results, strict=True):
            retried = retried or (recorded and isinstance(outcome, RetryAt))
            if not done.done():
                done.set_result(recorded)
        if retried:
            self._work.notify()

    def _write_outcomes(self, batch: list[tuple[Claim, Outcome, AttemptRecord]]) -> list[bool]:
        now = self.clock.now()
        connection = self._connection()
        with _storage_errors(self.path), _transaction(connection):
            results = [
                self._apply(connection, claim, outcome, attempt, now)
                for claim, outcome, attempt in batch
            ]
            if now - self._last_prune >= _PRUNE_EVERY:
                self._prune(connection, now)
        return results

    def _apply(
        self,
        connection: sqlite3.Connection,
        claim: Claim,
        outcome: Outcome,
        attempt: AttemptRecord,
        now: float,
    ) -> bool:
        delivery_id = claim.event.id
        if isinstance(outcome, RetryAt):
            cursor = connection.execute(
                "UPDATE jobs SET state = 'pending', due = ?, lease_token = NULL"
                " WHERE id = ? AND state = 'in_flight' AND lease_token = ?",
                (outcome.at, delivery_id, claim.token),
            )
        else:
            state = "delivered" if isinstance(outcome, Delivered) else "dead"
            cursor = connection.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, lease_token = NULL"
                " WHERE id = ? AND state = 'in_flight' AND lease_token = ?",
                (state, now, delivery_id, claim.token),
            )
        if cursor.rowcount == 0:
            return False  # the lease was lost: another worker owns the job now
        connection.execute(
            "INSERT INTO attempts (delivery_id, attempt, started_at, status, error, latency,"
            " response_excerpt, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                delivery_id,
                attempt.attempt,
                attempt.started_at,
                attempt.status,
                attempt.error,
                attempt.latency,
                attempt.response_excerpt,
                attempt.outcome,
            ),
        )
        if isinstance(outcome, DeadLetter):
            connection.execute(
                "INSERT OR REPLACE INTO dead_letters (delivery_id, reason, gone, attempts,"
                " dead_at, last_status, last_error, response_excerpt)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery_id,
                    outcome.reason,
                    int(outcome.gone),
                    claim.attempt,
                    now,
                    attempt.status,
                    attempt.error,
                    attempt.response_excerpt,
                ),
            )
        if not isinstance(outcome, RetryAt):
            self._events.pop(delivery_id, None)
        return True

    async def release(self, claim: Claim, *, not_before: float | None = None) -> None:
        """Give a leased job back, due at ``not_before`` (default now), the attempt uncounted."""
        with _storage_errors(self.path):
            self._connection().execute(
                "UPDATE jobs SET state = 'pending', attempts = attempts - 1, due = ?,"
                " lease_token = NULL WHERE id = ? AND state = 'in_flight' AND lease_token = ?",
                (
                    self.clock.now() if not_before is None else not_before,
                    claim.event.id,
                    claim.token,
                ),
            )
        self._work.notify()

    # -- waiting ---------------------------------------------------------------------------

    async def next_attempt_due(self) -> float | None:
        """When the earliest pending delivery is due (maybe past), or ``None`` if none is."""
        with _storage_errors(self.path):
            due = (
                self._connection()
                .execute("SELECT min(due) FROM jobs WHERE state = 'pending'")
                .fetchone()[0]
            )
        return None if due is None else float(due)

    async def next_due(self, *, held: frozenset[str] = frozenset()) -> float | None:
        """The earliest due date of a pending job (of an endpoint not ``held``), or lease
        expiry of an in-flight one."""
        with _storage_errors(self.path):
            # Each query answered by its own partial index.
            connection = self._connection()
            if held:
                pending = min(
                    (
                        head
                        for endpoint, head in connection.execute(ENDPOINT_HEADS)
                        if endpoint not in held
                    ),
                    default=None,
                )
            else:
                pending = connection.execute(
                    "SELECT min(due) FROM jobs WHERE state = 'pending'"
                ).fetchone()[0]
            leased = connection.execute(
                "SELECT min(due) FROM jobs WHERE state = 'in_flight'"
            ).fetchone()[0]
        found = [float(value) for value in (pending, leased) if value is not None]
        return min(found) if found else None

    async def wait_for_work(self, max_wait: float) -> None:
        """Wait for work enqueued in this process, at most ``max_wait`` seconds (other
        processes' work is seen on the worker's next poll)."""
        await self._work.wait(max_wait)

    # -- dead letters, history, counts -------------------------------------------------------

    async def list_dead_letters(self) -> list[DeadLetterRecord]:
        """Every dead letter, oldest first."""
        with _storage_errors(self.path):
            rows = (
                self._connection()
                .execute(
                    "SELECT j.id, j.body, j.event_json, d.reason, d.gone, d.attempts, d.dead_at,"
                    " d.last_status, d.last_error, d.response_excerpt"
                    " FROM dead_letters d JOIN jobs j ON j.id = d.delivery_id"
                    " ORDER BY d.dead_at, d.rowid"
                )
                .fetchall()
            )
        return [
            dead_letter_from_row(row, event_of=self._stored_event, time_of=float) for row in rows
        ]

    def _stored_event(self, delivery_id: str, body: str, event_json: str) -> WebhookEvent:
        return self._events.get(delivery_id) or WebhookEvent.from_json(event_json, body=body)

    async def redrive(self, delivery_id: str) -> None:
        """Send a dead letter again: same id and body, a fresh set of attempts, due now.

        Raises:
            UnknownDeliveryError: no dead letter has that id.
        """
        connection = self._connection()
        with _storage_errors(self.path), _transaction(connection):
            if not self._redrive_one(connection, delivery_id):
                raise UnknownDeliveryError(f"no dead letter with id {delivery_id}")
        self._work.notify()

    async def redrive_since(self, since: float) -> int:
        """Redrive every dead letter dead-lettered at or after ``since``; return how many."""
        connection = self._connection()
        with _storage_errors(self.path), _transaction(connection):
            ids = [
                row[0]
                for row in connection.execute(
                    "SELECT delivery_id FROM dead_letters WHERE dead_at >= ?", (since,)
                )
            ]
            for delivery_id in ids:
                self._redrive_one(connection, delivery_id)
        if ids:
            self._work.notify()
        return len(ids)

    async def purge_dead_letters(self, before: float | None = None) -> int:
        """Delete dead letters for good (their jobs and attempts with them); return how many.

        Args:
            before: only those dead-lettered before this time (epoch seconds); ``None``: all.
                Pending, in-flight and delivered jobs are never touched.
        """
        connection = self._connection()
        with _storage_errors(self.path), _transaction(connection):
            ids = [
                row[0]
                for row in connection.execute(
                    "SELECT d.delivery_id FROM dead_letters d JOIN jobs j ON j.id = d.delivery_id"
                    " WHERE j.state = 'dead' AND (? IS NULL OR d.dead_at < ?)",
                    (before, before),
                )
            ]
            for delivery_id in ids:
                # The attempts and the dead letter go with the job (ON DELETE CASCADE).
                connection.execute(
                    "DELETE FROM jobs WHERE id = ? AND state = 'dead'", (delivery_id,)
                )
        for delivery_id in ids:
            self._events.pop(delivery_id, None)
        return len(ids)

    def _redrive_one(self, connection: sqlite3.Connection, delivery_id: str) -> bool:
        deleted = connection.execute(
            "DELETE FROM dead_letters WHERE delivery_id = ?", (delivery_id,)
        ).rowcount
        if not deleted:
            return False
        connection.execute(
            "UPDATE jobs SET state = 'pending', attempts = 0, due = ?, finished_at = NULL,"
            " lease_token = NULL WHERE id = ?",
            (self.clock.now(), delivery_id),
        )
        return True

    async def history(self, delivery_id: str) -> list[AttemptRecord]:
        """Every recorded attempt of one delivery, in order.

        Raises:
            UnknownDeliveryError: no delivery has that id (or it was pruned).
        """
        connection = self._connection()
        with _storage_errors(self.path):
            known = connection.execute(
                "SELECT 1 FROM jobs WHERE id = ?", (delivery_id,)
            ).fetchone()
            rows = connection.execute(
                "SELECT attempt, started_at, status, error, latency, response_excerpt, outcome"
                " FROM attempts WHERE delivery_id = ? ORDER BY rowid",  # as recorded
                (delivery_id,),
            ).fetchall()
        if known is None:
            raise UnknownDeliveryError(f"no delivery with id {delivery_id}")
        return [AttemptRecord(delivery_id, *row) for row in rows]

    async def find_deliveries(self, prefix: str, *, limit: int = 2) -> list[DeliveryState]:
        """The deliveries whose id is ``prefix`` or starts with it, at most ``limit``; an id
        equal to ``prefix`` comes first."""
        pattern = like_prefix(prefix)
        with _storage_errors(self.path):
            rows = (
                self._connection()
                .execute(
                    "SELECT id, body, event_json, state, due FROM jobs"
                    " WHERE id LIKE ? ESCAPE '\\' ORDER BY id != ?, id LIMIT ?",
                    (pattern, prefix, limit),
                )
                .fetchall()
            )
        return [
            DeliveryState(
                event=self._events.get(row[0]) or WebhookEvent.from_json(row[2], body=row[1]),
                state=row[3],
                due=float(row[4]) if row[3] == "pending" else None,
            )
            for row in rows
        ]

    async def counts(self) -> QueueCounts:
        """How many deliveries are in each state."""
        with _storage_errors(self.path):
            row = (
                self._connection()
                .execute(
                    "SELECT"
                    " sum(state = 'pending'), sum(state = 'pending' AND due <= ?),"
                    " sum(state = 'in_flight'), sum(state = 'delivered'), sum(state = 'dead')"
                    " FROM jobs",
                    (self.clock.now(),),
                )
                .fetchone()
            )
        return QueueCounts(*(int(value or 0) for value in row))

    # -- endpoint health ---------------------------------------------------------------------

    async def endpoint_records(self) -> list[EndpointRecord]:
        """Every endpoint whose health was recorded."""
        with _storage_errors(self.path):
            rows = (
                self._connection()
                .execute(
                    "SELECT endpoint, state, reason, updated_at, probe_at FROM endpoints"
                    " ORDER BY endpoint"
                )
                .fetchall()
            )
        return [EndpointRecord(*row) for row in rows]

    async def save_endpoint(self, record: EndpointRecord) -> None:
        """Record an endpoint's health (every worker on the file and the CLI see it)."""
        with _storage_errors(self.path):
            self._connection().execute(
                "INSERT OR REPLACE INTO endpoints (endpoint, state, reason, updated_at,"
                " probe_at) VALUES (?, ?, ?, ?, ?)",
                (
                    record.endpoint,
                    record.state,
                    record.reason,
                    record.updated_at,
                    record.probe_at,
                ),
            )
        self._work.notify()

    # -- retention -------------------------------------------------------------------------

    async def prune(self) -> int:
        """Delete delivered jobs older than the retention period; return how many."""
        connection = self._connection()
        with _storage_errors(self.path), _transaction(connection):
            return self._prune(connection, self.clock.now())

    def _prune(self, connection: sqlite3.Connection, now: float) -> int:
        self._last_prune = now
        return connection.execute(
            "DELETE FROM jobs WHERE state = 'delivered' AND finished_at < ?",
            (now - self.retention,),
        ).rowcount

    def __repr__(self) -> str:
        return f"SQLiteQueue({str(self.path)!r})"


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any error."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self.connection.execute("COMMIT")
        else:
            self.connection.execute("ROLLBACK")


def _configure(connection: sqlite3.Connection, busy_timeout: float) -> None:
    """The settings of every connection to a queue file (only once it is known to be one)."""
    _switch_to_wal(connection, busy_timeout)
    # NORMAL in WAL mode: a commit survives the process being killed (the OS has the write);
    # only a power cut can lose the last ones. FULL would survive that too.
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA cache_size = -32000")  # 32 MB of page cache
    # Checkpoint (copy the WAL into the database, with an fsync) every 32 MB rather than every
    # 4 MB: the same durability, a fraction of the fsyncs.
    connection.execute("PRAGMA wal_autocheckpoint = 8192")


def _check_before_opening(path: Path) -> None:
    """`check_before_opening`, looking again a moment later before refusing a file: another
    process creating a new queue at this instant may leave it half-written to a reader that
    takes no lock (the check takes none, so it cannot change a foreign file). A foreign file
    is refused all the same, under a second later."""
    for pause in (0.05, 0.2, 0.5):
        try:
            check_before_opening(path)
            return
        except QueueStorageError:
            time.sleep(pause)
    check_before_opening(path)


def _switch_to_wal(connection: sqlite3.Connection, busy_timeout: float) -> None:
    """``PRAGMA journal_mode = WAL``, waiting like any other statement for a lock another
    connection holds: SQLite answers this pragma "database is locked" at once, without its busy
    handler, while another connection is creating the schema of a new file."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class _storage_errors:
    """Turns ``sqlite3`` errors into `QueueStorageError` naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        if isinstance(exc, sqlite3.Error):
            raise QueueStorageError(f"the queue database {self.path} failed: {exc}") from exc
