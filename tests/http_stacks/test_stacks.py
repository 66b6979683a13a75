"""Both network stacks against real loopback receivers: answers, caps, timeouts, failures, TLS
and the guard. Every connection goes to 127.0.0.1; a loopback address the guard refuses is
never connected to at all.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import anyio
import pytest
from loopback import (
    BODY,
    HUGE_CHUNK,
    HUGE_CHUNKS,
    LOOPBACK_LISTED,
    PRIVATE_OK,
    Certificates,
    LiveServer,
    StackFactory,
    closed_port,
    post,
    raw_server,
    read_request,
)

from webhook_kit import InvalidInputError, MissingDependencyError
from webhook_kit.http_stacks import (
    NetworkStack,
    Timeouts,
    TransportError,
    TransportErrorKind,
    default_stack,
)
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
from webhook_kit.http_stacks.httpx_stack import HttpxStack
from webhook_kit.netguard import DEFAULT_POLICY, NetworkPolicy, TargetRefusedError

pytestmark = pytest.mark.anyio


# --- answers ------------------------------------------------------------------------------


async def test_returns_status_headers_and_body(
    stack: NetworkStack, live_server: LiveServer
) -> None:
    response = await post(stack, live_server.url("/echo"))
    assert response.status == 200
    assert response.body == b"echo:" + BODY
    assert response.headers["x-test"] == "yes"
    assert response.headers["content-length"] == str(len(b"echo:" + BODY))
    assert all(name == name.lower() for name in response.headers)
    assert response.headers["x-dup"] == "a, b"
    path, headers, body = live_server.recorder.requests[-1]
    assert (path, body) == ("/echo", BODY)
    assert headers["content-type"] == "application/json"
    assert headers["x-webhook-id"] == "d0c5"
    assert headers["accept-encoding"] == "identity"


async def test_a_redirect_is_returned_not_followed(
    stack: NetworkStack, live_server: LiveServer
) -> None:
    before = len(live_server.recorder.requests)
    response = await post(stack, live_server.url("/redirect"))
    assert response.status == 302
    assert response.headers["location"] == "/echo"
    assert live_server.recorder.paths()[before:] == ["/redirect"]


async def test_an_empty_answer(stack: NetworkStack, live_server: LiveServer) -> None:
    response = await post(stack, live_server.url("/empty"))
    assert (response.status, response.body) == (204, b"")


async def test_cookies_are_not_kept(stack: NetworkStack, live_server: LiveServer) -> None:
    await post(stack, live_server.url("/cookie"))
    await post(stack, live_server.url("/echo"))
    _, headers, _ = live_server.recorder.requests[-1]
    assert "cookie" not in headers


async def test_connections_are_reused(stack: NetworkStack, live_server: LiveServer) -> None:
    for _ in range(3):
        assert (await post(stack, live_server.url("/echo"))).status == 200


async def test_many_concurrent_posts(stack: NetworkStack, live_server: LiveServer) -> None:
    responses = await asyncio.gather(*(post(stack, live_server.url("/echo")) for _ in range(50)))
    assert {response.status for response in responses} == {200}


# --- the response cap ---------------------------------------------------------------------


@pytest.mark.parametrize("declared", ["0", "1"], ids=["streamed", "content-length"])
async def test_a_body_of_exactly_the_cap_is_read(
    stack: NetworkStack, live_server: LiveServer, declared: str
) -> None:
    url = live_server.url(f"/sized?n=5000&declared={declared}")
    response = await post(stack, url, max_response_bytes=5000)
    assert response.body == b"s" * 5000


@pytest.mark.parametrize("declared", ["0", "1"], ids=["streamed", "content-length"])
async def test_one_byte_over_the_cap_is_too_large(
    stack: NetworkStack, live_server: LiveServer, declared: str
) -> None:
    url = live_server.url(f"/sized?n=5001&declared={declared}")
    with pytest.raises(TransportError) as caught:
        await post(stack, url, max_response_bytes=5000)
    assert caught.value.kind is TransportErrorKind.RESPONSE_TOO_LARGE


async def test_an_endless_body_is_cut_off_at_the_cap(
    stack: NetworkStack, live_server: LiveServer
) -> None:
    with pytest.raises(TransportError) as caught:
        await post(stack, live_server.url("/huge"))
    assert caught.value.kind is TransportErrorKind.RESPONSE_TOO_LARGE
    # What the server managed to write before the connection closed is the cap plus what
    # socket buffers on both ends held: a few MiB at most, not the 64 MiB on offer.
    streamed = await asyncio.to_thread(live_server.recorder.settled_streamed)
    assert streamed < len(HUGE_CHUNK) * HUGE_CHUNKS // 4


async def test_the_cap_may_be_zero(stack: NetworkStack, live_server: LiveServer) -> None:
    assert (await post(stack, live_server.url("/empty"), max_response_bytes=0)).body == b""
    with pytest.raises(TransportError) as caught:
        await post(stack, live_server.url("/echo"), max_response_bytes=0)
    assert caught.value.kind is TransportErrorKind.RESPONSE_TOO_LARGE


async def test_a_negative_cap_is_refused_before_sending(
    stack: NetworkStack, live_server: LiveServer
) -> None:
    before = len(live_server.recorder.requests)
    with pytest.raises(InvalidInputError, match="max_response_bytes"):
        await post(stack, live_server.url("/echo"), max_response_bytes=-1)
    assert len(live_server.recorder.requests) == before


# --- timeouts -----------------------------------------------------------------------------


async def test_a_trickling_body_cannot_outlast_the_total_timeout(
    stack: NetworkStack, live_server: LiveServer
) -> None:
    # The receiver would take 20 s and then answer; a TIMEOUT means the 1.5 s deadline ended the
    # attempt first (the 60 s bound only keeps a broken stack from hanging the suite).
    with anyio.fail_after(60), pytest.raises(TransportError) as caught:
        await post(stack, live_server.url("/trickle"), timeouts=Timeouts(connect=1, total=1.5))
    assert caught.value.kind is TransportErrorKind.TIMEOUT


async def test_a_receiver_that_never_answers_times_out(stack: NetworkStack) -> None:
    async def never_answer(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # until the client gives up and closes

    async with raw_server(never_answer) as port:
        with anyio.fail_after(60), pytest.raises(TransportError) as caught:
            await post(stack, f"http://127.0.0.1:{port}/", timeouts=Timeouts(connect=1, total=1))
    assert caught.value.kind is TransportErrorKind.TIMEOUT


# --- failures below HTTP ------------------------------------------------------------------


async def test_connection_refused(stack: NetworkStack) -> None:
    with pytest.raises(TransportError) as caught:
        await post(stack, f"http://127.0.0.1:{closed_port()}/")
    assert caught.value.kind is TransportErrorKind.CONNECT


async def test_a_receiver_that_hangs_up_without_answering(stack: NetworkStack) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async with raw_server(hang_up) as port:
        with pytest.raises(TransportError) as caught:
            await post(stack, f"http://127.0.0.1:{port}/")
    assert caught.value.kind in {TransportErrorKind.CONNECTION_LOST, TransportErrorKind.PROTOCOL}


async def test_a_body_cut_short(stack: NetworkStack) -> None:
    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()
        writer.close()

    async with raw_server(cut_short) as port:
        with pytest.raises(TransportError) as caught:
            await post(stack, f"http://127.0.0.1:{port}/")
    assert caught.value.kind is TransportErrorKind.CONNECTION_LOST


async def test_an_answer_that_is_not_http(stack: NetworkStack) -> None:
    async def babble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with raw_server(babble) as port:
        with pytest.raises(TransportError) as caught:
            await post(stack, f"http://127.0.0.1:{port}/")
    assert caught.value.kind is TransportErrorKind.PROTOCOL


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "not a url", "http:///no-host", "mailto:ops@example.com"]
)
async def test_a_url_that_is_not_http_is_bad_input(stack: NetworkStack, url: str) -> None:
    with pytest.raises(InvalidInputError):
        await post(stack, url)


# --- TLS ----------------------------------------------------------------------------------


async def test_tls_verifies_the_name_in_the_url(
    make_stack: StackFactory, tls_server: LiveServer, certificates: Certificates
) -> None:
    """The stack connects to the address it checked, yet verifies the certificate of the name."""
    stack = make_stack(ssl_context=certificates.client_context())
    response = await post(stack, tls_server.url("/echo", host="localhost"))
    assert response.status == 200
    # The certificate names only "localhost": the bare address fails verification.
    with pytest.raises(TransportError) as caught:
        await post(stack, tls_server.url("/echo", host="127.0.0.1"))
    assert caught.value.kind is TransportErrorKind.TLS


async def test_an_untrusted_certificate_is_a_tls_error(
    stack: NetworkStack, tls_server: LiveServer
) -> None:
    with pytest.raises(TransportError) as caught:
        await post(stack, tls_server.url("/echo", host="localhost"))
    assert caught.value.kind is TransportErrorKind.TLS


# --- the network guard --------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "127.1", "[::ffff:127.0.0.1]"]
)
async def test_the_default_policy_refuses_loopback_and_sends_nothing(
    stack: NetworkStack, live_server: LiveServer, host: str
) -> None:
    before = len(live_server.recorder.requests)
    with pytest.raises(TargetRefusedError):
        await post(stack, live_server.url("/echo", host=host), policy=DEFAULT_POLICY)
    assert len(live_server.recorder.requests) == before


@pytest.mark.parametrize("policy", [PRIVATE_OK, LOOPBACK_LISTED], ids=["allow_private", "listed"])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_an_opted_in_policy_reaches_loopback(
    stack: NetworkStack, live_server: LiveServer, policy: NetworkPolicy, host: str
) -> None:
    response = await post(stack, live_server.url("/echo", host=host), policy=policy)
    assert response.status == 200


async def test_an_allow_list_that_misses_the_address_refuses_it(
    stack: NetworkStack, live_server: LiveServer
) -> None:
    before = len(live_server.recorder.requests)
    policy = NetworkPolicy.from_networks(["10.0.0.0/8"])
    with pytest.raises(TargetRefusedError):
        await post(stack, live_server.url("/echo"), policy=policy)
    assert len(live_server.recorder.requests) == before


async def test_a_connection_pooled_under_one_policy_is_not_reused_under_another(
    stack: NetworkStack, live_server: LiveServer
) -> None:
    url = live_server.url("/echo")
    assert (await post(stack, url, policy=PRIVATE_OK)).status == 200
    before = len(live_server.recorder.requests)
    with pytest.raises(TargetRefusedError):
        await post(stack, url, policy=DEFAULT_POLICY)
    assert len(live_server.recorder.requests) == before
    assert (await post(stack, url, policy=PRIVATE_OK)).status == 200


# --- construction, validation, the default stack -----------------------------------------


@pytest.mark.parametrize(
    ("connect", "total"),
    [(0, 1), (1, 0), (-1, 1), (1, float("inf")), (float("nan"), 1), (True, 1), ("1", 1)],
)
def test_timeouts_must_be_positive_finite_seconds(connect: Any, total: Any) -> None:
    with pytest.raises(InvalidInputError, match="Timeouts"):
        Timeouts(connect=connect, total=total)


def test_stack_names() -> None:
    assert HttpxStack().name == "httpx"
    assert AiohttpStack().name == "aiohttp"


def test_default_stack_is_aiohttp_when_installed() -> None:
    assert isinstance(default_stack(), AiohttpStack)


def test_without_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    monkeypatch.delitem(sys.modules, "webhook_kit.http_stacks._aiohttp_sessions")
    with pytest.raises(MissingDependencyError, match=r"pip install 'webhook-kit\[fast\]'"):
        AiohttpStack()
    assert isinstance(default_stack(), HttpxStack)


async def test_closing_twice_is_harmless(stack: NetworkStack, live_server: LiveServer) -> None:
    await post(stack, live_server.url("/echo"))
    await stack.aclose()
    await stack.aclose()
