"""The queue protocol: what every queue — memory, SQLite, PostgreSQL — does, and nothing more.

It is split by role. `DeliveryStore` is what every queue stores and reports: deliveries,
dead letters, attempt histories, endpoint health. `LeaseQueue` adds what webhook-kit's
`Worker` needs to lease jobs and record their outcomes; `WebhookQueue` names the whole contract.

A queue persists jobs, hands out due ones as leases, records outcomes and keeps dead letters.
It owns no policy: the delivery handler decides *when* to retry and *whether* to give up, and
the queue stores what it was told. Nor does it hold anything of the sending side: the handler
and the secrets of this process's deliveries are kept by `webhook_kit.registrations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..clock import Clock
from ..events import WebhookEvent
from ..outcomes import AttemptRecord, DeadLetterRecord, Outcome
from .errors import UnknownDeliveryError
from .records import (
    UNLIMITED,
    Claim,
    ClaimLimits,
    DeliveryState,
    EndpointRecord,
    QueueCounts,
    like_prefix,
)

__all__ = [
    "DEFAULT_RETENTION",
    "UNLIMITED",
    "Claim",
    "ClaimLimits",
    "DeliveryState",
    "DeliveryStore",
    "EndpointRecord",
    "LeaseQueue",
    "QueueCounts",
    "UnknownDeliveryError",
    "WebhookQueue",
    "like_prefix",
]

DEFAULT_RETENTION = 7 * 24 * 3600.0
"""Seconds a delivered delivery (and its attempt log) is kept before pruning: a week."""


@runtime_checkable
class DeliveryStore(Protocol):
    """What every queue stores and reports: deliveries, dead letters, histories, endpoint health.

    ``dispatch`` writes through it, the command line (``status``, ``show``, ``dlq``,
    ``endpoints``) reads and repairs through it; `LeaseQueue` adds what a `Worker` needs.

    Attributes:
        clock: the time every due date is measured on.
    """

    @property
    def clock(self) -> Clock:
        """The clock every due date and lease is measured on (attempts are timed on it)."""
        ...

    async def enqueue(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """Store ``event``, due at ``not_before`` (default now). Durable once it returns.

        Raises:
            InvalidInputError: a delivery with that id is already stored.
        """
        ...

    def enqueue_sync(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """`enqueue` for synchronous code (a Django or Flask view)."""
        ...

    async def list_dead_letters(self) -> list[DeadLetterRecord]:
        """Every dead letter, oldest first."""
        ...

    async def redrive(self, delivery_id: str) -> None:
        """Send a dead letter again: same id and body, a fresh set of attempts, due now.

        Raises:
            UnknownDeliveryError: no dead letter has that id.
        """
        ...

    async def redrive_since(self, since: float) -> int:
        """Redrive every dead letter dead-lettered at or after ``since``; return how many."""
        ...

    async def purge_dead_letters(self, before: float | None = None) -> int:
        """Delete dead letters for good (their attempts with them); return how many.

        Args:
            before: only those dead-lettered before this time (epoch seconds); ``None``: all.
                Pending, in-flight and delivered deliveries are never touched.
        """
        ...

    async def history(self, delivery_id: str) -> list[AttemptRecord]:
        """Every recorded attempt of one delivery, in order.

        Raises:
            UnknownDeliveryError: no delivery has that id (or it was pruned).
        """
        ...

    async def find_deliveries(self, prefix: str, *, limit: int = 2) -> list[DeliveryState]:
        """The deliveries whose id is ``prefix`` or starts with it, at most ``limit``; an id
        equal to ``prefix`` comes first."""
        ...

    async def next_attempt_due(self) -> float | None:
        """When the earliest pending delivery is due (maybe past), or ``None`` if none is."""
        ...

    async def counts(self) -> QueueCounts:
        """How many deliveries are in each state."""
        ...

    async def endpoint_records(self) -> list[EndpointRecord]:
        """Every endpoint whose health was recorded."""
        ...

    async def save_endpoint(self, record: EndpointRecord) -> None:
        """Record an endpoint's health (replacing what was recorded before)."""
        ...

    async def prune(self) -> int:
        """Delete delivered deliveries older than the queue's retention (`DEFAULT_RETENTION`
        unless it was given another); return how many. Queues also prune on their own as they
        record outcomes; pending deliveries and dead letters are never pruned."""
        ...


@runtime_checkable
class LeaseQueue(DeliveryStore, Protocol):
    """A `DeliveryStore` that webhook-kit's `Worker` can run: it leases due jobs and records
    their outcomes. Implemented by `MemoryQueue`, `SQLiteQueue` and the PostgreSQL queue."""

    async def claim(
        self, limit: int, *, lease_grace: float, limits: ClaimLimits = UNLIMITED
    ) -> Sequence[Claim]:
        """Lease up to ``limit`` due jobs, earliest due first, at most each endpoint's
        allowance in ``limits`` (jobs beyond it are not touched).

        Each lease lasts the job's own timeout plus ``lease_grace`` seconds.
        """
        ...

    async def record(self, claim: Claim, outcome: Outcome, attempt: AttemptRecord) -> bool:
        """Record an attempt and its outcome. ``False`` if the lease was lost (nothing changed)."""
        ...

    async def release(self, claim: Claim, *, not_before: float | None = None) -> None:
        """Give a leased job back, due at ``not_before`` (default now), the attempt uncounted."""
        ...

    async def next_due(self, *, held: frozenset[str] = frozenset()) -> float | None:
        """When the next job falls due (or a lease expires), or ``None`` if nothing waits.

        Jobs of the endpoints in ``held`` (see `ClaimLimits.held`) do not count.
        """
        ...

    async def wait_for_work(self, max_wait: float) -> None:
        """Return when a job may have been enqueued, or after ``max_wait`` real seconds."""
        ...


WebhookQueue = LeaseQueue
"""The whole queue contract (`LeaseQueue`: a `DeliveryStore` a `Worker` can run): what
`MemoryQueue`, `SQLiteQueue` and the PostgreSQL queue implement."""
