"""`InProcessStack`: the network stack ``fake_queue`` delivers with — straight into receivers'
ASGI apps, no socket, no HTTP client, no network guard."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from ..http_stacks import (
    DEFAULT_MAX_RESPONSE_BYTES,
    HttpResponse,
    Timeouts,
    TransportError,
    TransportErrorKind,
)
from ..netguard import NetworkPolicy
from .routing import ReceiverRouter, UnroutableTargetError

__all__ = ["InProcessStack"]


class InProcessStack:
    """POSTs handed directly to the `MockReceiver` a `ReceiverRouter` knows for the URL's host.

    The ASGI conversation is the one an HTTP server would have with the app, minus the socket:
    it is what makes ``fake_queue`` run thousands of deliveries a second. A URL no receiver
    serves is refused (`UnroutableTargetError`, fatal for the delivery); a receiver's scripted
    delay past the attempt's timeout is a timeout.
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
        """Run the receiver's app on one POST and collect its answer."""
        parts = urlsplit(url)
        receiver = self.router.get(parts.hostname or "")
        if receiver is None:
            target = f"{parts.scheme}://{parts.netloc}{parts.path}"
            self.router.refused.append(target)
            raise UnroutableTargetError(target, [r.url for r in self.router.receivers])
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
                (b"host", parts.netloc.encode()),
                (b"content-length", str(len(body)).encode()),
                *((name.lower().encode(), value.encode()) for name, value in headers.items()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": (parts.hostname, parts.port or 80),
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
            await receiver.app(scope, receive, send)
        except httpx.TimeoutException as exc:  # a scripted delay past the attempt's timeout
            raise TransportError(TransportErrorKind.TIMEOUT, str(exc)) from exc
        finally:
            answered.set()
        if not status:
            raise TransportError(
                TransportErrorKind.CONNECTION_LOST, "the receiver's app sent no response"
            )
        return HttpResponse(status, dict(response_headers), b"".join(chunks))

    async def aclose(self) -> None:
        """Nothing to close: no connections."""
