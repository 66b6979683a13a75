"""`MemoryQueue`: the queue protocol in memory, for tests and single-process apps."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..clock import Clock, SystemClock
from ..errors import InvalidInputError
from ..events import WebhookEvent, endpoint_of
from ..outcomes import AttemptRecord, DeadLetter, DeadLetterRecord, Delivered, Outcome, RetryAt
from .memory_retention import PRUNE_EVERY, DeliveredLog
from .protocol import (
    DEFAULT_RETENTION,
    UNLIMITED,
    Claim,
    ClaimLimits,
    DeliveryState,
    EndpointRecord,
    QueueCounts,
    UnknownDeliveryError,
)
from .signals import WorkSignal

__all__ = ["DEFAULT_KEEP_DELIVERED", "MemoryQueue"]

DEFAULT_KEEP_DELIVERED = 10_000
"""Delivered deliveries a `MemoryQueue` keeps for `MemoryQueue.history`; older ones go."""

_PENDING, _IN_FLIGHT, _DELIVERED, _DEAD = "pending", "in_flight", "delivered", "dead"

_DueRow = tuple[float, int, str]  # (due, sequence, id); a row whose entry moved on is stale


@dataclass(slots=True)
class _Entry:
    event: WebhookEvent
    endpoint: str
    due: float
    state: str = _PENDING
    attempts: int = 0
    token: int = 0
    lease_until: float = 0.0
    history: list[AttemptRecord] = field(default_factory=list)
    dead: DeadLetterRecord | None = None
    finished_at: float = 0.0


class MemoryQueue:
    """The queue protocol in this process's memory: fast, and gone when the process ends.

    Usage:

        queue = MemoryQueue()                       # SystemClock
        queue = MemoryQueue(clock=VirtualClock())   # tests: time moves only when told

    Args:
        clock: the clock due dates and leases are measured on (default: `SystemClock`).
        retention: seconds delivered deliveries are kept before pruning (default a week), as
            in `SQLiteQueue`: `prune` deletes older ones, and recording outcomes prunes at
            most once a minute.
        keep_delivered: how many delivered deliveries (with their attempt history) are kept
            for `history`; older ones are forgotten sooner than ``retention`` would, so a
            long-running process or test stays bounded in memory. A forgotten delivery is
            still counted as delivered (`counts`) until it is pruned. Pending, in-flight and
            dead ones are always kept.

    Raises:
        InvalidInputError: ``keep_delivered`` or ``retention`` is negative.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        retention: float = DEFAULT_RETENTION,
        keep_delivered: int = DEFAULT_KEEP_DELIVERED,
    ) -> None:
        if isinstance(keep_delivered, bool) or keep_delivered < 0:
            raise InvalidInputError("keep_delivered must be a whole number, 0 or more")
        if isinstance(retention, bool) or not retention >= 0:  # NaN too
            raise InvalidInputError("retention must be a number of seconds, 0 or more")
        self._delivered = DeliveredLog(keep=keep_delivered, retention=float(retention))
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._entries: dict[str, _Entry] = {}
        # Each endpoint's pending jobs, earliest due first: a claim takes what each endpoint's
        # allowance lets it, without walking the backlog of an endpoint that is held back.
        self._due: dict[str, list[_DueRow]] = {}
        self._in_flight: dict[str, _Entry] = {}
        self._dead: dict[str, _Entry] = {}  # insertion order = dead-letter order
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        self._work = WorkSignal()
        self._endpoints: dict[str, EndpointRecord] = {}

    @property
    def retention(self) -> float:
        """Seconds delivered deliveries are kept before pruning."""
        return self._delivered.retention

    @property
    def keep_delivered(self) -> int:
        """How many delivered deliveries keep their attempt history."""
        return self._delivered.keep

    async def enqueue(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """Store ``event`` (see `WebhookQueue.enqueue`)."""
        self.enqueue_sync(event, not_before=not_before)

    def enqueue_sync(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """Store ``event`` from synchronous code (any thread)."""
        due = self.clock.now() if not_before is None else not_before
        with self._lock:
            if event.id in self._entries:
                raise InvalidInputError(f"delivery {event.id} is already queued")
            entry = self._entries[event.id] = _Entry(event, endpoint_of(event.target_url), due)
            self._push(entry)
        self._work.notify()

    def _push(self, entry: _Entry) -> None:
        heap = self._due.get(entry.endpoint)
        if heap is None:
            heap = self._due[entry.endpoint] = []
        heapq.heappush(heap, (entry.due, next(self._sequence), entry.event.id))

    def _head(self, endpoint: str) -> _DueRow | None:
        """The endpoint's earliest pending job, dropping stale rows (and an emptied heap)."""
        heap = self._due[endpoint]
        while heap:
            row = heap[0]
            entry = self._entries.get(row[2])
            if entry is not None and entry.state == _PENDING and entry.due == row[0]:
                return row
            heapq.heappop(heap)
        del self._due[endpoint]
        return None

    async def claim(
        self, limit: int, *, lease_grace: float, limits: ClaimLimits = UNLIMITED
    ) -> Sequence[Claim]:
        """Lease up to ``limit`` due jobs, earliest first, each endpoint up to its allowance."""
        now = self.clock.now()
        claims: list[Claim] = []
        if limit <= 0:
            return claims
        with self._lock:
            self._expire_leases(now)
            # One candidate per endpoint that may lease more: its earliest due job.
            heads: list[tuple[float, int, str, int]] = []
            for endpoint in list(self._due):
                allowance = limits.allowance(endpoint)
                row = self._head(endpoint) if allowance > 0 else None
                if row is not None and row[0] <= now:
                    heads.append((row[0], row[1], endpoint, allowance))
            heapq.heapify(heads)
            while heads and len(claims) < limit:
                _, _, endpoint, allowance = heapq.heappop(heads)
                _, _, delivery_id = heapq.heappop(self._due[endpoint])
                entry = self._entries[delivery_id]
                entry.state = _IN_FLIGHT
                entry.attempts += 1
                entry.token = next(self._sequence)
                entry.lease_until = now + entry.event.timeout + lease_grace
                self._in_flight[delivery_id] = entry
                claims.append(Claim(entry.event, entry.attempts, entry.lease_until, entry.token))
                row = self._head(endpoint) if allowance > 1 else None
                if row is not None and row[0] <= now:
                    heapq.heappush(heads, (row[0], row[1], endpoint, allowance - 1))
        return claims

    def _expire_leases(self, now: float) -> None:
        expired = [entry for entry in self._in_flight.values() if entry.lease_until <= now]
        for entry in expired:
            del self._in_flight[entry.event.id]
            self._schedule(entry, entry.lease_until)

    def _schedule(self, entry: _Entry, due: float) -> None:
        entry.state = _PENDING
        entry.due = due
        entry.token = 0
        self._push(entry)

    def _holds(self, claim: Claim) -> _Entry | None:
        entry = self._entries.get(claim.event.id)
        if entry is None or entry.state != _IN_FLIGHT or entry.token != claim.token:
            return None
        return entry

    async def record(self, claim: Claim, outcome: Outcome, attempt: AttemptRecord) -> bool:
        """Record an attempt and apply its outcome; ``False`` if the lease was lost."""
        now = self.clock.now()
        with self._lock:
            entry = self._holds(claim)
            if entry is None:
                return False
            del self._in_flight[entry.event.id]
            entry.history.append(attempt)
            if isinstance(outcome, Delivered):
                entry.state = _DELIVERED
                entry.finished_at = now
                for forgotten in self._delivered.add(entry.event.id, now):
                    self._forget(forgotten)
            elif isinstance(outcome, RetryAt):
                self._schedule(entry, outcome.at)
            elif isinstance(outcome, DeadLetter):
                entry.state = _DEAD
                entry.finished_at = now
                entry.dead = DeadLetterRecord(
                    event=entry.event,
                    reason=outcome.reason,
                    gone=outcome.gone,
                    attempts=entry.attempts,
                    dead_at=now,
                    last_status=attempt.status,
                    last_error=attempt.error,
                    response_excerpt=attempt.response_excerpt,
                )
                self._dead[entry.event.id] = entry
            if now - self._delivered.last_prune >= PRUNE_EVERY:
                self._prune(now)
        if isinstance(outcome, RetryAt):
            self._work.notify()
        return True

    def _forget(self, delivery_id: str) -> None:
        """Drop a finished delivery: delivered past `keep_delivered` or `retention`, or a
        purged dead letter (called under the lock; `FakeQueue` drops its attempts too)."""
        self._entries.pop(delivery_id, None)

    async def release(self, claim: Claim, *, not_before: float | None = None) -> None:
        """Give a leased job back, due at ``not_before`` (default now), the attempt uncounted."""
        with self._lock:
            entry = self._holds(claim)
            if entry is None:
                return
            del self._in_flight[entry.event.id]
            entry.attempts -= 1
            self._schedule(entry, self.clock.now() if not_before is None else not_before)
        self._work.notify()

    async def next_due(self, *, held: frozenset[str] = frozenset()) -> float | None:
        """The earliest due date of a pending job (of an endpoint not ``held``), or lease
        expiry of an in-flight one."""
        with self._lock:
            candidates = [entry.lease_until for entry in self._in_flight.values()]
            for endpoint in list(self._due):
                if endpoint not in held:
                    row = self._head(endpoint)
                    if row is not None:
                        candidates.append(row[0])
        return min(candidates) if candidates else None

    async def wait_for_work(self, max_wait: float) -> None:
        """Wait until something is enqueued or retried, at most ``max_wait`` real seconds."""
        await self._work.wait(max_wait)

    @property
    def dead_letters(self) -> Sequence[DeadLetterRecord]:
        """The dead letters, oldest first (a read-only snapshot)."""
        with self._lock:
            return tuple(entry.dead for entry in self._dead.values() if entry.dead is not None)

    async def list_dead_letters(self) -> list[DeadLetterRecord]:
        """Every dead letter, oldest first."""
        return list(self.dead_letters)

    async def redrive(self, delivery_id: str) -> None:
        """Send a dead letter again: same id and body, a fresh set of attempts, due now.

        Raises:
            UnknownDeliveryError: no dead letter has that id.
        """
        with self._lock:
            if not self._redrive_one(delivery_id, self.clock.now()):
                raise UnknownDeliveryError(f"no dead letter with id {delivery_id}")
        self._work.notify()

    async def redrive_since(self, since: float) -> int:
        """Redrive every dead letter dead-lettered at or after ``since``; return how many."""
        now = self.clock.now()
        with self._lock:
            ids = [
                delivery_id
                for delivery_id, entry in self._dead.items()
                if entry.dead is not None and entry.dead.dead_at >= since
            ]
            for delivery_id in ids:
                self._redrive_one(delivery_id, now)
        if ids:
            self._work.notify()
        return len(ids)

    def _redrive_one(self, delivery_id: str, now: float) -> bool:
        entry = self._dead.pop(delivery_id, None)
        if entry is None:
            return False
        entry.dead = None
        entry.attempts = 0
        entry.finished_at = 0.0
        self._schedule(entry, now)
        return True

    async def purge_dead_letters(self, before: float | None = None) -> int:
        """Delete dead letters for good (their attempts with them); return how many.

        Args:
            before: only those dead-lettered before this time (epoch seconds); ``None``: all.
                Pending, in-flight and delivered deliveries are never touched.
        """
        with self._lock:
            ids = [
                delivery_id
                for delivery_id, entry in self._dead.items()
                if entry.dead is not None and (before is None or entry.dead.dead_at < before)
            ]
            for delivery_id in ids:
                del self._dead[delivery_id]
                self._forget(delivery_id)
        return len(ids)

    async def history(self, delivery_id: str) -> list[AttemptRecord]:
        """Every recorded attempt of one delivery.

        Raises:
            UnknownDeliveryError: no delivery has that id.
        """
        with self._lock:
            entry = self._entries.get(delivery_id)
            if entry is None:
                raise UnknownDeliveryError(f"no delivery with id {delivery_id}")
            return list(entry.history)

    async def find_deliveries(self, prefix: str, *, limit: int = 2) -> list[DeliveryState]:
        """The deliveries whose id is ``prefix`` or starts with it, at most ``limit``; an id
        equal to ``prefix`` comes first."""
        with self._lock:
            found = [
                DeliveryState(
                    event=entry.event,
                    state=entry.state,
                    due=entry.due if entry.state == _PENDING else None,
                )
                for delivery_id, entry in self._entries.items()
                if delivery_id.startswith(prefix)
            ]
        found.sort(key=lambda state: (state.event.id != prefix, state.event.id))
        return found[: max(limit, 0)]

    async def next_attempt_due(self) -> float | None:
        """When the earliest pending delivery is due (maybe past), or ``None`` if none is."""
        with self._lock:
            heads = [self._head(endpoint) for endpoint in list(self._due)]
        return min((row[0] for row in heads if row is not None), default=None)

    async def counts(self) -> QueueCounts:
        """How many deliveries are in each state."""
        now = self.clock.now()
        with self._lock:
            pending = [entry for entry in self._entries.values() if entry.state == _PENDING]
            return QueueCounts(
                pending=len(pending),
                due=sum(1 for entry in pending if entry.due <= now),
                in_flight=len(self._in_flight),
                delivered=self._delivered.count,
                dead=len(self._dead),
            )

    async def endpoint_records(self) -> list[EndpointRecord]:
        """Every endpoint whose health was recorded."""
        return sorted(self._endpoints.values(), key=lambda record: record.endpoint)

    async def save_endpoint(self, record: EndpointRecord) -> None:
        """Record an endpoint's health."""
        self._endpoints[record.endpoint] = record
        self._work.notify()

    async def prune(self) -> int:
        """Delete delivered deliveries older than `retention`; return how many (those
        `keep_delivered` forgot already included: they leave `counts` now).

        Pending deliveries and dead letters are never pruned; after pruning, `history` of a
        delivery raises `UnknownDeliveryError`.
        """
        with self._lock:
            return self._prune(self.clock.now())

    def _prune(self, now: float) -> int:
        old, pruned = self._delivered.prune(now)
        for delivery_id in old:
            self._forget(delivery_id)
        return pruned

    def __repr__(self) -> str:
        return f"MemoryQueue(clock={self.clock!r}, deliveries={len(self._entries)})"
