"""The queue protocol: what every queue — memory, SQLite, PostgreSQL — does, and nothing more.

A queue persists jobs, hands out due ones as leases, records outcomes and keeps dead letters.
It owns no policy: the delivery handler decides *when* to retry and *whether* to give up, and
the queue stores what it was told.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..clock import Clock
from ..events import WebhookEvent
from ..keys import SecretOrSecrets
from ..outcomes import AttemptRecord, DeadLetterRecord, Outcome
from .errors import UnknownDeliveryError

if TYPE_CHECKING:
    from ..delivery import DeliveryHandler

__all__ = [
    "UNLIMITED",
    "Claim",
    "ClaimLimits",
    "DeliveryState",
    "EndpointRecord",
    "JobStore",
    "QueueCounts",
    "SecretMemory",
    "UnknownDeliveryError",
    "WebhookQueue",
]


def like_prefix(prefix: str) -> str:
    """A SQL ``LIKE`` pattern (escape character ``\\``) for text starting with ``prefix``."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True, slots=True)
class Claim:
    """A lease on one job: the holder makes attempt number ``attempt`` and records its outcome.

    Attributes:
        event: the job.
        attempt: the number of this attempt (1 for the first); an attempt interrupted by a lost
            lease counts.
        lease_until: when the lease expires (the queue's clock); after it, another worker may
            claim the job and the holder's outcome is ignored.
        token: identifies this lease to the queue.
    """

    event: WebhookEvent
    attempt: int
    lease_until: float
    token: int


@dataclass(frozen=True, slots=True)
class ClaimLimits:
    """How many jobs of each endpoint one claim round may lease.

    A queue never leases more of an endpoint's jobs than its allowance, and leaves the rest
    where they are (not claimed and given back): so a due job of another endpoint is claimed
    in the same round however long the backlog of a slow endpoint ahead of it.

    Attributes:
        default: the allowance of an endpoint not named in ``per_endpoint``.
        per_endpoint: the allowance of each named endpoint (see
            `webhook_kit.health.endpoint_of`); 0 holds its jobs back entirely.
    """

    default: int
    per_endpoint: Mapping[str, int] = field(default_factory=dict)

    def allowance(self, endpoint: str) -> int:
        """How many jobs of ``endpoint`` this round may lease."""
        return self.per_endpoint.get(endpoint, self.default)

    @property
    def held(self) -> frozenset[str]:
        """The endpoints none of whose jobs may be leased now."""
        return frozenset(endpoint for endpoint, slots in self.per_endpoint.items() if slots <= 0)


UNLIMITED = ClaimLimits(default=sys.maxsize)
"""No per-endpoint limit: every due job may be leased, earliest due first."""


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """An endpoint's health as the queue keeps it, so every worker and the CLI see it.

    Attributes:
        endpoint: the target URL without its query (see `webhook_kit.health.endpoint_of`).
        state: ``"healthy"``, ``"paused"``, ``"probing"`` or ``"disabled"``.
        reason: why it is paused or disabled.
        updated_at: when the state was recorded (the queue's clock).
        probe_at: when a paused endpoint is probed again.
    """

    endpoint: str
    state: str
    reason: str
    updated_at: float
    probe_at: float | None = None


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """Where one delivery is, as a durable queue reports it to the command line.

    Attributes:
        event: the delivery as dispatched.
        state: ``"pending"``, ``"in_flight"``, ``"delivered"`` or ``"dead"`` (another engine
            state, such as procrastinate's ``"cancelled"``, is passed on as it is).
        due: when a pending delivery's next attempt is due (maybe past); else ``None``.
    """

    event: WebhookEvent
    state: str
    due: float | None = None


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """How many deliveries are in each state."""

    pending: int
    due: int
    in_flight: int
    delivered: int
    dead: int


class SecretMemory:
    """Secrets held in this process's memory for deliveries dispatched here. Never persisted.

    Timestamped formats are signed at each attempt, so their worker needs the secret; a worker in
    the same process finds it here, one in another process asks the ``secrets`` resolver given
    to `WebhookSubscription.register`.
    """

    def __init__(self) -> None:
        self._secrets: dict[str, SecretOrSecrets] = {}
        self._lock = threading.Lock()

    def remember(self, delivery_id: str, secret: SecretOrSecrets) -> None:
        """Keep ``secret`` for ``delivery_id``."""
        with self._lock:
            self._secrets[delivery_id] = secret

    def get(self, delivery_id: str) -> SecretOrSecrets | None:
        """The secret kept for ``delivery_id``, if any."""
        return self._secrets.get(delivery_id)

    def forget(self, delivery_id: str) -> None:
        """Drop the secret (the delivery ended, or its dispatch failed)."""
        with self._lock:
            self._secrets.pop(delivery_id, None)

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"<SecretMemory: {len(self._secrets)} deliveries>"


@runtime_checkable
class JobStore(Protocol):
    """What dispatch and the delivery handler need of any queue, webhook-kit's own or not.

    `WebhookQueue` (run by webhook-kit's `Worker`) is one; the PostgreSQL queue, whose jobs
    procrastinate's worker runs, is another.

    Attributes:
        handler: the delivery handler `WebhookSubscription.register` installed, if any.
        secret_memory: secrets of deliveries dispatched in this process.
    """

    handler: DeliveryHandler | None
    secret_memory: SecretMemory

    @property
    def clock(self) -> Clock:
        """The clock attempts are timed and signed on."""
        ...

    async def enqueue(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """Store ``event``, due at ``not_before`` (default now). Durable once it returns."""
        ...

    def enqueue_sync(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        """`enqueue` for synchronous code (a Django or Flask view)."""
        ...


@runtime_checkable
class WebhookQueue(Protocol):
    """What a queue does. Implemented by `MemoryQueue` and the durable queues.

    Attributes:
        clock: the time every due date and lease is measured on.
        handler: the delivery handler `WebhookSubscription.register` installed, if any.
        secret_memory: secrets of deliveries dispatched in this process.
    """

    handler: DeliveryHandler | None
    secret_memory: SecretMemory

    @property
    def clock(self) -> Clock:
        """The clock every due date and lease is measured on."""
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

    async def list_dead_letters(self) -> list[DeadLetterRecord]:
        """Every dead letter, oldest first."""
        ...

    async def redrive(self, delivery_id: str) -> None:
        """Send a dead letter again: same id and body, a fresh set of attempts, due now.

        Raises:
            UnknownDeliveryError: no dead letter has that id.
        """
        ...

    async def history(self, delivery_id: str) -> list[AttemptRecord]:
        """Every recorded attempt of one delivery, in order."""
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
