"""Checks on what users hand to `WebhookSubscription` and `dispatch`: URLs, headers, events."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

import httpx

from .errors import InvalidInputError, InvalidPayloadError
from .url_hosts import host_problem
from .url_masking import parser_reason

__all__ = [
    "RESERVED_HEADERS",
    "InvalidHeaderError",
    "InvalidTargetError",
    "check_event_name",
    "check_header",
    "check_status_codes",
    "check_target_url",
    "check_timeout",
    "serialise_payload",
]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_IN_VALUES = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
MAX_EVENT_NAME_LENGTH = 200
MAX_HEADER_VALUE_LENGTH = 4096

RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "transfer-encoding",
        "host",
        "connection",
        "x-webhook-id",
        "x-webhook-event",
        "x-webhook-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
"""Headers webhook-kit sets itself; ``.header()`` refuses them (``User-Agent`` is allowed)."""


class InvalidHeaderError(InvalidInputError):
    """A header name that is not a valid token, or a value with CR, LF or other controls."""


class InvalidTargetError(InvalidInputError):
    """A target URL that is not an absolute ``http``/``https`` URL with a host."""


def check_target_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL with a host.

    Raises:
        InvalidTargetError: otherwise: other schemes, no host, whitespace or controls, or a
            URL the two HTTP stacks would not send alike — a backslash before the query, a
            numeric IPv4 spelling other than the dotted quad (``127.1``, ``2130706433``), an
            ``xn--`` label that IDNA does not decode (``xn--zz``), percent-escapes or an empty
            label in the host, an IPv6 zone.
    """
    if not isinstance(url, str) or not url:
        raise InvalidTargetError("the target URL must be a non-empty string")
    if url != url.strip() or _FORBIDDEN_IN_VALUES.search(url) or " " in url:
        raise InvalidTargetError("the target URL contains whitespace or control characters")
    if "\\" in url.partition("#")[0].partition("?")[0]:
        # httpx reads http://a\@b/ as host b, the URL Standard as host a, yarl not at all.
        raise InvalidTargetError(
            "the target URL has a backslash before its query, which parsers read differently"
            " (write %5C for one in the path)"
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        # Only what went wrong: httpx quotes the piece it could not read, which may be a
        # piece of a password ("Invalid port: 'pa'" for http://user:pa#ss@host).
        raise InvalidTargetError(
            f"the target URL does not parse: {parser_reason(str(exc))}"
        ) from None
    if not parsed.scheme:
        raise InvalidTargetError("the target URL must be a full URL with http:// or https://")
    if parsed.scheme not in ("http", "https"):
        # Named only when it is plainly a scheme: in "user:pw@host" it is a user name.
        named = url[len(parsed.scheme) :].startswith("://")
        raise InvalidTargetError(
            "the target URL must be http or https" + (f", not {parsed.scheme!r}" if named else "")
        )
    # raw_host first: .host decodes IDNA, and raises on an A-label it cannot decode.
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise InvalidTargetError("the target URL has no host")
    problem = host_problem(host)
    if problem is not None:
        raise InvalidTargetError(f"the target URL's host {host} {problem}")
    try:
        parsed.host  # noqa: B018  (httpx decodes it for the Host header, and so must succeed)
    except (UnicodeError, ValueError) as exc:
        raise InvalidTargetError(
            f"the target URL's host {host} is not valid IDNA (such as an xn-- label that does"
            f" not decode): {exc}"
        ) from None
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise InvalidTargetError(f"the target URL's port must be 1 to 65535, not {parsed.port}")
    return url


def check_header(name: str, value: str) -> tuple[str, str]:
    """Return ``(name, value)`` if both are safe to send.

    Raises:
        InvalidHeaderError: a name that is not an RFC 9110 token or is set by webhook-kit, or a
            value that is not a string, has CR/LF/NUL or other controls, or is too long.
    """
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise InvalidHeaderError(f"not a valid header name: {name!r}")
    if name.lower() in RESERVED_HEADERS:
        raise InvalidHeaderError(f"{name} is set by webhook-kit and cannot be overridden")
    if not isinstance(value, str):
        raise InvalidHeaderError(f"the value of {name} must be a string")
    if _FORBIDDEN_IN_VALUES.search(value) or not value.isascii():
        raise InvalidHeaderError(f"the value of {name} contains CR, LF or another control")
    if len(value) > MAX_HEADER_VALUE_LENGTH or value != value.strip(" \t"):
        raise InvalidHeaderError(
            f"the value of {name} is too long or has leading/trailing whitespace"
        )
    return name, value


def check_event_name(event: str) -> str:
    """Return ``event`` if it is a usable event name (non-empty, printable, a header value).

    Raises:
        InvalidInputError: empty, too long, not a string, or with controls or non-ASCII.
    """
    if not isinstance(event, str) or not event.strip():
        raise InvalidInputError("the event name must be a non-empty string")
    if len(event) > MAX_EVENT_NAME_LENGTH:
        raise InvalidInputError(f"the event name is longer than {MAX_EVENT_NAME_LENGTH}")
    if not (event.isascii() and event.isprintable()) or event != event.strip():
        raise InvalidInputError("the event name must be printable ASCII without edge spaces")
    return event


def check_timeout(seconds: float, name: str = "timeout") -> float:
    """Return ``seconds`` as a float if it is a positive, finite number.

    Raises:
        InvalidInputError: otherwise.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise InvalidInputError(f"{name} must be a number of seconds")
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"{name} must be positive and finite")
    return float(seconds)


def check_status_codes(codes: Iterable[int]) -> frozenset[int]:
    """Return ``codes`` if each is an HTTP error status (400-599) that may be retried.

    Raises:
        InvalidInputError: a non-int, or a status outside 400-599.
    """
    checked: set[int] = set()
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 599:
            raise InvalidInputError(f"retry status codes must be ints from 400 to 599: {code!r}")
        checked.add(code)
    return frozenset(checked)


def serialise_payload(payload: Any, *, max_bytes: int | None = None) -> str:
    """Serialise ``payload`` to compact JSON text, once.

    Args:
        payload: anything JSON can hold, with string keys only.
        max_bytes: the most UTF-8 bytes the body may have (``None``: no cap).

    Raises:
        InvalidPayloadError: not JSON-serialisable (sets, bytes, objects, NaN or infinity,
            cycles), a key that is not a string at any depth (``json`` would turn ``1`` and
            ``"1"`` both into ``"1"``: one body, two equal keys), or a body over ``max_bytes``.
    """
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))  # lone surrogates serialise, but cannot be sent
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidPayloadError(f"the payload is not JSON-serialisable: {exc}") from None
    # Only after json.dumps: it has refused cycles, so the walk ends.
    if isinstance(payload, _CONTAINERS) and _has_non_string_key(payload):
        key, where = _first_non_string_key(payload, "payload")
        shown = repr(key)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        raise InvalidPayloadError(
            f"payload keys must be strings: {where} has the key {shown} "
            f"({type(key).__name__}), which JSON would turn into a string"
        )
    if max_bytes is not None and size > max_bytes:
        raise InvalidPayloadError(
            f"the payload is {size} bytes as JSON, over the cap of {max_bytes} bytes "
            "(WebhookSubscription.max_payload_bytes)"
        )
    return text


_CONTAINERS = (dict, list, tuple)  # what json.dumps writes as objects and arrays


def _has_non_string_key(payload: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> bool:
    # One loop over the containers only, without recursion: it runs on every dispatch.
    pending: list[Any] = [payload]
    pop, push, containers = pending.pop, pending.append, _CONTAINERS
    while pending:
        item = pop()
        if isinstance(item, dict):
            for key in item:
                if type(key) is not str and not isinstance(key, str):
                    return True
            item = item.values()
        for value in item:
            if isinstance(value, containers):
                push(value)
    return False


def _first_non_string_key(value: Any, where: str) -> tuple[Any, str]:
    """The first key that is not a string under ``value``, and where it is (for the message)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return key, where
            if isinstance(item, _CONTAINERS) and _has_non_string_key(item):
                return _first_non_string_key(item, f"{where}[{key!r}]")
    else:
        for index, item in enumerate(value):
            if isinstance(item, _CONTAINERS) and _has_non_string_key(item):
                return _first_non_string_key(item, f"{where}[{index}]")
    return None, where  # pragma: no cover  (only called once one was found)
