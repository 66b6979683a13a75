"""Fair claims for SQL queues: when a claim round reads each endpoint's jobs on its own.

A *plain* round reads the earliest due jobs (one index range) and keeps each endpoint's first
ones up to its allowance. When a backlog of one endpoint is ahead in due order, that range is
all backlog and the round leaves it out: then a *fair* round is needed, which reads each
endpoint's earliest pending job (its *head*) with a skip-scan of the (endpoint, due) index, and
takes endpoints in the order their heads fell due, each one's own earliest jobs up to its
allowance (through the same index), until the round is full. However long the backlog, it is
never walked.

`FairRounds` is what a queue remembers between claims: while a backlog is ahead, every round
needs the fair read, so the next claim starts with it instead of paying for a plain round first;
each fair round also tells whether a plain round would do again (no endpoint's allowance is
exceeded among the earliest due jobs), and then the next claim is plain again.

The skip-scan costs one index lookup per endpoint with pending jobs, due or not; a fair round
visits at most `FAIR_SCAN` of them. Beyond that, rounds take windows of endpoints in turn (in
endpoint order from where the last window stopped, wrapping around): every endpoint is looked at
within a few rounds however many there are, and heads are taken in due order within a window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .protocol import ClaimLimits

__all__ = ["FAIR_SCAN", "FairRounds", "by_heads", "left_after", "may_cap", "over_allowances"]

FAIR_SCAN = 256
"""Endpoints with pending jobs one fair round visits at most (a few µs of index lookups each)."""


def may_cap(limit: int, limits: ClaimLimits) -> bool:
    """Whether any allowance is below ``limit``: if none is, a plain round leaves nothing out."""
    return min([limits.default, *limits.per_endpoint.values()]) < limit


def over_allowances(counts: Iterable[tuple[str, int]], limits: ClaimLimits) -> int:
    """How many of ``(endpoint, jobs)`` give an endpoint more jobs than its allowance."""
    return sum(1 for endpoint, count in counts if count > limits.allowance(endpoint))


def left_after(endpoints: Iterable[str], limits: ClaimLimits) -> ClaimLimits:
    """``limits`` less one job of each endpoint in ``endpoints`` (what a round already took)."""
    taken = Counter(endpoints)
    return ClaimLimits(
        default=limits.default,
        per_endpoint={
            **limits.per_endpoint,
            **{endpoint: limits.allowance(endpoint) - n for endpoint, n in taken.items()},
        },
    )


def by_heads(
    heads: Iterable[tuple[str, float]], limits: ClaimLimits, limit: int
) -> list[tuple[str, int]]:
    """The endpoints a fair round reads, earliest head first, each with how many jobs at most.

    Args:
        heads: ``(endpoint, due of its earliest pending job)`` of the endpoints with due jobs.
        limits: each endpoint's allowance this round.
        limit: how many jobs the round leases at most.
    """
    ordered = sorted((due, endpoint) for endpoint, due in heads)
    counts = [(endpoint, min(limits.allowance(endpoint), limit)) for _, endpoint in ordered]
    return [(endpoint, count) for endpoint, count in counts if count > 0]


@dataclass
class FairRounds:
    """What a queue remembers between claims (one per queue object: a hint, never needed for
    a claim to be right, so processes and threads need not agree on it).

    Attributes:
        scan: endpoints a fair round visits at most.
        fair: whether the last claim needed a fair round (the next one starts with it).
        after: the next fair round's window starts after this endpoint (``""``: at the first).
    """

    scan: int = FAIR_SCAN
    fair: bool = False
    after: str = ""

    def starts_fair(self, limit: int, limits: ClaimLimits) -> bool:
        """Whether the next claim goes straight to a fair round."""
        return self.fair and may_cap(limit, limits)

    def finished(self, capped: int, last: str | None) -> None:
        """Note what a fair round found: how many endpoints a plain round would have capped,
        and the last endpoint it visited if it stopped at `scan` (else ``None``)."""
        self.fair = capped > 0
        self.after = last or ""
