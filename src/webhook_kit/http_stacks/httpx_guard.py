"""The network guard for httpx: a transport whose every connection is checked after DNS.

httpx has no setting for a network backend, but httpcore's connection pool takes one. So
`GuardedTransport` is a small `httpx.AsyncBaseTransport` over
``httpcore.AsyncConnectionPool(network_backend=GuardedNetworkBackend(policy))``, mapping
httpcore's exceptions to httpx's as httpx's own transport does. Only public httpx and httpcore
API is used.

`GuardedNetworkBackend.connect_tcp` resolves the host itself, drops every address the policy
refuses (`webhook_kit.netguard.allowed_addresses`: a name is refused only when all of its
addresses are) and connects to a checked IP address, so a name that re-resolves to a private
address between the check and the connection (DNS rebinding) cannot slip through. TLS still
verifies the certificate of, and sends SNI for, the name in the URL: httpcore takes those from
the request's origin, not from the address connected to.

Usage:

    import httpx
    from webhook_kit.http_stacks.httpx_guard import GuardedTransport
    from webhook_kit.netguard import DEFAULT_POLICY

    async with httpx.AsyncClient(
        transport=GuardedTransport(DEFAULT_POLICY), trust_env=False
    ) as client:
        ...  # requests to private addresses raise TargetRefusedError

Pass ``trust_env=False`` to the client: with proxy variables in the environment httpx would
otherwise mount proxy transports, and the proxy — not the guard — would pick the address.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager

import anyio
import httpcore
import httpx

from ..errors import InvalidInputError
from ..netguard import NetworkPolicy, allowed_addresses
from ..url_hosts import looks_like_an_address

__all__ = ["GuardedNetworkBackend", "GuardedTransport", "NameResolutionError"]


class NameResolutionError(httpcore.ConnectError):
    """The host name did not resolve (the ``__cause__`` says why).

    A `httpcore.ConnectError`, so httpx reports it as `httpx.ConnectError`; the stack tells DNS
    failures apart by finding this class in the exception's cause chain.
    """


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that only connects to addresses a `NetworkPolicy` allows.

    Args:
        policy: which addresses may be connected to.
        backend: the backend that makes the connections (default: httpcore's anyio backend,
            which runs on asyncio and trio alike).
    """

    def __init__(
        self, policy: NetworkPolicy, backend: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self._backend = backend if backend is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host``, check every address, connect to the first allowed one that answers.

        ``timeout`` bounds resolution and connection together, as it bounds a plain connect.

        Raises:
            TargetRefusedError: every address the host resolved to is refused.
            NameResolutionError: the host did not resolve.
            httpcore.ConnectError: no allowed address accepted the connection.
            httpcore.ConnectTimeout: resolving and connecting took longer than ``timeout``.
        """
        try:
            with anyio.fail_after(timeout):
                addresses = await self._allowed_addresses(host, port)
                failures: list[httpcore.ConnectError] = []
                for address in addresses:
                    try:
                        # No per-address timeout: the deadline above covers them all.
                        return await self._backend.connect_tcp(
                            address,
                            port,
                            timeout=None,
                            local_address=local_address,
                            socket_options=socket_options,
                        )
                    except httpcore.ConnectError as failure:
                        failures.append(failure)
                raise failures[-1]
        except TimeoutError:
            raise httpcore.ConnectTimeout(
                f"connecting to {host}:{port} took longer than {timeout}s"
            ) from None

    async def sleep(self, seconds: float) -> None:
        """Sleep as the wrapped backend does (httpcore uses it between retries)."""
        await self._backend.sleep(seconds)

    async def _allowed_addresses(self, host: str, port: int) -> list[str]:
        if looks_like_an_address(host):
            # "127.1" or "2130706433" would resolve to 127.0.0.1 here; the aiohttp stack refuses
            # them, so this one does too: only an address ipaddress reads is one (whatever the
            # policy, check_address refuses the rest).
            return allowed_addresses(host, [host], self.policy)
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            # UnicodeError: a name IDNA cannot encode never resolves either.
            raise NameResolutionError(f"could not resolve {host}: {exc}") from exc
        # anyio has already folded an IPv6 scope into the address ("fe80::1%2"), so the
        # guard sees it; dict.fromkeys drops duplicates (one per socket type) in order.
        resolved = list(dict.fromkeys(str(info[4][0]) for info in infos))
        allowed = allowed_addresses(host, resolved, self.policy)
        if not allowed:
            raise NameResolutionError(f"{host} resolved to no address")
        return allowed


# Most specific first: the first match wins.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core_type, httpx_type in _HTTPCORE_TO_HTTPX:
            if isinstance(exc, core_type):
                raise httpx_type(str(exc), request=request) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpcore.Response, request: httpx.Request) -> None:
        self._response = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for chunk in self._response.aiter_stream():
                yield chunk

    async def aclose(self) -> None:
        with _as_httpx_errors(self._request):
            await self._response.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport (HTTP/1.1, pooled) whose connections pass the network guard.

    Args:
        policy: which addresses may be connected to.
        ssl_context: how to verify servers (default: ``httpx.create_ssl_context()``).
        limits: pool sizes and keep-alive expiry.

    A request to a refused address raises `TargetRefusedError` from ``client.send``; nothing
    is sent. Other failures raise httpx's usual exceptions.
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits if limits is not None else httpx.Limits()
        self.policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context if ssl_context is not None else httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=GuardedNetworkBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over a guarded, pooled connection."""
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise InvalidInputError("GuardedTransport is async: the request body must be too")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            # Carries httpx's per-request timeouts to the pool and the backend.
            extensions=request.extensions,
        )
        with _as_httpx_errors(request):
            core_response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response, request),
            extensions=core_response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()
