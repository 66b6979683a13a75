"""The aiohttp half of `AiohttpStack`: imported only once aiohttp is known to be installed.

The POST path is the throughput path of every delivery, so per request it does two dict
look-ups (policy → session, URL → parsed and checked target), one more for the
``ClientTimeout``, and nothing else of its own besides the deadline and the capped read.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from ..netguard import NetworkPolicy, allowed_addresses, check_address
from ..url_hosts import looks_like_an_address
from ..url_masking import scrubbed
from . import HttpResponse, Timeouts, TransportError, TransportErrorKind
from ._shared import (
    attempt_timed_out,
    check_response_cap,
    lower_case_headers,
    not_a_url,
    response_too_large,
)

# Bounds on the per-stack caches; when full they are emptied, not evicted one by one: the
# working set of a webhook sender (its subscribers' URLs, a handful of timeouts) is small.
_MAX_CACHED_TARGETS = 4096
_MAX_CACHED_TIMEOUTS = 64

if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout
else:  # pragma: no cover - exercised on Python 3.10 only
    import anyio

    @asynccontextmanager
    async def _deadline(delay: float) -> AsyncIterator[None]:
        with anyio.fail_after(delay):
            yield


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that drops the addresses a `NetworkPolicy` refuses.

    A name is refused (`TargetRefusedError`) only when every address it resolved to is
    refused; otherwise only allowed addresses reach the connector, so it can only connect
    to one of those.

    Args:
        policy: which addresses may be connected to.
        resolver: the resolver that does the lookups (default: ``aiohttp.DefaultResolver``).
    """

    def __init__(self, policy: NetworkPolicy, resolver: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._resolver = resolver if resolver is not None else aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` and keep the allowed addresses."""
        results = await self._resolver.resolve(host, port, family)
        allowed = set(allowed_addresses(host, [result["host"] for result in results], self.policy))
        return [result for result in results if result["host"] in allowed]

    async def close(self) -> None:
        """Close the wrapped resolver."""
        await self._resolver.close()


class _PolicySession:
    __slots__ = ("resolver", "session", "targets")

    def __init__(self, session: aiohttp.ClientSession, resolver: GuardedResolver) -> None:
        self.session = session
        self.resolver = resolver
        # URL string → parsed URL whose host passed the IP-literal check under this policy.
        self.targets: dict[str, URL] = {}


class AiohttpSessions:
    """One aiohttp session per policy, and the POST that `AiohttpStack` delegates to."""

    def __init__(
        self,
        *,
        connection_limit: int,
        dns_cache_seconds: int,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._connection_limit = connection_limit
        self._dns_cache_seconds = dns_cache_seconds
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._sessions: dict[NetworkPolicy, _PolicySession] = {}
        self._client_timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        policy: NetworkPolicy,
        max_response_bytes: int,
    ) -> HttpResponse:
        """See `AiohttpStack.post`."""
        check_response_cap(max_response_bytes)
        state = self._sessions.get(policy)
        if state is None:
            # Checked before a session is opened, so a bad URL leaves nothing behind.
            _checked_target(url, policy)
            state = self._open(policy)
        target = state.targets.get(url)
        if target is None:
            target = _checked_target(url, policy)
            if len(state.targets) >= _MAX_CACHED_TARGETS:
                state.targets.clear()
            state.targets[url] = target
        client_timeout = self._client_timeouts.get(timeouts)
        if client_timeout is None:
            client_timeout = self._client_timeout(timeouts)
        try:
            # The deadline bounds the whole attempt, reading the body included. aiohttp's
            # own total timeout is left off (see _client_timeout): one timer per request.
            async with _deadline(timeouts.total):
                response = await state.session.post(
                    target,
                    data=body,
                    headers=headers,
                    timeout=client_timeout,
                    allow_redirects=False,
                )
                try:
                    content = await _read_capped(response, max_response_bytes)
                except BaseException:
                    # An unread remainder must not go back to the pool with the connection.
                    response.close()
                    raise
                response.release()
        except aiohttp.InvalidURL:
            # aiohttp's text is the whole URL, credentials and query included.
            raise not_a_url(url) from None
        except aiohttp.ClientError as exc:
            raise _transport_error(exc, url) from exc
        except (TimeoutError, asyncio.TimeoutError):
            raise attempt_timed_out(timeouts.total) from None
        except OSError as exc:
            kind = (
                TransportErrorKind.CONNECTION_LOST
                if isinstance(exc, ConnectionError)
                else TransportErrorKind.CONNECT
            )
            raise TransportError(kind, scrubbed(str(exc), url) or type(exc).__name__) from exc
        return HttpResponse(
            status=response.status,
            headers=lower_case_headers(response.headers.items()),
            body=content,
        )

    async def aclose(self) -> None:
        """Close every session (and so its connector) and its resolver."""
        states = list(self._sessions.values())
        self._sessions.clear()
        for state in states:
            await state.session.close()
            await state.resolver.close()

    def _open(self, policy: NetworkPolicy) -> _PolicySession:
        resolver = GuardedResolver(policy)
        connector = aiohttp.TCPConnector(
            limit=self._connection_limit,
            ttl_dns_cache=self._dns_cache_seconds,
            resolver=resolver,
            ssl=self._ssl,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            # Raw bytes, and ask for them: a small compressed body may inflate past the cap.
            auto_decompress=False,
            headers={"Accept-Encoding": "identity"},
            # A proxy from the environment would pick the address, not the guard.
            trust_env=False,
            raise_for_status=False,
        )
        state = _PolicySession(session, resolver)
        self._sessions[policy] = state
        return state

    def _client_timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        # total=None: the deadline around the request enforces the total; a second timer
        # from aiohttp would only cost time on every request. aiohttp's ``connect`` covers
        # resolving, connecting and waiting for a free pooled connection.
        client_timeout = aiohttp.ClientTimeout(total=None, connect=timeouts.connect)
        if len(self._client_timeouts) >= _MAX_CACHED_TIMEOUTS:
            self._client_timeouts.clear()
        self._client_timeouts[timeouts] = client_timeout
        return client_timeout


def _checked_target(url: str, policy: NetworkPolicy) -> URL:
    """``url`` parsed; an IP-literal host checked here, as aiohttp will not resolve it."""
    try:
        # Normalised by httpx (as the httpx stack sends it), then taken as already encoded: a
        # plain URL(url) would decode escapes such as %2F in the query and change a signed URL.
        target = URL(str(httpx.URL(url)), encoded=True)
    except (TypeError, ValueError, httpx.InvalidURL) as exc:
        raise not_a_url(url, str(exc)) from None
    host = target.raw_host
    if target.scheme not in ("http", "https") or not host:
        raise not_a_url(url)
    # aiohttp connects without resolving when the host merely *looks* numeric ("127.1" and
    # "0177.0.0.1" included, which the socket layer maps onto 127.0.0.1), so everything that
    # looks like an address must be one that ipaddress reads and the policy allows.
    # check_address refuses what ipaddress cannot read, whatever the policy — as the httpx
    # stack does (see GuardedNetworkBackend), so both treat every spelling alike.
    if looks_like_an_address(host):
        check_address(host, host, policy)
    return target


async def _read_capped(response: aiohttp.ClientResponse, max_response_bytes: int) -> bytes:
    """The body as sent, at most ``max_response_bytes`` long; nothing read past the cap + 1."""
    declared = response.content_length
    if declared is not None and declared > max_response_bytes:
        raise response_too_large(max_response_bytes)
    content = response.content
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await content.read(max_response_bytes + 1 - size)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_response_bytes:
            raise response_too_large(max_response_bytes)
        if not chunks and content.at_eof():
            return chunk  # the usual small reply, already complete: no second await
        chunks.append(chunk)


def _transport_error(exc: aiohttp.ClientError, url: str) -> TransportError:
    if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch)):
        kind = TransportErrorKind.TLS
    elif isinstance(exc, aiohttp.ClientConnectorDNSError):
        kind = TransportErrorKind.DNS
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = TransportErrorKind.CONNECT
    elif isinstance(exc, asyncio.TimeoutError):
        kind = TransportErrorKind.TIMEOUT
    elif isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        # Server disconnected, reset, or the body ended before its declared length.
        kind = TransportErrorKind.CONNECTION_LOST
    else:
        kind = TransportErrorKind.PROTOCOL
    # Some of aiohttp's texts quote the request's URL ("Connection timeout to host <url>").
    detail = scrubbed(str(exc), url) or type(exc).__name__
    return TransportError(kind, detail)
