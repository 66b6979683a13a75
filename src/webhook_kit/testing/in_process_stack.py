"""`InProcessStack`: the network stack ``fake_queue`` delivers with — straight into receivers'
and mounted apps' ASGI apps, no socket, no HTTP client, no network guard."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import anyio
import httpx
from starlette.types import ASGIApp

from ..http_stacks import (
    DEFAULT_MAX_RESPONSE_BYTES,
    HttpResponse,
    Timeouts,
    TransportError,
    TransportErrorKind,
)
from ..netguard import NetworkPolicy
from ..wire import HEADER_ID
from .routing import MountedApp, ReceiverRouter, UnroutableTargetError

__all__ = ["InProcessStack"]


class InProcessStack:
    """POSTs handed directly to the app a `ReceiverRouter` knows for the URL: an app mounted at
    a prefix of it, or the `MockReceiver` of its host.

    The ASGI conversation is the one an HTTP server would have with the app, minus the socket:
    it is what makes ``fake_queue`` run thousands of deliveries a second. A URL no receiver
    serves is refused (`UnroutableTargetError`, fatal for the delivery); a receiver's scripted
    delay past the attempt's timeout is a timeout. A mounted app that raises gets its sender a
    500, as under a real server, and the exception is kept in ``router.app_errors``.
    """

    name = "in-process"

    def __init__(self, router: ReceiverRouter) -> None:
        self.router = router

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
        """Run the app that serves ``url`` (a mounted app, or a receiver) on one POST."""
        parts = urlsplit(url)
        mounted = self.router.mounted_app(url)
        if mounted is not None:
            return await self._post_to_app(
                mounted, parts, body, headers, timeouts, max_response_bytes
            )
        receiver = self.router.get(parts.hostname or "")
        if receiver is None:
            target = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
            self.router.refused.append(target)
            raise UnroutableTargetError(target, self.router.known())
        try:
            return await _exchange(receiver.app, parts, body, headers, max_response_bytes)
        except httpx.TimeoutException as exc:  # a scripted delay past the attempt's timeout
            raise TransportError(TransportErrorKind.TIMEOUT, str(exc)) from exc

    async def _post_to_app(
        self,
        mounted: MountedApp,
        parts: SplitResult,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        max_response_bytes: int,
    ) -> HttpResponse:
        # The test's own app: it may really wait, so the attempt's timeout applies in real time
        # (the virtual clock stands still during an attempt, as it always does).
        try:
            with anyio.fail_after(timeouts.total):
                return await _exchange(mounted.app, parts, body, headers, max_response_bytes)
        except TimeoutError:
            raise TransportError(
                TransportErrorKind.TIMEOUT,
                f"the app mounted at {mounted.prefix} did not answer within {timeouts.total:g}s",
            ) from None
        except TransportError:
            raise
        except Exception as exc:  # what a server does with an app's unhandled exception
            delivery_id = next(
                (value for name, value in headers.items() if name.lower() == HEADER_ID.lower()),
                None,
            )
            self.router.app_errors.append(
                f"the app mounted at {mounted.prefix} raised {type(exc).__name__}: {exc} "
                f"(delivery {delivery_id!r} to {parts.path or '/'}); the sender got a 500"
            )
            return HttpResponse(500, {}, b"")

    async def aclose(self) -> None:
        """Nothing to close: no connections."""


async def _exchange(
    app: ASGIApp,
    parts: SplitResult,
    body: bytes,
    headers: Mapping[str, str],
    max_response_bytes: int,
) -> HttpResponse:
    """The ASGI conversation an HTTP server has with ``app`` for one POST, minus the socket."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": parts.scheme,
        "path": unquote(parts.path) or "/",  # decoded, as ASGI says; raw_path stays encoded
        "raw_path": (parts.path or "/").encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [
            (b"host", parts.netloc.rpartition("@")[2].encode()),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)),
    }
    request_sent = False
    status = 0
    response_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    size = 0

    answered = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if request_sent:  # ASGI: the client disconnects only once the exchange is over
            await answered.wait()
            return {"type": "http.disconnect"}
        request_sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.extend(
                (name.decode("latin-1").lower(), value.decode("latin-1"))
                for name, value in message.get("headers", ())
            )
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_response_bytes:
                raise TransportError(
                    TransportErrorKind.RESPONSE_TOO_LARGE,
                    f"the response body is longer than {max_response_bytes} bytes",
                )
            chunks.append(chunk)

    try:
        await app(scope, receive, send)
    finally:
        answered.set()
    if not status:
        raise TransportError(
            TransportErrorKind.CONNECTION_LOST, "the receiver's app sent no response"
        )
    return HttpResponse(status, dict(response_headers), b"".join(chunks))
