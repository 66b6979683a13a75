"""What a queue hands back and forth: claims, claim limits, endpoint records, counts.

Also how a SQL queue's row becomes a dead letter, so every SQL backend maps it alike.

The values every queue — memory, SQLite, PostgreSQL — takes and returns; the protocols that
use them are in `webhook_kit.queues.protocol`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..events import WebhookEvent
from ..outcomes import DeadLetterRecord

__all__ = [
    "UNLIMITED",
    "Claim",
    "ClaimLimits",
    "DeliveryState",
    "EndpointRecord",
    "QueueCounts",
    "dead_letter_from_row",
    "like_prefix",
]


def like_prefix(prefix: str) -> str:
    """A SQL ``LIKE`` pattern (escape character ``\\``) for text starting with ``prefix``."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def dead_letter_from_row(
    row: Sequence[Any],
    *,
    event_of: Callable[[str, Any, Any], WebhookEvent],
    time_of: Callable[[Any], float],
) -> DeadLetterRecord:
    """The dead letter a SQL queue's row describes.

    Every SQL queue selects its dead letters in one column order: ``id, body, event_json,
    reason, gone, attempts, dead_at, last_status, last_error, response_excerpt``.

    Args:
        row: one such row.
        event_of: the stored job from its ``id, body, event_json`` (each backend decodes its
            own columns, and may answer from its cache of events).
        time_of: ``dead_at`` as the backend stores it, in epoch seconds on the queue's clock.
    """
    (
        delivery_id,
        body,
        event_json,
        reason,
        gone,
        attempts,
        dead_at,
        last_status,
        last_error,
        response_excerpt,
    ) = row
    return DeadLetterRecord(
        event=event_of(delivery_id, body, event_json),
        reason=reason,
        gone=bool(gone),
        attempts=attempts,
        dead_at=time_of(dead_at),
        last_status=last_status,
        last_error=last_error,
        response_excerpt=response_excerpt,
    )


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
        state: ``"pending"``, ``"in_flight"``, ``"delivered"`` or ``"dead"``.
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
