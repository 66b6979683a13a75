"""What one attempt comes to, and what the queue keeps of it."""

from __future__ import annotations

from dataclasses import dataclass

from .events import WebhookEvent

__all__ = ["AttemptRecord", "DeadLetter", "DeadLetterRecord", "Delivered", "Outcome", "RetryAt"]

RESPONSE_EXCERPT_BYTES = 8 * 1024
"""How much of a response body an attempt record keeps."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """The receiver answered 2xx: done."""


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try again at ``at`` (epoch seconds on the queue's clock)."""

    at: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Give up: ``reason`` says why; ``gone`` when the receiver answered 410 Gone;
    ``unsent`` when no request was made (the network guard refused the target, or there was no
    secret to sign with), which says nothing about the endpoint's health."""

    reason: str
    gone: bool = False
    unsent: bool = False


Outcome = Delivered | RetryAt | DeadLetter
"""The result of one attempt, as the queue records it."""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt, as recorded.

    Attributes:
        delivery_id: the delivery (``X-Webhook-Id``).
        attempt: 1 for the first attempt.
        started_at: epoch seconds on the queue's clock.
        status: the HTTP status, or ``None`` when no response came.
        error: what went wrong below HTTP (or the guard's refusal), else ``None``.
        latency: real seconds the attempt took.
        response_excerpt: the start of the response body (at most 8 KiB), decoded leniently.
        outcome: ``"delivered"``, ``"retry"`` or ``"dead"``.
    """

    delivery_id: str
    attempt: int
    started_at: float
    status: int | None
    error: str | None
    latency: float
    response_excerpt: str
    outcome: str


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A delivery that will not be retried unless redriven.

    Attributes:
        event: the stored job (redriving sends it again with the same id).
        reason: why it was dead-lettered.
        gone: the receiver answered 410 Gone.
        attempts: attempts made.
        dead_at: epoch seconds on the queue's clock.
        last_status: the last HTTP status, if any.
        last_error: the last error below HTTP, if any.
        response_excerpt: the start of the last response body.
    """

    event: WebhookEvent
    reason: str
    gone: bool
    attempts: int
    dead_at: float
    last_status: int | None
    last_error: str | None
    response_excerpt: str

    @property
    def id(self) -> str:
        """The delivery id."""
        return self.event.id
