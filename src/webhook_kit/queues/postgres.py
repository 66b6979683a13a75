"""`PostgresQueue`: the queue protocol on PostgreSQL — shared by every worker process and host.

A claim is one statement (``FOR UPDATE SKIP LOCKED``, fair per endpoint, expired leases taken
back: a plain round, or a fair one while a backlog is ahead in due order), outcomes arriving
together share one statement and one commit (`postgres_outcomes`), an enqueue is one INSERT
whose ``pg_notify`` wakes idle workers in every process (a dedicated LISTEN connection per
queue). Due dates and leases are kept on the database server's clock by default
(`time_source`), so workers whose clocks disagree still agree on who holds a lease.

Durability: an enqueue commits with the server's ``synchronous_commit`` (durable on return).
Claims and outcomes commit without waiting for the WAL flush: a crash of the *server* may lose
the last moments of them, and those deliveries are then attempted again once their lease runs
out — at least once, never lost.

What is stored and reported (`DeliveryStore`) is `postgres_store.PostgresStore`, the base class;
the SQL text is in `postgres_sql` (the claims' in `postgres_claim_sql`), the schema and its
migrations in `postgres_schema`, the connections in `postgres_connections`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..events import WebhookEvent
from ..outcomes import AttemptRecord, Outcome, RetryAt
from .fair_claims import FairRounds, left_after
from .postgres_claim_sql import SUMMARY
from .postgres_connections import Listener
from .postgres_outcomes import OutcomeBatcher, Pending, batch_parameters
from .postgres_store import DEFAULT_POOL_SIZE, PostgresStore, TimeSource
from .protocol import DEFAULT_RETENTION, UNLIMITED, Claim, ClaimLimits

if TYPE_CHECKING:
    import psycopg

__all__ = ["DEFAULT_POOL_SIZE", "DEFAULT_RETENTION", "PostgresQueue", "TimeSource"]

_PRUNE_EVERY = 60.0


class PostgresQueue(PostgresStore):
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
        super().__init__(
            conninfo,
            clock=clock,
            retention=retention,
            pool_size=pool_size,
            schema=schema,
            time_source=time_source,
        )
        self._outcomes = OutcomeBatcher(self._write_outcomes)
        self._rounds = FairRounds()
        self._listener = Listener(conninfo, self._sql.channel, self._work)

    async def close(self) -> None:
        """Write pending outcomes, stop listening and close every connection."""
        await self._outcomes.drain()
        await self._listener.close()
        await super().close()

    # -- claims ----------------------------------------------------------------------------------

    async def claim(
        self, limit: int, *, lease_grace: float, limits: ClaimLimits = UNLIMITED
    ) -> Sequence[Claim]:
        """Lease up to ``limit`` due jobs, earliest due first and each endpoint up to its
        allowance (the jobs beyond it untouched): one statement, a plain round or a fair one
        (`fair_claims`: the queue remembers which the last claim needed), and a fair round
        after a plain one that found an endpoint's allowance exceeded."""
        if limit <= 0:
            return []
        async with self._connection() as connection:
            if self._rounds.starts_fair(limit, limits):
                rows = await self._claim_fairly(connection, limit, limits, lease_grace)
            else:
                params = self._claim_params(limit, limits, lease_grace)
                rows = await (await connection.execute(self._sql.claim, params)).fetchall()
                left_out = rows.pop()[SUMMARY]
                if left_out and len(rows) < limit:
                    left = left_after((str(row[4]) for row in rows), limits)
                    more = limit - len(rows)
                    rows += await self._claim_fairly(connection, more, left, lease_grace)
        rows.sort(key=lambda row: (row[7], row[8]))
        return [self._claim_of(row) for row in rows]

    async def _claim_fairly(
        self,
        connection: psycopg.AsyncConnection[Any],
        limit: int,
        limits: ClaimLimits,
        lease_grace: float,
    ) -> list[tuple[Any, ...]]:
        """A fair round: each endpoint's own earliest due jobs up to its allowance, read
        through its index (`postgres_claim_sql`); notes whether the next claim needs one."""
        rounds = self._rounds
        params = self._claim_params(limit, limits, lease_grace)
        params.update(scan=rounds.scan, after=rounds.after)
        rows = await (await connection.execute(self._sql.claim_fair, params)).fetchall()
        summary = rows.pop()
        rounds.finished(summary[SUMMARY], summary[SUMMARY + 1])
        return rows

    def _claim_params(self, limit: int, limits: ClaimLimits, grace: float) -> dict[str, Any]:
        named = list(limits.per_endpoint)
        return self._params(
            limit=limit,
            default=limits.default,
            named=named,
            allowances=[limits.per_endpoint[endpoint] for endpoint in named],
            grace=grace,
        )

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
        await self._listener.wait(max_wait)
