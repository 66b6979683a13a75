"""Group commit for the PostgreSQL queue: outcomes arriving together share one statement.

The first outcome of a batch waits `GROUP_COMMIT_WINDOW` for others (at most
`GROUP_COMMIT_MAX`), then one statement — arrays of every outcome, unnested — updates the jobs
whose lease still holds, inserts their attempts and dead letters, and commits once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..outcomes import AttemptRecord, DeadLetter, Delivered, Outcome, RetryAt
from .protocol import Claim

__all__ = ["GROUP_COMMIT_MAX", "GROUP_COMMIT_WINDOW", "OutcomeBatcher", "batch_parameters"]

GROUP_COMMIT_WINDOW = 0.002
"""Seconds the first outcome of a batch waits for others to share its statement and commit."""

GROUP_COMMIT_MAX = 512
"""Outcomes in one statement at most."""

Pending = tuple[Claim, Outcome, AttemptRecord]


def batch_parameters(
    batch: Sequence[Pending], translate: Callable[[float], float]
) -> dict[str, Any]:
    """The array parameters of `Statements.outcomes` for ``batch``.

    Args:
        batch: claims with their outcome and attempt, no delivery twice.
        translate: turns a caller's time (a retry's ``at``) into the statement's due parameter.
    """
    ids: list[str] = []
    tokens: list[int] = []
    states: list[str] = []
    dues: list[float | None] = []
    reasons: list[str | None] = []
    gone: list[bool | None] = []
    for claim, outcome, _ in batch:
        ids.append(claim.event.id)
        tokens.append(claim.token)
        if isinstance(outcome, RetryAt):
            states.append("pending")
            dues.append(translate(outcome.at))
            reasons.append(None)
            gone.append(None)
        elif isinstance(outcome, Delivered):
            states.append("delivered")
            dues.append(None)
            reasons.append(None)
            gone.append(None)
        elif isinstance(outcome, DeadLetter):
            states.append("dead")
            dues.append(None)
            reasons.append(outcome.reason)
            gone.append(outcome.gone)
        else:
            raise TypeError(f"not an outcome: {outcome!r}")
    return {
        "ids": ids,
        "tokens": tokens,
        "states": states,
        "dues": dues,
        "attempt_numbers": [attempt.attempt for _, _, attempt in batch],
        "started_at": [attempt.started_at for _, _, attempt in batch],
        "statuses": [attempt.status for _, _, attempt in batch],
        "errors": [attempt.error for _, _, attempt in batch],
        "latencies": [attempt.latency for _, _, attempt in batch],
        "excerpts": [attempt.response_excerpt for _, _, attempt in batch],
        "outcomes": [attempt.outcome for _, _, attempt in batch],
        "reasons": reasons,
        "gone": gone,
        "claim_attempts": [claim.attempt for claim, _, _ in batch],
    }


class OutcomeBatcher:
    """Collects outcomes and writes each batch with ``write`` (which returns the delivery ids
    whose lease held); every `submit` returns once its own batch is committed."""

    def __init__(self, write: Callable[[Sequence[Pending]], Awaitable[set[str]]]) -> None:
        self._write = write
        self._pending: list[tuple[Pending, asyncio.Future[bool]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, claim: Claim, outcome: Outcome, attempt: AttemptRecord) -> bool:
        """Record one outcome; ``False`` if its lease was lost."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._pending.append(((claim, outcome, attempt), done))
        if len(self._pending) >= GROUP_COMMIT_MAX:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(GROUP_COMMIT_WINDOW, self._flush)
        return await done

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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
