"""What both stacks do the same way: header names, the response cap, the errors they raise."""

from __future__ import annotations

from collections.abc import Collection

from ..errors import InvalidInputError
from ..url_masking import masked_url, parser_reason
from . import TransportError, TransportErrorKind


def lower_case_headers(pairs: Collection[tuple[str, str]]) -> dict[str, str]:
    """Response headers as a dict with lower-case names; repeated fields joined with ``", "``.

    Joining is how RFC 9110 combines a repeated field; only ``Set-Cookie`` does not combine,
    and a webhook sender has no use for cookies.
    """
    headers = {name.lower(): value for name, value in pairs}
    if len(headers) == len(pairs):  # the usual case: no field repeated
        return headers
    headers.clear()
    for name, value in pairs:
        key = name.lower()
        previous = headers.get(key)
        headers[key] = value if previous is None else f"{previous}, {value}"
    return headers


def check_response_cap(max_response_bytes: int) -> None:
    """Raise `InvalidInputError` unless ``max_response_bytes`` is a non-negative int."""
    if (
        isinstance(max_response_bytes, bool)
        or not isinstance(max_response_bytes, int)
        or max_response_bytes < 0
    ):
        raise InvalidInputError(
            f"max_response_bytes must be a non-negative int, not {max_response_bytes!r}"
        )


def response_too_large(max_response_bytes: int) -> TransportError:
    """The error for a body longer than the cap."""
    return TransportError(
        TransportErrorKind.RESPONSE_TOO_LARGE,
        f"the response body is longer than {max_response_bytes} bytes; not read further",
    )


def attempt_timed_out(total: float) -> TransportError:
    """The error for an attempt that ran out of its total time."""
    return TransportError(
        TransportErrorKind.TIMEOUT, f"the attempt did not complete within {total:g}s"
    )


def not_a_url(url: str, reason: str = "") -> InvalidInputError:
    """The error for a URL a stack cannot send to: masked, as the library's own text is not
    (aiohttp's is the whole URL; httpx's may quote a piece of the authority)."""
    detail = parser_reason(reason)
    return InvalidInputError(
        f"not an http(s) URL: {masked_url(url)}" + (f" ({detail})" if detail else "")
    )
