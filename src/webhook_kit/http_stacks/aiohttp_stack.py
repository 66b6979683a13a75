"""The aiohttp network stack (extra ``fast``): the default when installed, asyncio only.

Usage:

    from webhook_kit.http_stacks import Timeouts
    from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
    from webhook_kit.netguard import DEFAULT_POLICY

    async with AiohttpStack() as stack:
        response = await stack.post(
            "https://example.com/hooks", b"{}", {"Content-Type": "application/json"},
            timeouts=Timeouts(connect=5, total=30), policy=DEFAULT_POLICY,
        )

aiohttp is imported when the stack is built, so importing this module never fails.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from ..errors import InvalidInputError, MissingDependencyError
from ..netguard import NetworkPolicy
from . import DEFAULT_MAX_RESPONSE_BYTES, HttpResponse, Timeouts

if TYPE_CHECKING:
    from ._aiohttp_sessions import AiohttpSessions

__all__ = ["AiohttpStack"]

DEFAULT_CONNECTION_LIMIT = 1000
"""Open connections per policy: high, as the worker, not the pool, bounds concurrency."""

DEFAULT_DNS_CACHE_SECONDS = 10
"""How long a name's (already checked) addresses are reused before it is resolved again."""


class AiohttpStack:
    """POSTs through aiohttp, each resolved address checked by the network guard.

    The stack keeps one ``aiohttp.ClientSession`` per distinct `NetworkPolicy` (so a
    connection pooled under a permissive policy is never reused under a strict one), created
    lazily in the running event loop: use one stack per loop. Each session's connector
    resolves names through a resolver that drops the addresses the policy refuses; aiohttp
    skips the resolver for IP-literal hosts, so those are checked before the request. The
    sessions keep no cookies, ignore proxy environment variables, ask for an uncompressed
    reply and never follow redirects.

    Args:
        connection_limit: open connections per policy (0: no limit).
        dns_cache_seconds: how long resolved (and checked) addresses are reused.
        ssl_context: how to verify receivers' certificates (default: aiohttp's, which uses
            the system's CA store).

    Raises:
        MissingDependencyError: aiohttp is not installed (``pip install 'webhook-kit[fast]'``).
    """

    name: str = "aiohttp"

    def __init__(
        self,
        *,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        dns_cache_seconds: int = DEFAULT_DNS_CACHE_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if connection_limit < 0:
            raise InvalidInputError(f"connection_limit must be 0 or more, not {connection_limit}")
        if dns_cache_seconds < 0:
            raise InvalidInputError(
                f"dns_cache_seconds must be 0 or more, not {dns_cache_seconds}"
            )
        try:
            from ._aiohttp_sessions import AiohttpSessions
        except ImportError as exc:
            if exc.name is None or exc.name.split(".")[0] not in {"aiohttp", "yarl", "multidict"}:
                raise
            raise MissingDependencyError(
                "the aiohttp stack needs aiohttp: pip install 'webhook-kit[fast]'"
            ) from exc
        self._sessions: AiohttpSessions = AiohttpSessions(
            connection_limit=connection_limit,
            dns_cache_seconds=dns_cache_seconds,
            ssl_context=ssl_context,
        )

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
            InvalidInputError: ``url`` is not an http(s) URL, or ``max_response_bytes`` < 0.
        """
        return await self._sessions.post(url, body, headers, timeouts, policy, max_response_bytes)

    async def aclose(self) -> None:
        """Close every session, its pooled connections and its resolver."""
        await self._sessions.aclose()

    async def __aenter__(self) -> AiohttpStack:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
