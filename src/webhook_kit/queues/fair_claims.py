"""Fair claims for SQL queues: which endpoints a claim round takes due jobs from, and how many.

A claim round reads the earliest due jobs first. When those would give one endpoint more than
its allowance (a backlog of a slow endpoint ahead of everyone else), the queue asks
`pick_fairly` which endpoints to read instead, from each endpoint's earliest due job (its
*head*), and reads each one's own earliest jobs through an index on (endpoint, due): however
long the backlog, it is never walked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from .protocol import ClaimLimits

__all__ = ["pick_fairly", "within_allowances"]


def within_allowances(rows: Iterable[Sequence[object]], limits: ClaimLimits) -> bool:
    """Whether ``rows`` (each ``(id, endpoint, …)``) give no endpoint more than its allowance."""
    counts = Counter(str(row[1]) for row in rows)
    return all(count <= limits.allowance(endpoint) for endpoint, count in counts.items())


def pick_fairly(
    heads: Iterable[tuple[str, float | None]], limits: ClaimLimits, limit: int, now: float
) -> list[tuple[str, int]]:
    """The endpoints to lease from, earliest head first, each with how many jobs to read.

    Args:
        heads: ``(endpoint, due of its earliest pending job)`` for every endpoint with pending
            jobs.
        limits: each endpoint's allowance this round.
        limit: how many jobs the round leases at most.
        now: the queue's time; endpoints whose earliest job is not due yet are left out.

    Endpoints are taken in the order their earliest job fell due until the jobs read can fill
    the round; the caller then keeps the ``limit`` earliest of them.
    """
    due = sorted((head, endpoint) for endpoint, head in heads if head is not None and head <= now)
    picked: list[tuple[str, int]] = []
    total = 0
    for _, endpoint in due:
        count = min(limits.allowance(endpoint), limit)
        if count <= 0:
            continue
        picked.append((endpoint, count))
        total += count
        if total >= limit:
            break
    return picked
