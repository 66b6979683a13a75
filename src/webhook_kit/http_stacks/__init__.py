"""The network stacks behind one delivery interface: httpx (core) and aiohttp (extra ``fast``).

A stack makes one POST and returns the status, headers and (capped) body, or raises a
`TransportError` with a `TransportErrorKind` — or `TargetRefusedError` when the network guard
refuses the address. Redirects are never followed. The stack owns its connection pools.

Usage:

    from webhook_kit.http_stacks import Timeouts, default_stack
    from webhook_kit.netguard import DEFAULT_POLICY

    stack = default_stack()  # aiohttp when installed, else httpx
    try:
        response = await stack.post(
            "https://example.com/hooks", b"{}", {"Content-Type": "application/json"},
            timeouts=Timeouts(connect=5, total=30), policy=DEFAULT_POLICY,
        )
    finally:
        await stack.aclose()

The stacks themselves live in `webhook_kit.http_stacks.httpx_stack` (``HttpxStack``) and
`webhook_kit.http_stacks.aiohttp_stack` (``AiohttpStack``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ..errors import InvalidInputError, MissingDependencyError, WebhookKitError
from ..netguard import NetworkPolicy

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "HttpResponse",
    "NetworkStack",
    "Timeouts",
    "TransportError",
    "TransportErrorKind",
    "default_stack",
]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
"""A response body longer than this is not read further: the attempt fails as oversized."""


class TransportErrorKind(str, enum.Enum):
    """What went wrong below HTTP. Every kind is retried."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    CONNECTION_LOST = "connection_lost"
    RESPONSE_TOO_LARGE = "response_too_large"
    PROTOCOL = "protocol"

    def __str__(self) -> str:
        return self.value


class TransportError(WebhookKitError):
    """One POST failed below HTTP (refused, DNS, TLS, reset, timeout, oversized response)."""

    def __init__(self, kind: TransportErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __repr__(self) -> str:
        return f"TransportError(kind={self.kind.value!r}, message={str(self)!r})"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds allowed to connect, and for the whole attempt (connect, send, read the reply).

    ``connect`` covers DNS resolution and, on the aiohttp stack, waiting for a free pooled
    connection. ``total`` bounds everything, reading the response body included: a receiver
    that trickles its answer cannot hold an attempt longer.

    Raises:
        InvalidInputError: a value is not a positive, finite number of seconds.
    """

    connect: float
    total: float

    def __post_init__(self) -> None:
        for name in ("connect", "total"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise InvalidInputError(
                    f"Timeouts.{name} must be a positive number of seconds, not {value!r}"
                )


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What a receiver answered. ``headers`` has lower-case names; ``body`` is capped."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class NetworkStack(Protocol):
    """One POST at a time, many concurrently; pools and the guard are the stack's business."""

    name: str

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeouts: Timeouts,
        policy: NetworkPolicy,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> HttpResponse:
        """POST ``body`` to ``url``; never follow a redirect.

        Raises:
            TransportError: below HTTP; the kind says what.
            TargetRefusedError: the guard refused the resolved address; nothing was sent.
        """
        ...

    async def aclose(self) -> None:
        """Close every pooled connection."""
        ...


def default_stack() -> NetworkStack:
    """The fastest stack installed: ``AiohttpStack`` with the ``fast`` extra, else ``HttpxStack``.

    Both run on asyncio, as the worker does.
    """
    # Imported here: both modules import this one, and aiohttp is optional.
    from .aiohttp_stack import AiohttpStack
    from .httpx_stack import HttpxStack

    try:
        return AiohttpStack()
    except MissingDependencyError:
        return HttpxStack()
