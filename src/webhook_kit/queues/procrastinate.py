"""`ProcrastinateQueue`: deliveries as procrastinate jobs on PostgreSQL (extra ``postgres``).

webhook-kit does not run its own distributed queue. Each delivery is one procrastinate job of
the task `TASK_NAME`, run by procrastinate's own worker; webhook-kit supplies the task (one
attempt through the installed `DeliveryHandler`), a retry strategy that schedules the next
attempt at webhook-kit's absolute retry time (``Retry-After`` included; procrastinate's own
backoff is never used), and the mapping of outcomes:

- delivered: the job succeeds;
- retry: the job is retried at that time; the attempt number is the engine's ``attempts``;
- dead letter: the job fails, stays queryable (``list_dead_letters``), and can be redriven.

Every attempt is logged in ``webhook_kit_attempts`` and every dead letter's reason in
``webhook_kit_dead_letters``, beside procrastinate's own tables.

Dispatch can join the caller's transaction (``dispatch(..., connection=conn)``): the job is
inserted on the caller's psycopg connection, so it exists if and only if that transaction
commits. procrastinate does not recover the jobs of a killed worker; `run_worker` does, with a
sweep every `STALL_SWEEP_INTERVAL` seconds (see `recover_stalled`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..clock import Clock, SystemClock
from ..errors import InvalidInputError, MissingDependencyError
from ..events import WebhookEvent
from ..outcomes import AttemptRecord, DeadLetter, DeadLetterRecord, Delivered, RetryAt

# The adapter runs attempts in procrastinate's worker, so it looks up this process's delivery
# handler itself; it goes with the adapter (the PostgreSQL queue is run by webhook-kit's Worker).
from ..registrations import handler_of, secret_memory_of
from .errors import QueueStorageError
from .procrastinate_logs import install as _mask_procrastinate_logs
from .procrastinate_logs import install_on_worker as _mask_worker_logs
from .protocol import (
    Claim,
    DeliveryState,
    EndpointRecord,
    QueueCounts,
    UnknownDeliveryError,
    like_prefix,
)

try:
    import procrastinate
    import psycopg
    from procrastinate import exceptions as procrastinate_errors
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(
        "the PostgreSQL queue needs procrastinate: pip install 'webhook-kit[postgres]'"
    ) from exc

if TYPE_CHECKING:
    from procrastinate.jobs import Job


__all__ = [
    "DEFAULT_QUEUE_NAME",
    "DEFAULT_STALLED_AFTER",
    "STALL_SWEEP_INTERVAL",
    "TASK_NAME",
    "ProcrastinateQueue",
    "QueueDatabaseError",
    "WebhookRetryStrategy",
]

logger = logging.getLogger("webhook_kit.queues.procrastinate")

# procrastinate's records quote each job's arguments, and so the stored target URL.
_mask_procrastinate_logs()

TASK_NAME = "webhook_kit.deliver"
"""The procrastinate task every delivery runs as."""

DEFAULT_QUEUE_NAME = "webhooks"
"""The procrastinate queue deliveries go to (``queue_name=`` changes it)."""

STALL_SWEEP_INTERVAL = 15.0
"""Seconds between two sweeps for the jobs of dead workers while `run_worker` runs."""

DEFAULT_STALLED_AFTER = 60.0
"""A worker whose heartbeat is older than this many seconds is dead, and its jobs are retried.

procrastinate's workers beat every 10 seconds, so this is six missed beats: a live worker is
never taken for dead, which matters because the engine does not stop a presumed-dead worker
from finishing a job that was handed to another."""

UNFINISHED_RETRY_SECONDS = 5
"""An attempt that ended without an outcome (a bug below us, an abort at shutdown, a lost
database) is tried again after this many seconds; it counts as an attempt."""

CONNECT_TIMEOUT = 5
"""Seconds `open` waits for PostgreSQL before raising `QueueDatabaseError`."""

_SCHEMA_LOCK = 0x5745_4248_4B49_5431  # an advisory lock id: "WEBHKIT1"

_OWN_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_kit_attempts (
    job_id           bigint NOT NULL,
    delivery_id      text NOT NULL,
    attempt          integer NOT NULL,
    started_at       double precision NOT NULL,
    status           integer,
    error            text,
    latency          double precision NOT NULL,
    response_excerpt text NOT NULL,
    outcome          text NOT NULL,
    seq              bigserial
);
CREATE INDEX IF NOT EXISTS webhook_kit_attempts_by_delivery
    ON webhook_kit_attempts (delivery_id, seq);
CREATE INDEX IF NOT EXISTS webhook_kit_attempts_by_job ON webhook_kit_attempts (job_id);
CREATE TABLE IF NOT EXISTS webhook_kit_dead_letters (
    delivery_id      text PRIMARY KEY,
    job_id           bigint NOT NULL,
    reason           text NOT NULL,
    gone             boolean NOT NULL,
    attempts         integer NOT NULL,
    dead_at          double precision NOT NULL,
    last_status      integer,
    last_error       text,
    response_excerpt text NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_kit_dead_letters_by_time ON webhook_kit_dead_letters (dead_at);
"""


class QueueDatabaseError(QueueStorageError):
    """The PostgreSQL database cannot be reached, or lacks the schema (run ``apply_schema``)."""


class _RetryLater(Exception):
    """Raised by the task: webhook-kit decided to try again at ``at`` (epoch seconds)."""

    def __init__(self, at: float) -> None:
        super().__init__(f"retry at {at}")
        self.at = at


class _DeadLettered(Exception):
    """Raised by the task: webhook-kit gave up; the job fails and stays as a dead letter."""


class WebhookRetryStrategy(procrastinate.BaseRetryStrategy):
    """procrastinate's side of webhook-kit's retry policy: it only carries out our decision.

    The delivery task decides (through `DeliveryHandler`, which reads the event's
    `RetryPolicy` and the receiver's ``Retry-After``) and raises either a retry at an absolute
    time or a dead letter. Anything else that escapes a run (an abort at shutdown, a database
    error while recording) is retried after `UNFINISHED_RETRY_SECONDS`; the run counts as an
    attempt, so the policy's ``max_attempts`` still bounds it.
    """

    def get_retry_decision(
        self, *, exception: BaseException, job: Job
    ) -> procrastinate.RetryDecision | None:
        """Map the task's outcome to procrastinate's decision (``None`` fails the job)."""
        if isinstance(exception, _RetryLater):
            return procrastinate.RetryDecision(
                retry_at=datetime.fromtimestamp(exception.at, timezone.utc)
            )
        if isinstance(exception, _DeadLettered):
            return None
        return procrastinate.RetryDecision(retry_in={"seconds": UNFINISHED_RETRY_SECONDS})


class ProcrastinateQueue:
    """Deliveries on PostgreSQL, run by procrastinate's workers on any number of machines.

    Usage:

        queue = ProcrastinateQueue("postgresql://app@db/app")
        async with queue:
            await queue.apply_schema()                      # once; safe to repeat
            await WebhookSubscription.register(queue)
            await subscription.dispatch(queue, "order.created", payload)
            async with await psycopg.AsyncConnection.connect(dsn) as conn:
                async with conn.transaction():               # the outbox pattern
                    await conn.execute("INSERT INTO orders ...")
                    await subscription.dispatch(queue, "order.created", payload, connection=conn)
            await queue.run_worker(concurrency=32)          # or: webhook-kit worker --queue …

    Args:
        conninfo: a PostgreSQL connection string (``postgresql://…``); or give ``app``.
        app: a procrastinate ``App`` of your own, on a ``PsycopgConnector``; the delivery task is
            added to it, and opening and closing it stay yours.
        queue_name: the procrastinate queue deliveries go to.
        retention: seconds succeeded jobs are kept before `prune` deletes them (default a week).
        pool_size: at most this many connections in the pool this queue opens.

    Raises:
        InvalidInputError: neither or both of ``conninfo`` and ``app``.
    """

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        app: procrastinate.App | None = None,
        queue_name: str = DEFAULT_QUEUE_NAME,
        retention: float = 7 * 24 * 3600.0,
        pool_size: int = 16,
    ) -> None:
        if (conninfo is None) == (app is None):
            raise InvalidInputError("give ProcrastinateQueue either a conninfo or an app")
        if retention < 0 or pool_size < 1:
            raise InvalidInputError("retention must not be negative and pool_size must be >= 1")
        self.conninfo = conninfo
        self.queue_name = queue_name
        self.retention = float(retention)
        self._clock = SystemClock()
        self._owns_app = app is None
        if app is None:
            app = procrastinate.App(
                connector=procrastinate.PsycopgConnector(
                    conninfo=conninfo, min_size=1, max_size=pool_size
                )
            )
        self.app = app
        self._task = app.task(
            name=TASK_NAME,
            queue=queue_name,
            pass_context=True,
            retry=WebhookRetryStrategy(),
        )(self._deliver)
        self._opened = False

    @property
    def clock(self) -> Clock:
        """Real time: PostgreSQL's ``now()`` decides when a job is due."""
        return self._clock

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the connection pool (a queue built on your ``app`` uses it as you opened it).

        Raises:
            QueueDatabaseError: PostgreSQL cannot be reached.
        """
        if self._owns_app and not self._opened:
            with self._database_errors():
                # One direct connection first: an unreachable server is a clear error in
                # seconds, not the pool's half-minute wait.
                probe = await psycopg.AsyncConnection.connect(
                    self.conninfo or "", connect_timeout=CONNECT_TIMEOUT
                )
                await probe.close()
                await self.app.open_async()
                await self.app.check_connection_async()
            self._opened = True

    async def close(self) -> None:
        """Close the pool this queue opened, and the delivery handler's connections."""
        handler = handler_of(self)
        if handler is not None:
            await handler.aclose()
        if self._owns_app and self._opened:
            self._opened = False
            await self.app.close_async()

    async def __aenter__(self) -> ProcrastinateQueue:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def apply_schema(self) -> None:
        """Create procrastinate's schema (if missing) and webhook-kit's tables. Idempotent.

        Also ``webhook-kit schema --queue postgresql://…`` from the command line. Runs under an
        advisory lock, so several processes starting at once do not race.

        Raises:
            QueueDatabaseError: PostgreSQL cannot be reached, or refused the schema.
        """
        with self._database_errors():
            async with self._connection() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                cursor = await connection.execute(
                    "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
                )
                present = await cursor.fetchone()
                if not (present and present[0]):
                    await connection.execute(self.app.schema_manager.get_schema())
                await connection.execute(_OWN_SCHEMA)

    # -- dispatch ------------------------------------------------------------------------------

    async def enqueue(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """Store ``event`` as a job (committed when this returns).

        Raises:
            QueueDatabaseError: PostgreSQL cannot be reached or lacks the schema.
        """
        with self._database_errors():
            await self._deferrer(not_before).defer_async(**_job_arguments(event))

    async def enqueue_in_transaction(
        self, event: WebhookEvent, *, connection: psycopg.AsyncConnection[Any]
    ) -> None:
        """Insert the job on ``connection``, inside its open transaction: committed with it.

        Raises:
            TypeError: ``connection`` is not a psycopg 3 ``AsyncConnection``.
        """
        if not isinstance(connection, psycopg.AsyncConnection):
            raise TypeError(
                "connection= takes an open psycopg.AsyncConnection (psycopg 3), "
                f"not {type(connection).__name__}"
            )
        await self._deferrer(None, connection=connection).defer_async(**_job_arguments(event))

    def enqueue_sync(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """`enqueue` for synchronous code: a short connection of its own, never the pool.

        Raises:
            QueueDatabaseError: PostgreSQL cannot be reached or lacks the schema.
        """
        from procrastinate.manager import JobManager
        from procrastinate.tasks import configure_task

        conninfo = self._conninfo_for_sync()
        with (
            self._database_errors(),
            psycopg.connect(
                conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT
            ) as connection,
        ):
            # A sync connector that is never opened: it writes only on ``connection``.
            manager = JobManager(procrastinate.SyncPsycopgConnector())
            deferrer = configure_task(
                name=TASK_NAME,
                job_manager=manager,
                queue=self.queue_name,
                connection=connection,
                schedule_at=_due_at(not_before),
            )
            deferrer.defer(**_job_arguments(event))

    def _deferrer(self, not_before: float | None, **options: Any) -> Any:
        return self._task.configure(schedule_at=_due_at(not_before), **options)

    def _conninfo_for_sync(self) -> str:
        if self.conninfo is not None:
            return self.conninfo
        pool_arguments = getattr(self.app.connector, "_pool_args", {})
        conninfo = pool_arguments.get("conninfo")
        if not isinstance(conninfo, str):
            raise InvalidInputError("dispatch_sync needs a queue built with a conninfo string")
        return conninfo

    # -- the task ------------------------------------------------------------------------------

    async def _deliver(
        self, context: procrastinate.JobContext, *, delivery_id: str, event: str
    ) -> None:
        """One attempt of one delivery: procrastinate's worker runs this."""
        job = context.job
        job_id = _job_id(job)
        stored = WebhookEvent.from_json(event)
        attempt = job.attempts + 1  # the engine counts every earlier run, interrupted ones too
        handler = handler_of(self)
        if handler is None:
            logger.error(
                "webhook %s: no delivery handler in this worker process; call "
                "`await WebhookSubscription.register(queue)` before running the worker",
                delivery_id,
            )
            raise RuntimeError("no delivery handler installed")
        claim = Claim(event=stored, attempt=attempt, lease_until=math.inf, token=job_id)
        outcome, record = await handler.attempt(self, claim)
        await self._record(job_id, stored, outcome, record)
        if isinstance(outcome, RetryAt):
            raise _RetryLater(outcome.at)
        if isinstance(outcome, DeadLetter):
            secret_memory_of(self).forget(stored.id)
            raise _DeadLettered(outcome.reason)
        secret_memory_of(self).forget(stored.id)

    async def _record(
        self,
        job_id: int,
        event: WebhookEvent,
        outcome: Delivered | RetryAt | DeadLetter,
        record: AttemptRecord,
    ) -> None:
        async with self._connection() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO webhook_kit_attempts (job_id, delivery_id, attempt, started_at,"
                " status, error, latency, response_excerpt, outcome)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    job_id,
                    record.delivery_id,
                    record.attempt,
                    record.started_at,
                    record.status,
                    record.error,
                    record.latency,
                    record.response_excerpt,
                    record.outcome,
                ),
            )
            if isinstance(outcome, DeadLetter):
                await connection.execute(
                    "INSERT INTO webhook_kit_dead_letters (delivery_id, job_id, reason, gone,"
                    " attempts, dead_at, last_status, last_error, response_excerpt)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (delivery_id) DO UPDATE SET job_id = EXCLUDED.job_id,"
                    " reason = EXCLUDED.reason, gone = EXCLUDED.gone,"
                    " attempts = EXCLUDED.attempts, dead_at = EXCLUDED.dead_at,"
                    " last_status = EXCLUDED.last_status, last_error = EXCLUDED.last_error,"
                    " response_excerpt = EXCLUDED.response_excerpt",
                    (
                        event.id,
                        job_id,
                        outcome.reason,
                        outcome.gone,
                        record.attempt,
                        self._clock.now(),
                        record.status,
                        record.error,
                        record.response_excerpt,
                    ),
                )

    # -- workers -------------------------------------------------------------------------------

    async def run_worker(
        self,
        *,
        concurrency: int = 32,
        wait: bool = True,
        name: str = "webhook-kit",
        poll_interval: float = 1.0,
        stalled_after: float = DEFAULT_STALLED_AFTER,
        sweep_interval: float = STALL_SWEEP_INTERVAL,
        heartbeat_interval: float = 10.0,
        shutdown_timeout: float | None = None,
    ) -> None:
        """Run procrastinate's worker on this queue, and the sweep that recovers stalled jobs.

        Cancel the task running this to stop: no new job is fetched, attempts in flight finish
        (or, after ``shutdown_timeout`` seconds, are aborted and retried, counting as attempts).

        Args:
            concurrency: attempts in flight at once.
            wait: ``False`` returns once no job is due (scheduled retries stay queued).
            name: the worker's name in procrastinate's logs.
            poll_interval: seconds between polls for jobs that fell due (new jobs wake the
                worker at once through LISTEN/NOTIFY).
            stalled_after: a worker silent this long is dead (see `DEFAULT_STALLED_AFTER`);
                give every worker process the same value, well above ``heartbeat_interval``.
            sweep_interval: seconds between sweeps for the jobs of dead workers.
            heartbeat_interval: seconds between this worker's own heartbeats.
            shutdown_timeout: seconds in-flight attempts get to finish when stopped (default:
                as long as they need, which each attempt's own timeout bounds).

        Raises:
            QueueDatabaseError: PostgreSQL cannot be reached.
        """
        if handler_of(self) is None:
            raise InvalidInputError(
                "no delivery handler: `await WebhookSubscription.register(queue)` first"
            )
        await self.open()
        await self.recover_stalled(stalled_after)
        options: dict[str, Any] = {}
        if shutdown_timeout is not None:
            options["shutdown_graceful_timeout"] = shutdown_timeout
        _mask_worker_logs(name)
        sweeper = asyncio.create_task(self._sweep(stalled_after, sweep_interval))
        try:
            with self._database_errors():
                await self.app.run_worker_async(
                    **options,
                    queues=[self.queue_name],
                    name=name,
                    concurrency=concurrency,
                    wait=wait,
                    fetch_job_polling_interval=poll_interval,
                    update_heartbeat_interval=heartbeat_interval,
                    stalled_worker_timeout=stalled_after,
                    install_signal_handlers=False,
                )
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _sweep(self, stalled_after: float, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.recover_stalled(stalled_after)
            except Exception:  # a failed sweep is retried at the next interval
                logger.exception("the sweep for stalled webhook jobs failed")

    async def recover_stalled(self, stalled_after: float = DEFAULT_STALLED_AFTER) -> int:
        """Retry the jobs of workers silent for ``stalled_after`` seconds; return how many.

        procrastinate leaves such jobs in ``doing`` for ever: a killed worker's, and those
        whose worker row was pruned (their ``worker_id`` is NULL). Each is made due now with
        its attempt counted, and the interrupted attempt is logged; the next attempt keeps
        the delivery's id. Safe to run from several processes at once.
        """
        manager = self.app.job_manager
        with self._database_errors():
            stalled = list(
                await manager.get_stalled_jobs(
                    queue=self.queue_name,
                    task_name=TASK_NAME,
                    seconds_since_heartbeat=stalled_after,
                )
            )
            recovered = 0
            for job in stalled:
                recovered += await self._recover(job)
            await manager.prune_stalled_workers(stalled_after)
        if recovered:
            logger.warning("recovered %d webhook jobs from stalled workers", recovered)
        return recovered

    async def _recover(self, job: Job) -> bool:
        """Make one stalled job due again, if it is still the attempt that stalled.

        The list of stalled jobs is read before this runs, and procrastinate's retry checks
        only that a job is running, not whose it is: another sweep may have recovered the job
        meanwhile and a live worker taken it. So the job is locked and checked — still running,
        same worker, same attempt — and retried and logged in that one transaction.
        """
        async with self._connection() as connection, connection.transaction():
            cursor = await connection.execute(
                "SELECT 1 FROM procrastinate_jobs WHERE id = %s AND status = 'doing'"
                " AND worker_id IS NOT DISTINCT FROM %s AND attempts = %s FOR UPDATE",
                (_job_id(job), job.worker_id, job.attempts),
            )
            if await cursor.fetchone() is None:
                return False  # finished, or recovered by another sweep, since the list was read
            await connection.execute(
                "SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", (_job_id(job),)
            )
            await connection.execute(
                "INSERT INTO webhook_kit_attempts (job_id, delivery_id, attempt, started_at,"
                " status, error, latency, response_excerpt, outcome)"
                " VALUES (%s, %s, %s, %s, NULL, %s, 0, '', 'retry')",
                (
                    _job_id(job),
                    str(job.task_kwargs.get("delivery_id", "")),
                    job.attempts + 1,
                    self._clock.now(),
                    "interrupted: the worker stopped answering during the attempt",
                ),
            )
        return True

    # -- inspection and redrive ---------------------------------------------------------------

    async def counts(self) -> QueueCounts:
        """How many deliveries are in each state (``dead`` are failed jobs)."""
        row = await self._fetch_one(
            "SELECT count(*) FILTER (WHERE status = 'todo'),"
            " count(*) FILTER (WHERE status = 'todo'"
            "   AND (scheduled_at IS NULL OR scheduled_at <= now())),"
            " count(*) FILTER (WHERE status = 'doing'),"
            " count(*) FILTER (WHERE status = 'succeeded'),"
            " count(*) FILTER (WHERE status = 'failed')"
            " FROM procrastinate_jobs WHERE task_name = %s AND queue_name = %s",
            (TASK_NAME, self.queue_name),
        )
        pending, due, in_flight, delivered, dead = (int(value) for value in row)
        return QueueCounts(
            pending=pending, due=due, in_flight=in_flight, delivered=delivered, dead=dead
        )

    async def list_dead_letters(self) -> list[DeadLetterRecord]:
        """Every dead letter, oldest first."""
        rows = await self._fetch_all(
            "SELECT jobs.args ->> 'event', dead.reason, dead.gone, dead.attempts, dead.dead_at,"
            " dead.last_status, dead.last_error, dead.response_excerpt"
            " FROM webhook_kit_dead_letters AS dead"
            " JOIN procrastinate_jobs AS jobs ON jobs.id = dead.job_id"
            " WHERE jobs.status = 'failed' ORDER BY dead.dead_at, dead.delivery_id",
            (),
        )
        return [
            DeadLetterRecord(
                event=WebhookEvent.from_json(event),
                reason=reason,
                gone=gone,
                attempts=attempts,
                dead_at=dead_at,
                last_status=last_status,
                last_error=last_error,
                response_excerpt=excerpt,
            )
            for event, reason, gone, attempts, dead_at, last_status, last_error, excerpt in rows
        ]

    async def redrive(self, delivery_id: str) -> None:
        """Send a dead letter again: same id and body, a fresh set of attempts, due now.

        Raises:
            UnknownDeliveryError: no dead letter has that id.
        """
        with self._database_errors():
            async with self._connection() as connection, connection.transaction():
                if not await self._redrive_one(connection, delivery_id):
                    raise UnknownDeliveryError(f"no dead letter with id {delivery_id}")

    async def redrive_since(self, since: float) -> int:
        """Redrive every dead letter dead-lettered at or after ``since``; return how many."""
        with self._database_errors():
            async with self._connection() as connection, connection.transaction():
                cursor = await connection.execute(
                    "SELECT delivery_id FROM webhook_kit_dead_letters WHERE dead_at >= %s"
                    " ORDER BY dead_at",
                    (since,),
                )
                ids = [row[0] for row in await cursor.fetchall()]
                redriven = 0
                for delivery_id in ids:
                    redriven += await self._redrive_one(connection, delivery_id)
                return redriven

    async def purge_dead_letters(self, before: float | None = None) -> int:
        """Delete dead letters for good (their failed jobs and attempts with them); how many.

        Args:
            before: only those dead-lettered before this time (epoch seconds); ``None``: all.
                Jobs that are not failed are never touched.
        """
        with self._database_errors():
            async with self._connection() as connection, connection.transaction():
                cursor = await connection.execute(
                    "DELETE FROM webhook_kit_dead_letters AS dead USING procrastinate_jobs AS jobs"
                    " WHERE jobs.id = dead.job_id AND jobs.status = 'failed'"
                    " AND jobs.task_name = %s AND jobs.queue_name = %s"
                    " AND (%s::double precision IS NULL OR dead.dead_at < %s)"
                    " RETURNING dead.job_id",
                    (TASK_NAME, self.queue_name, before, before),
                )
                job_ids = [row[0] for row in await cursor.fetchall()]
                if job_ids:
                    await connection.execute(
                        "DELETE FROM webhook_kit_attempts WHERE job_id = ANY(%s)", (job_ids,)
                    )
                    await connection.execute(
                        "DELETE FROM procrastinate_jobs WHERE id = ANY(%s) AND status = 'failed'",
                        (job_ids,),
                    )
                return len(job_ids)

    async def next_attempt_due(self) -> float | None:
        """When the earliest pending delivery is due (maybe past), or ``None`` if none is."""
        row = await self._fetch_one(
            "SELECT extract(epoch FROM min(coalesce(scheduled_at, now())))"
            " FROM procrastinate_jobs"
            " WHERE status = 'todo' AND task_name = %s AND queue_name = %s",
            (TASK_NAME, self.queue_name),
        )
        return None if row[0] is None else float(row[0])

    @staticmethod
    async def _redrive_one(connection: psycopg.AsyncConnection[Any], delivery_id: str) -> bool:
        cursor = await connection.execute(
            "DELETE FROM webhook_kit_dead_letters WHERE delivery_id = %s RETURNING job_id",
            (delivery_id,),
        )
        row = await cursor.fetchone()
        if row is None:
            return False
        # Back to 'todo', due now, with its attempt count reset: the redriven delivery gets the
        # policy's attempts afresh. Only a failed job is touched.
        cursor = await connection.execute(
            "UPDATE procrastinate_jobs SET status = 'todo', scheduled_at = NULL, attempts = 0"
            " WHERE id = %s AND status = 'failed' RETURNING id",
            (row[0],),
        )
        if await cursor.fetchone() is None:
            raise UnknownDeliveryError(f"delivery {delivery_id} is no longer a failed job")
        return True

    async def history(self, delivery_id: str) -> list[AttemptRecord]:
        """Every recorded attempt of one delivery, in order.

        Raises:
            UnknownDeliveryError: no delivery has that id.
        """
        rows = await self._fetch_all(
            "SELECT delivery_id, attempt, started_at, status, error, latency, response_excerpt,"
            " outcome FROM webhook_kit_attempts WHERE delivery_id = %s ORDER BY seq",
            (delivery_id,),
        )
        if not rows:
            known = await self._fetch_one(
                "SELECT 1 FROM procrastinate_jobs WHERE task_name = %s"
                " AND args ->> 'delivery_id' = %s LIMIT 1",
                (TASK_NAME, delivery_id),
            )
            if known is None:
                raise UnknownDeliveryError(f"no delivery with id {delivery_id}")
        return [AttemptRecord(*row) for row in rows]

    async def find_deliveries(self, prefix: str, *, limit: int = 2) -> list[DeliveryState]:
        """The deliveries whose id is ``prefix`` or starts with it, at most ``limit``; an id
        equal to ``prefix`` comes first."""
        pattern = like_prefix(prefix)
        rows = await self._fetch_all(
            "SELECT args ->> 'event', status::text,"
            " extract(epoch FROM coalesce(scheduled_at, now()))"
            " FROM procrastinate_jobs WHERE task_name = %s AND queue_name = %s"
            " AND args ->> 'delivery_id' LIKE %s"
            " ORDER BY args ->> 'delivery_id' != %s, args ->> 'delivery_id' LIMIT %s",
            (TASK_NAME, self.queue_name, pattern, prefix, limit),
        )
        return [
            DeliveryState(
                event=WebhookEvent.from_json(event),
                state=_STATES.get(status, status),
                due=float(due) if status == "todo" else None,
            )
            for event, status, due in rows
        ]

    async def endpoint_records(self) -> list[EndpointRecord]:
        """Endpoint health is not kept on PostgreSQL yet: always empty."""
        return []

    async def save_endpoint(self, record: EndpointRecord) -> None:
        """Endpoint health is not kept on PostgreSQL yet: nothing is recorded."""

    async def prune(self) -> int:
        """Delete succeeded jobs older than ``retention``, with their attempt log; how many."""
        hours = max(1, math.ceil(self.retention / 3600))
        with self._database_errors():
            before = await self._fetch_one(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s", (TASK_NAME,)
            )
            await self.app.job_manager.delete_old_jobs(nb_hours=hours, queue=self.queue_name)
            after = await self._fetch_one(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s", (TASK_NAME,)
            )
            async with self._connection() as connection:
                await connection.execute(
                    "DELETE FROM webhook_kit_attempts AS attempts WHERE NOT EXISTS"
                    " (SELECT 1 FROM procrastinate_jobs AS jobs WHERE jobs.id = attempts.job_id)"
                )
        return int(before[0]) - int(after[0])

    # -- plumbing ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self) -> Any:
        await self.open()
        pool = self.app.connector.pool  # type: ignore[attr-defined]
        async with pool.connection() as connection:
            yield connection

    async def _fetch_all(self, query: str, parameters: Sequence[Any]) -> list[Any]:
        with self._database_errors():
            async with self._connection() as connection:
                cursor = await connection.execute(query, parameters)
                return list(await cursor.fetchall())

    async def _fetch_one(self, query: str, parameters: Sequence[Any]) -> Any:
        with self._database_errors():
            async with self._connection() as connection:
                cursor = await connection.execute(query, parameters)
                return await cursor.fetchone()

    def _database_errors(self) -> _DatabaseErrors:
        return _DatabaseErrors(self._describe())

    def _describe(self) -> str:
        return _masked_conninfo(self.conninfo) if self.conninfo else "the procrastinate app"

    def __repr__(self) -> str:
        return f"ProcrastinateQueue({self._describe()!r}, queue_name={self.queue_name!r})"


_STATES = {"todo": "pending", "doing": "in_flight", "succeeded": "delivered", "failed": "dead"}
"""procrastinate's job statuses as webhook-kit's delivery states."""


def _job_id(job: Job) -> int:
    if job.id is None:  # only a job not yet stored has no id; a worker never runs one
        raise QueueDatabaseError("procrastinate handed over a job without an id")
    return job.id


def _due_at(not_before: float | None) -> datetime | None:
    """procrastinate's ``schedule_at`` for a job due at ``not_before`` (``None``: now)."""
    return None if not_before is None else datetime.fromtimestamp(not_before, timezone.utc)


def _job_arguments(event: WebhookEvent) -> dict[str, str]:
    # The event (body included) as one JSON string: jsonb keeps a string byte for byte, so
    # every attempt sends exactly the body serialised at dispatch.
    return {"delivery_id": event.id, "event": event.to_json()}


def _masked_conninfo(conninfo: str) -> str:
    from ..events import masked_url

    return masked_url(conninfo) if "://" in conninfo else "<conninfo>"


_MISSING_SCHEMA = (
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedObject,  # procrastinate's types
)


class _DatabaseErrors:
    """Turns driver and engine errors into `QueueDatabaseError` naming the database."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        if not isinstance(exc, (psycopg.Error, procrastinate_errors.ConnectorException, OSError)):
            return
        # procrastinate says only "Database error."; the driver's error underneath says what.
        detail: BaseException = exc
        if isinstance(exc, procrastinate_errors.ConnectorException) and exc.__cause__:
            detail = exc.__cause__
        message = (str(detail).strip().splitlines() or [type(detail).__name__])[0]
        if isinstance(detail, _MISSING_SCHEMA):
            message += (
                "; the schema is missing: run `webhook-kit schema --queue URL` or"
                " `await queue.apply_schema()`"
            )
        raise QueueDatabaseError(f"the queue database {self.where} failed: {message}") from exc
