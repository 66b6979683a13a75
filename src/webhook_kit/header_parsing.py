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
    "get_is_ascii_exact",
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


# Mappings whose ``get(name)``, for an ASCII ``name``, matches only keys equal to it up to ASCII
# case: a plain dict (exact), Starlette's headers (latin-1 bytes, compared as bytes) and
# Werkzeug's WSGI-environ view (an exact environ lookup). Other mappings (Werkzeug's ``Headers``,
# Django's ``HttpHeaders``, requests' and multidict's) fold with ``str.lower``, which maps the
# KELVIN SIGN to ``k``; they are read by scanning their items instead.
_ASCII_EXACT_GET = frozenset(
    {
        ("builtins", "dict"),
        ("starlette.datastructures", "Headers"),
        ("starlette.datastructures", "MutableHeaders"),
        ("werkzeug.datastructures.headers", "EnvironHeaders"),
    }
)
_exact_get_by_type: dict[type, bool] = {dict: True}


def get_is_ascii_exact(mapping_type: type) -> bool:
    """Whether ``mapping_type.get(name)`` matches only keys equal to ``name`` in ASCII case.

    Only then may a lookup trust the mapping's own ``get``; for anything else, `find_header`
    scans the items, folding ASCII letters only.
    """
    try:
        return _exact_get_by_type[mapping_type]
    except KeyError:
        exact = (mapping_type.__module__, mapping_type.__qualname__) in _ASCII_EXACT_GET
        if len(_exact_get_by_type) < 64:
            _exact_get_by_type[mapping_type] = exact
        return exact


def _ascii_lower(text: str) -> str | None:
    # str.lower folds non-ASCII letters onto ASCII ones (U+212A KELVIN SIGN -> "k"); a header
    # name is an ASCII token, so anything else matches nothing.
    return text.lower() if text.isascii() else None


def find_header(headers: HeaderMapping, name: str) -> str | None:
    """Return the value of header ``name``, or ``None`` when it is absent.

    Names match case-insensitively in ASCII only: ``"X-Webhoo\u212a-Signature"`` (KELVIN SIGN)
    is not ``X-Webhook-Signature``, although ``str.lower`` makes them equal. A plain ``dict`` is
    tried with the name as given, then lower-case, then scanned; Starlette's headers and
    Werkzeug's environ view answer with their own ``get`` (ASCII already); any other mapping is
    scanned, since its ``get`` may fold with ``str.lower``.

    Raises:
        VerificationError: the value is not a ``str`` (malformed header).
    """
    mapping_type = type(headers)
    if mapping_type is not dict and get_is_ascii_exact(mapping_type):
        # Case-insensitive in ASCII already, and their items() may be folded (Werkzeug titles
        # environ names): their get is the whole answer.
        value = headers.get(name)
        if value is None:
            return None
    else:
        value = headers.get(name) if mapping_type is dict else None
        if value is None:
            lowered = name.lower()
            if mapping_type is dict and lowered != name:
                value = headers.get(lowered)
            if value is None:
                for key, item in headers.items():
                    if isinstance(key, str) and _ascii_lower(key) == lowered:
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
