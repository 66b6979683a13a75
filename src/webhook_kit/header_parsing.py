"""Reading signature-related headers safely: lookup, caps, timestamps."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from .errors import InvalidInputError, VerificationError, VerificationFailure

__all__ = [
    "MAX_HEADER_LENGTH",
    "MAX_SIGNATURES",
    "MAX_TIMESTAMP",
    "HeaderMapping",
    "check_timestamp",
    "epoch_seconds",
    "find_header",
    "parse_timestamp",
    "require_header",
]

MAX_HEADER_LENGTH = 8192
"""Longest signature header value accepted; longer ones are malformed (not hashed, not split)."""

MAX_SIGNATURES = 32
"""Most signatures one header may carry (rotation needs a handful)."""

_MAX_TIMESTAMP_DIGITS = 15
MAX_TIMESTAMP = 10**_MAX_TIMESTAMP_DIGITS
"""Timestamps are whole epoch seconds below this (15 digits at most)."""


class HeaderMapping(Protocol):
    """What verification reads from headers: Starlette's, Django's, Werkzeug's, or a dict."""

    def get(self, key: str, /) -> str | None:
        """The value of a header, or ``None``."""
        ...

    def items(self) -> Iterable[tuple[str, str]]:
        """Every ``(name, value)`` pair."""
        ...


def find_header(headers: HeaderMapping, name: str) -> str | None:
    """Return the value of header ``name`` (case-insensitive), or ``None`` when it is absent.

    Case-insensitive mappings (Starlette, Django, Werkzeug) answer the first lookup; a plain
    ``dict`` is tried with the lower-case name, then scanned.

    Raises:
        VerificationError: the value is not a ``str`` (malformed header).
    """
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = headers.get(lowered)
        if value is None:
            for key, item in headers.items():
                if isinstance(key, str) and key.lower() == lowered:
                    value = item
                    break
            else:
                return None
    if not isinstance(value, str):
        raise VerificationError(
            VerificationFailure.MALFORMED_HEADER, f"header {name} is not text", header=name
        )
    return value


def require_header(headers: HeaderMapping, names: tuple[str, ...]) -> tuple[str, str]:
    """Return ``(name, value)`` of the first of ``names`` present, capped in length and ASCII.

    Raises:
        VerificationError: none is present, or the value is too long or not ASCII.
    """
    for name in names:
        value = find_header(headers, name)
        if value is not None:
            if len(value) > MAX_HEADER_LENGTH or not value.isascii():
                raise VerificationError(
                    VerificationFailure.MALFORMED_HEADER,
                    f"header {name} is longer than {MAX_HEADER_LENGTH} characters or not ASCII",
                    header=name,
                )
            return name, value
    wanted = " or ".join(names)
    raise VerificationError(
        VerificationFailure.MISSING_HEADER, f"header {wanted} is missing", header=names[0]
    )


def parse_timestamp(value: str, header: str) -> int:
    """Parse a timestamp header: whole epoch seconds in ASCII digits, nothing else.

    Raises:
        VerificationError: anything but 1 to 15 ASCII digits (signs, spaces, fractions,
            exponents, ``nan`` and ``inf`` included) is malformed.
    """
    if not (0 < len(value) <= _MAX_TIMESTAMP_DIGITS and value.isascii() and value.isdigit()):
        raise VerificationError(
            VerificationFailure.MALFORMED_HEADER,
            f"header {header} must be whole epoch seconds",
            header=header,
        )
    return int(value)


def check_timestamp(timestamp: int, now: float, tolerance: float, header: str | None) -> None:
    """Reject ``timestamp`` if it is more than ``tolerance`` seconds away from ``now``.

    Raises:
        VerificationError: ``TIMESTAMP_TOO_OLD`` or ``TIMESTAMP_IN_FUTURE``.
    """
    if timestamp < now - tolerance:
        raise VerificationError(
            VerificationFailure.TIMESTAMP_TOO_OLD,
            f"timestamp is {now - timestamp:.0f}s old; at most {tolerance:g}s is accepted",
            header=header,
        )
    if timestamp > now + tolerance:
        raise VerificationError(
            VerificationFailure.TIMESTAMP_IN_FUTURE,
            f"timestamp is {timestamp - now:.0f}s in the future; at most {tolerance:g}s is "
            "accepted",
            header=header,
        )


def epoch_seconds(now: float | datetime) -> float:
    """Convert ``now`` (epoch seconds or an aware ``datetime``) to epoch seconds.

    Raises:
        InvalidInputError: a naive ``datetime``, a non-finite number or another type.
    """
    if isinstance(now, datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise InvalidInputError("now must be a timezone-aware datetime (or epoch seconds)")
        return now.timestamp()
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise InvalidInputError(
            f"now must be epoch seconds or an aware datetime, not {type(now).__name__}"
        )
    seconds = float(now)
    if not math.isfinite(seconds):
        raise InvalidInputError("now must be a finite number of epoch seconds")
    return seconds
