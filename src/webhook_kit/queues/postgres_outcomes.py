"""Group commit for the PostgreSQL queue: outcomes arriving together share one statement.

An outcome is written at once (on the loop's next turn, with those that came in the same turn)
when fewer than `WRITERS` batches are being written; otherwise it waits with the others that
come meanwhile, and they go together (at most `GROUP_COMMIT_MAX`) as soon as a write ends. So
a lone outcome waits for nothing, and under load the batches grow by themselves, without a
fixed window. One statement — arrays of every outcome, unnested — updates the jobs whose lease
still holds, inserts their attempts and dead letters, and commits once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..outcomes import AttemptRecord, DeadLetter, Delivered, Outcome, RetryAt
from .protocol import Claim

__all__ = ["GROUP_COMMIT_MAX", "WRITERS", "OutcomeBatcher", "batch_parameters"]

GROUP_COMMIT_MAX = 512
"""Outcomes in one statement at most."""

WRITERS = 2
"""Batches written at once; outcomes arriving while as many are in progress form the next."""

Pending = tuple[Claim, Outcome, AttemptRecord]


def batch_parameters(
    batch: Sequence[Pending], translate: Callable[[float], float]
) -> dict[str, Any]:
    """The parameters of `Statements.outcomes` for ``batch``: one JSON array of outcomes.

    Args:
        batch: claims with their outcome and attempt, no delivery twice.
        translate: turns a caller's time (a retry's ``at``) into the statement's due parameter.

    Raises:
        TypeError: an outcome that is not `RetryAt`, `Delivered` or `DeadLetter`.
    """
    rows: list[tuple[Any, ...]] = []
    for position, (claim, outcome, attempt) in enumerate(batch):
        due: float | None = None
        reason: str | None = None
        gone: bool | None = None
        if isinstance(outcome, RetryAt):
            state, due = "pending", translate(outcome.at)
        elif isinstance(outcome, Delivered):
            state = "delivered"
        elif isinstance(outcome, DeadLetter):
            state, reason, gone = "dead", outcome.reason, outcome.gone
        else:
            raise TypeError(f"not an outcome: {outcome!r}")
        rows.append(
            (
                position,
                claim.event.id,
                claim.token,
                state,
                due,
                attempt.attempt,
                attempt.started_at,
                attempt.status,
                attempt.error,
                attempt.latency,
                attempt.response_excerpt,
                attempt.outcome,
                reason,
                gone,
                claim.attempt,
            )
        )
    return {"batch": json.dumps([dict(zip(_FIELDS, row, strict=True)) for row in rows])}


_FIELDS = (
    "position",
    "id",
    "token",
    "state",
    "due",
    "attempt",
    "started_at",
    "status",
    "error",
    "latency",
    "excerpt",
    "outcome",
    "reason",
    "gone",
    "claim_attempt",
)


class OutcomeBatcher:
    """Collects outcomes and writes each batch with ``write`` (which returns the delivery ids
    whose lease held); every `submit` returns once its own batch is committed."""

    def __init__(self, write: Callable[[Sequence[Pending]], Awaitable[set[str]]]) -> None:
        self._write = write
        self._pending: list[tuple[Pending, asyncio.Future[bool]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, claim: Claim, outcome: Outcome, attempt: AttemptRecord) -> bool:
        """Record one outcome; ``False`` if its lease was lost."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._pending.append(((claim, outcome, attempt), done))
        if len(self._pending) >= GROUP_COMMIT_MAX:
            self._flush()
        elif len(self._tasks) < WRITERS and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await done

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # What came while the writers were busy goes now, as one batch.
        if self._pending and not self._scheduled and len(self._tasks) < WRITERS:
            self._flush()

    async def _run(self, batch: list[tuple[Pending, asyncio.Future[bool]]]) -> None:
        # A delivery recorded twice in one batch: the later record goes in a statement of its
        # own, after the first (one statement cannot update a row twice).
        while batch:
            seen: set[str] = set()
            now: list[tuple[Pending, asyncio.Future[bool]]] = []
            later: list[tuple[Pending, asyncio.Future[bool]]] = []
            for item in batch:
                delivery_id = item[0][0].event.id
                (later if delivery_id in seen else now).append(item)
                seen.add(delivery_id)
            batch = later
            try:
                recorded = await self._write([pending for pending, _ in now])
            except Exception as exc:
                for _, done in now:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for pending, done in now:
                if not done.done():
                    done.set_result(pending[0].event.id in recorded)

    async def drain(self) -> None:
        """Write what is waiting and wait for every batch in progress (before closing)."""
        self._flush()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
