"""Jobs, claims and attempts as the queue tests make them: one start time, one timeout, one
lease grace, on every queue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from webhook_kit import SignatureFormat
from webhook_kit.events import WebhookEvent
from webhook_kit.outcomes import AttemptRecord, Outcome
from webhook_kit.queues import Claim, WebhookQueue

START = 1_700_000_000.0
TIMEOUT = 30.0
GRACE = 5.0


def make_event(
    name: str = "order.created",
    *,
    timeout: float = TIMEOUT,
    url: str = "https://example.com/hooks",
) -> WebhookEvent:
    """A signed job to ``url``, created at `START`."""
    return WebhookEvent(
        id=str(uuid.uuid4()),
        event=name,
        target_url=url,
        body='{"n":1}',
        signature_format=SignatureFormat.HEX_SHA256_WITH_PREFIX,
        signature="sha256=00",
        created_at=START,
        timeout=timeout,
    )


def attempt_of(
    claim: Claim,
    *,
    status: int | None = 503,
    error: str | None = None,
    excerpt: str = "",
    outcome: str = "retry",
    started_at: float = START,
) -> AttemptRecord:
    """The attempt a claim's holder records (by default a 503, to be retried)."""
    return AttemptRecord(
        delivery_id=claim.event.id,
        attempt=claim.attempt,
        started_at=started_at,
        status=status,
        error=error,
        latency=0.01,
        response_excerpt=excerpt,
        outcome=outcome,
    )


def ids(claims: Sequence[Claim]) -> list[str]:
    return [claim.event.id for claim in claims]


async def claim_one(queue: WebhookQueue) -> Claim:
    """Claim, with the lease grace `GRACE`, the one job due."""
    claims = await queue.claim(10, lease_grace=GRACE)
    assert len(claims) == 1, claims
    return claims[0]


async def record(queue: WebhookQueue, claim: Claim, result: Outcome, /, **attempt: object) -> bool:
    """Record ``result`` for ``claim`` with an `attempt_of` it (``attempt``: its fields)."""
    return await queue.record(claim, result, attempt_of(claim, **attempt))  # type: ignore[arg-type]
