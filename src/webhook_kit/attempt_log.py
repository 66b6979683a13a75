"""The log record of one attempt: a short line that says what happened and what comes next.

Every attempt is one record of the logger ``webhook_kit.delivery``:

- delivered, at ``INFO``: ``webhook 5f3c… attempt 1 to https://example.com/hooks: 200 in
  0.04s, delivered``;
- to be retried, at ``INFO``, with when: ``… attempt 1 to …: 503 in 0.04s; next attempt in 30s,
  at 2026-12-07 11:30:05 UTC``;
- dead-lettered, at ``WARNING`` (so that a default logging setup, which shows warnings only,
  shows it), with the reason and the next step: ``… attempt 8 to …: dead-lettered: gave up after
  8 attempts; the last: status 503. Once fixed: webhook-kit dlq redrive 5f3c…``.

The record's attributes carry the same facts for log pipelines (`FIELDS`).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone

from .events import WebhookEvent, masked_url
from .fix_hints import fix
from .outcomes import AttemptRecord, DeadLetter, Outcome, RetryAt

__all__ = ["FIELDS", "log_attempt", "logger"]

logger = logging.getLogger("webhook_kit.delivery")

FIELDS = (
    "webhook_id",
    "webhook_event",
    "attempt",
    "status",
    "error",
    "latency",
    "outcome",
    "next_attempt_at",
    "reason",
)
"""The attributes of each attempt's `logging.LogRecord`."""


def log_attempt(event: WebhookEvent, record: AttemptRecord, outcome: Outcome, now: float) -> None:
    """Log ``record``, the attempt of ``event`` that came to ``outcome``, at ``now`` (the
    queue's clock): ``INFO`` unless it is a dead letter, which is a ``WARNING``."""
    dead = isinstance(outcome, DeadLetter)
    level = logging.WARNING if dead else logging.INFO
    if not logger.isEnabledFor(level):
        return
    if record.status is not None:
        result = f"{record.status} in {record.latency:.2f}s"
    elif record.error is not None:
        result = record.error
    else:
        result = "no response"
    next_attempt_at: float | None = None
    reason: str | None = None
    if isinstance(outcome, RetryAt):
        next_attempt_at = outcome.at
        line = f"{result}; next attempt {_when(outcome.at, now)}"
    elif isinstance(outcome, DeadLetter):
        reason = outcome.reason
        # With no response, the reason says all the error did (the guard's refusal, the last
        # transport error, the disabled endpoint), in its words.
        line = f"dead-lettered: {reason}"
        if record.status is not None:
            line = f"{result}; {line}"
        line += ". Once fixed: " + fix(
            f"await queue.redrive({event.id!r})", f"webhook-kit dlq redrive {event.id}"
        )
    else:
        line = f"{result}, delivered"
    logger.log(
        level,
        "webhook %s attempt %d to %s: %s",
        event.id,
        record.attempt,
        masked_url(event.target_url),
        line,
        extra={
            "webhook_id": event.id,
            "webhook_event": event.event,
            "attempt": record.attempt,
            "status": record.status,
            "error": record.error,
            "latency": record.latency,
            "outcome": record.outcome,
            "next_attempt_at": next_attempt_at,
            "reason": reason,
        },
    )


def _when(at: float, now: float) -> str:
    """``in 30s, at 2026-12-07 11:30:05 UTC`` (``now`` when it is due already)."""
    wait = at - now
    if not math.isfinite(at):
        return "never"
    stamp = datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if wait < 0.5:
        return f"now, at {stamp}"
    if wait < 90:
        delay = f"{wait:.0f}s"
    elif wait < 90 * 60:
        delay = f"{wait / 60:.0f}min"
    else:
        delay = f"{wait / 3600:.1f}h"
    return f"in {delay}, at {stamp}"
