"""HttpxStack with a client of the caller's (ASGI, respx, MockTransport): no traffic at all."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from loopback import BODY, Recorder, build_app, post

from webhook_kit.http_stacks import TransportError, TransportErrorKind
from webhook_kit.http_stacks.httpx_stack import HttpxStack
from webhook_kit.netguard import DEFAULT_POLICY

pytestmark = pytest.mark.anyio


async def test_httpx_stack_with_an_asgi_client() -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(build_app(recorder))) as client:
        stack = HttpxStack(client)
        # The client is the caller's own: no guard, so even 127.0.0.1 under the default policy.
        response = await post(stack, "http://127.0.0.1/echo", policy=DEFAULT_POLICY)
        assert (response.status, response.body) == (200, b"echo:" + BODY)
        assert response.headers["x-dup"] == "a, b"
        redirect = await post(stack, "http://testserver/redirect")
        assert (redirect.status, redirect.headers["location"]) == (302, "/echo")
        await stack.aclose()
        assert not client.is_closed  # left to its owner
    assert recorder.paths() == ["/echo", "/redirect"]


def _dns_failure(request: httpx.Request) -> httpx.Response:
    try:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    except socket.gaierror as exc:
        raise httpx.ConnectError("[Errno -2] Name or service not known") from exc


def _tls_failure(request: httpx.Request) -> httpx.Response:
    try:
        raise ssl.SSLCertVerificationError(1, "certificate verify failed")
    except ssl.SSLError as exc:
        raise httpx.ConnectError("certificate verify failed") from exc


@pytest.mark.parametrize(
    ("side_effect", "kind"),
    [
        (httpx.ConnectError, TransportErrorKind.CONNECT),
        (httpx.ConnectTimeout, TransportErrorKind.TIMEOUT),
        (httpx.ReadTimeout, TransportErrorKind.TIMEOUT),
        (httpx.WriteTimeout, TransportErrorKind.TIMEOUT),
        (httpx.PoolTimeout, TransportErrorKind.TIMEOUT),
        (httpx.ReadError, TransportErrorKind.CONNECTION_LOST),
        (httpx.WriteError, TransportErrorKind.CONNECTION_LOST),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            TransportErrorKind.CONNECTION_LOST,
        ),
        (
            httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body"
            ),
            TransportErrorKind.CONNECTION_LOST,
        ),
        (httpx.RemoteProtocolError("illegal status line"), TransportErrorKind.PROTOCOL),
        (httpx.LocalProtocolError("bad header"), TransportErrorKind.PROTOCOL),
        (httpx.ProxyError, TransportErrorKind.CONNECT),
    ],
)
@pytest.mark.parametrize("injected", [True, False], ids=["injected", "own-clients"])
async def test_httpx_errors_map_to_kinds(
    side_effect: Any, kind: TransportErrorKind, injected: bool
) -> None:
    async with httpx.AsyncClient() as client:
        stack = HttpxStack(client) if injected else HttpxStack()
        try:
            with respx.mock:
                respx.post("https://hooks.example.test/in").mock(side_effect=side_effect)
                with pytest.raises(TransportError) as caught:
                    await post(stack, "https://hooks.example.test/in", policy=DEFAULT_POLICY)
        finally:
            await stack.aclose()
    assert caught.value.kind is kind
    assert isinstance(caught.value.__cause__, httpx.TransportError)


@pytest.mark.parametrize(
    ("handler", "kind"),
    [(_dns_failure, TransportErrorKind.DNS), (_tls_failure, TransportErrorKind.TLS)],
)
async def test_httpx_tells_dns_and_tls_failures_by_their_cause(
    handler: Callable[[httpx.Request], httpx.Response], kind: TransportErrorKind
) -> None:
    # respx re-raises a side effect "from" its own wrapper, which hides the cause; an
    # httpx.MockTransport lets the exception through as httpcore would raise it.
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        stack = HttpxStack(client)
        with pytest.raises(TransportError) as caught:
            await post(stack, "https://hooks.example.test/in", policy=DEFAULT_POLICY)
    assert caught.value.kind is kind


async def test_httpx_stack_with_respx_returns_the_mocked_answer() -> None:
    async with HttpxStack() as stack:
        with respx.mock:
            route = respx.post("https://hooks.example.test/in").mock(
                return_value=httpx.Response(503, headers={"Retry-After": "7"}, content=b"later")
            )
            response = await post(stack, "https://hooks.example.test/in", policy=DEFAULT_POLICY)
    assert response.status == 503
    assert response.headers["retry-after"] == "7"
    assert response.body == b"later"
    assert route.calls.last.request.content == BODY
