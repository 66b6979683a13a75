"""`RetryPolicy`: when to try a failed delivery again, and when to give up.

The defaults ride out an outage of about ten hours: eight attempts, the first retry five
minutes after a failure, doubling each time (5, 10, 20, 40, 80, 160 and 320 minutes: 10.6 hours
in all), each delay spread by ±10% so that receivers coming back up are not hit in lock-step.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any

from .errors import InvalidInputError

__all__ = ["MAX_ATTEMPTS", "RetryPolicy", "parse_retry_after"]

MAX_ATTEMPTS = 8
"""Attempts per delivery by default, the first included."""

_MAX_RETRY_AFTER_LENGTH = 64


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a delivery gets, and the delay before each retry.

    The delay before attempt ``n + 1`` is ``min(max_delay, base_delay * factor ** (n - 1))``,
    spread by ``±jitter`` (a fraction: ``jitter=0`` is exact). A ``Retry-After`` header on a
    retryable response replaces the computed delay, clamped to ``max_delay``.

    Args:
        max_attempts: attempts in all, the first included (at least 1).
        base_delay: seconds before the first retry.
        factor: growth of each further delay (at least 1).
        max_delay: the longest delay, ``Retry-After`` included.
        jitter: fraction by which each computed delay is spread, from 0 to below 1.

    Raises:
        InvalidInputError: a value out of range.
    """

    max_attempts: int = MAX_ATTEMPTS
    base_delay: float = 300.0
    factor: float = 2.0
    max_delay: float = 6 * 3600.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise InvalidInputError("max_attempts must be an int")
        if self.max_attempts < 1:
            raise InvalidInputError("max_attempts must be at least 1")
        for name in ("base_delay", "factor", "max_delay", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInputError(f"{name} must be a number")
            if not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"{name} must be finite and not negative")
        if self.factor < 1:
            raise InvalidInputError("factor must be at least 1")
        if self.jitter >= 1:
            raise InvalidInputError("jitter must be below 1 (it is a fraction of the delay)")
        if self.max_delay < self.base_delay:
            raise InvalidInputError("max_delay must not be below base_delay")

    def delay_after(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        exponent = max(0, attempt - 1)
        try:  # floats: an int factor to a huge power would be exact, and endless
            delay = min(self.max_delay, self.base_delay * float(self.factor) ** exponent)
        except OverflowError:
            delay = self.max_delay if self.base_delay > 0 else 0.0
        if self.jitter:
            spread = (rng or random).uniform(-self.jitter, self.jitter)
            delay = min(self.max_delay, delay * (1.0 + spread))
        return max(0.0, delay)

    def schedule(self) -> list[float]:
        """The delays between attempts without jitter: ``max_attempts - 1`` numbers."""
        exact = RetryPolicy(self.max_attempts, self.base_delay, self.factor, self.max_delay, 0)
        return [exact.delay_after(attempt) for attempt in range(1, self.max_attempts)]

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON-ready values."""
        return {
            "max_attempts": self.max_attempts,
            "base_delay": self.base_delay,
            "factor": self.factor,
            "max_delay": self.max_delay,
            "jitter": self.jitter,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RetryPolicy:
        """The inverse of `to_json`."""
        return cls(**value)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value, or ``None`` if it means nothing.

    Accepts delay-seconds (``"120"``) and an HTTP date (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
    A date in the past means no wait (0). Anything else — negative, fractional, garbage, too
    long — is ignored (``None``), never an error.
    """
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > _MAX_RETRY_AFTER_LENGTH or not value.isascii():
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        seconds = when.timestamp() - now
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
