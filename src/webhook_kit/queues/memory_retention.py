"""`DeliveredLog`: which delivered deliveries a `MemoryQueue` keeps, forgets and prunes.

Two bounds apply. ``keep``: only the latest deliveries keep their history, so a long-running
process or a long Hypothesis run stays small; an older one is *forgotten* (its history goes)
but still counted as delivered. ``retention``: a delivery older than that is *pruned*, as
`SQLiteQueue` prunes, and leaves the count too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["PRUNE_EVERY", "DeliveredLog"]

PRUNE_EVERY = 60.0
"""Seconds (the queue's clock) between the prunes that recording outcomes makes."""

_BUCKET = 60.0  # seconds of delivery times one count of forgotten deliveries covers


@dataclass(slots=True)
class _Forgotten:
    """How many deliveries made from ``since`` to ``since`` + `_BUCKET` were forgotten."""

    since: float
    count: int


class DeliveredLog:
    """The delivered deliveries of one `MemoryQueue`: kept, forgotten, counted.

    Not thread-safe: the queue calls it under its lock.

    Args:
        keep: how many of the latest delivered deliveries keep their history.
        retention: seconds a delivered delivery is counted (and, if kept, kept) before pruning.
    """

    def __init__(self, *, keep: int, retention: float) -> None:
        self.keep = keep
        self.retention = retention
        self.count = 0
        """Delivered deliveries not pruned yet, forgotten ones included."""
        self.last_prune = 0.0
        self._kept: deque[tuple[str, float]] = deque()  # (id, delivered at), in order
        # By the minute, not one by one: a million forgotten deliveries cost a few counters.
        self._forgotten: deque[_Forgotten] = deque()

    def add(self, delivery_id: str, delivered_at: float) -> list[str]:
        """Note a delivery; return the ids whose history is to be forgotten now."""
        self.count += 1
        self._kept.append((delivery_id, delivered_at))
        forgotten: list[str] = []
        while len(self._kept) > self.keep:
            old_id, old_at = self._kept.popleft()
            forgotten.append(old_id)
            buckets = self._forgotten
            if buckets and buckets[-1].since <= old_at < buckets[-1].since + _BUCKET:
                buckets[-1].count += 1
            else:
                buckets.append(_Forgotten(old_at, 1))
        return forgotten

    def prune(self, now: float) -> tuple[list[str], int]:
        """The kept deliveries to delete now, and how many leave `count` (those, and forgotten
        ones as old).

        A bucket of forgotten deliveries goes once all of it is older than the retention, so
        they may stay counted up to a minute longer than kept ones (their history went long
        before).
        """
        self.last_prune = now
        cutoff = now - self.retention
        pruned = 0
        buckets = self._forgotten
        while buckets and buckets[0].since + _BUCKET <= cutoff:
            pruned += buckets.popleft().count
        # Every kept one is looked at, not only the oldest: a wall clock may have stepped back.
        old = [delivery_id for delivery_id, at in self._kept if at < cutoff]
        if old:
            self._kept = deque((i, at) for i, at in self._kept if at >= cutoff)
        pruned += len(old)
        self.count -= pruned
        return old, pruned
