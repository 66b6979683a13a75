"""The httpx network stack: always installed; what respx and in-process ASGI tests use.

Usage:

    from webhook_kit.http_stacks import Timeouts
    from webhook_kit.http_stacks.httpx_stack import HttpxStack
    from webhook_kit.netguard import DEFAULT_POLICY

    async with HttpxStack() as stack:
        response = await stack.post(
            "https://example.com/hooks", b"{}", {"Content-Type": "application/json"},
            timeouts=Timeouts(connect=5, total=30), policy=DEFAULT_POLICY,
        )

    # Tests: route the POSTs to an app in-process (no guard: the client is yours).
    stack = HttpxStack(httpx.AsyncClient(transport=httpx.ASGITransport(app)))
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Mapping
from contextvars import ContextVar
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType

import anyio
import httpx
from anyio.lowlevel import checkpoint

from ..errors import InvalidInputError
from ..netguard import NetworkPolicy
from ..url_masking import masked_url, scrubbed
from . import (
    DEFAULT_MAX_RESPONSE_BYTES,
    HttpResponse,
    Timeouts,
    TransportError,
    TransportErrorKind,
)
from ._shared import (
    attempt_timed_out,
    check_response_cap,
    lower_case_headers,
    not_a_url,
    response_too_large,
)
from .httpx_guard import GuardedTransport, NameResolutionError

__all__ = ["HttpxStack"]

DEFAULT_CONNECTION_LIMIT = 1000
"""Connections per policy, all kept alive: the worker, not the pool, bounds concurrency."""

# Body pieces read between two checkpoints (see _read_capped).
_PIECES_PER_CHECKPOINT = 64


_sending_webhook: ContextVar[bool] = ContextVar("webhook_kit_sending_webhook", default=False)


class _MaskWebhookUrls(logging.Filter):
    """On httpx's logger: its "HTTP Request: POST <url> ..." line for a webhook this stack is
    sending shows the URL without credentials or query, as webhook-kit's own records do.
    Requests of other httpx clients in the process are left as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if _sending_webhook.get() and isinstance(args, tuple) and len(args) >= 2:
            record.args = (args[0], masked_url(str(args[1])), *args[2:])
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _MaskWebhookUrls) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_MaskWebhookUrls())


class HttpxStack:
    """POSTs through httpx, each connection checked by the network guard after DNS.

    Without ``client``, the stack builds one `httpx.AsyncClient` per distinct `NetworkPolicy`
    on a `GuardedTransport`, so a connection pooled under a permissive policy is never reused
    under a strict one. Those clients ignore proxy environment variables (a proxy would
    choose the address, not the guard), keep no cookies, ask for an uncompressed reply and
    never follow redirects.

    With ``client``, every POST goes through it and **no guard is applied**: an injected
    client is the caller's own (a respx-mocked or ``httpx.ASGITransport`` client in tests, or
    a client configured by the application, which may use ``GuardedTransport`` itself). The
    stack does not close it.

    Args:
        client: the client to send through instead of the stack's guarded ones.
        connection_limit: pooled connections per policy (guarded clients only).
        ssl_context: how to verify receivers' certificates (guarded clients only; default:
            ``httpx.create_ssl_context()``, certifi's CA bundle).
    """

    name: str = "httpx"

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if connection_limit < 1:
            raise InvalidInputError(f"connection_limit must be at least 1, not {connection_limit}")
        self._client = client
        self._limits = httpx.Limits(
            max_connections=connection_limit, max_keepalive_connections=connection_limit
        )
        self._clients: dict[NetworkPolicy, httpx.AsyncClient] = {}
        self._ssl_context = ssl_context

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
        check_response_cap(max_response_bytes)
        client = self._client if self._client is not None else self._guarded_client(policy)
        # httpx's own timeouts report which phase was slow; the deadline around them is
        # what bounds the attempt as a whole (httpx's read timeout is per read, so a
        # receiver trickling a byte at a time would never trip it).
        timeout = httpx.Timeout(timeouts.total, connect=timeouts.connect)
        sending = _sending_webhook.set(True)  # httpx's own log line masks this URL
        try:
            with anyio.fail_after(timeouts.total):
                request = client.build_request(
                    "POST", url, content=body, headers=headers, timeout=timeout
                )
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    content = await _read_capped(response, max_response_bytes)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise attempt_timed_out(timeouts.total) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise not_a_url(url, str(exc)) from None
        except httpx.TransportError as exc:
            raise _transport_error(exc, url) from exc
        finally:
            _sending_webhook.reset(sending)
        return HttpResponse(
            status=response.status_code,
            headers=lower_case_headers(response.headers.multi_items()),
            body=content,
        )

    async def aclose(self) -> None:
        """Close the clients the stack built (an injected client is left to its owner)."""
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> HttpxStack:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _guarded_client(self, policy: NetworkPolicy) -> httpx.AsyncClient:
        client = self._clients.get(policy)
        if client is None:
            if self._ssl_context is None:
                # Loading the CA bundle takes milliseconds: once per stack, not per policy.
                self._ssl_context = httpx.create_ssl_context()
            client = httpx.AsyncClient(
                transport=GuardedTransport(
                    policy, ssl_context=self._ssl_context, limits=self._limits
                ),
                trust_env=False,
                follow_redirects=False,
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
                # Read raw: a small compressed body may inflate far past the response cap.
                headers={"Accept-Encoding": "identity"},
            )
            self._clients[policy] = client
        return client


async def _read_capped(response: httpx.Response, max_response_bytes: int) -> bytes:
    """The body as sent (not decompressed), at most ``max_response_bytes`` long."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_response_bytes:
        raise response_too_large(max_response_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_response_bytes:
            raise response_too_large(max_response_bytes)
        chunks.append(chunk)
        if len(chunks) % _PIECES_PER_CHECKPOINT == 0:
            # Pieces already buffered come without a pause, and a body sent in one-byte
            # chunks is tens of thousands of them: let the deadline (and other attempts) run.
            await checkpoint()
    return b"".join(chunks)


# httpcore reports a peer that hung up as a RemoteProtocolError with one of these messages.
_CONNECTION_LOST_MESSAGES = ("server disconnected", "peer closed connection")


def _transport_error(exc: httpx.TransportError, url: str) -> TransportError:
    if isinstance(exc, httpx.TimeoutException):
        kind = TransportErrorKind.TIMEOUT
    elif isinstance(exc, httpx.ConnectError):
        if _caused_by(exc, (socket.gaierror, NameResolutionError)):
            kind = TransportErrorKind.DNS
        elif _caused_by(exc, (ssl.SSLError,)):
            kind = TransportErrorKind.TLS
        else:
            kind = TransportErrorKind.CONNECT
    elif isinstance(exc, httpx.ProxyError):
        kind = TransportErrorKind.CONNECT
    elif _lost_connection(exc):
        kind = TransportErrorKind.CONNECTION_LOST
    else:
        kind = TransportErrorKind.PROTOCOL
    detail = scrubbed(str(exc), url) or type(exc).__name__
    return TransportError(kind, detail)


def _lost_connection(exc: httpx.TransportError) -> bool:
    if isinstance(exc, httpx.NetworkError):  # ReadError, WriteError, CloseError
        return True
    message = str(exc).lower()
    return isinstance(exc, httpx.RemoteProtocolError) and any(
        marker in message for marker in _CONNECTION_LOST_MESSAGES
    )


def _caused_by(exc: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` or anything in its cause/context graph is one of ``types``.

    Both links are followed: a re-raise such as respx's ``raise origin from wrapper``
    replaces ``__cause__`` but leaves ``__context__`` pointing at the original failure.
    """
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, types):
            return True
        pending.extend(link for link in (current.__cause__, current.__context__) if link)
    return False
