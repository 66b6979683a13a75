"""`InProcessStack` and `ReceiverRouter`: POSTs handed straight to receivers' ASGI apps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from webhook_kit import TargetRefusedError, TransportError, TransportErrorKind
from webhook_kit.http_stacks import Timeouts
from webhook_kit.netguard import DEFAULT_POLICY
from webhook_kit.testing import MockReceiver, ReceiverRouter, Reply, UnroutableTargetError
from webhook_kit.testing.in_process_stack import InProcessStack

pytestmark = pytest.mark.anyio

TIMEOUTS = Timeouts(connect=5, total=30)


def stack_with(*receivers: MockReceiver) -> InProcessStack:
    router = ReceiverRouter()
    for receiver in receivers:
        router.add(receiver)
    return InProcessStack(router)


class ScopeRecorder:
    """An ASGI app that keeps each request's scope and body, and answers 204."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        message = await receive()
        self.bodies.append(message["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_status_headers_and_body_come_back() -> None:
    receiver = MockReceiver().script(
        [Reply(429, headers={"Retry-After": "120", "X-Trace": "abc"}, body="slow down")]
    )
    stack = stack_with(receiver)
    response = await stack.post(
        receiver.url,
        b'{"a":1}',
        {"Content-Type": "application/json", "X-Webhook-Id": "id-1"},
        timeouts=TIMEOUTS,
        policy=DEFAULT_POLICY,
    )
    assert response.status == 429
    assert response.headers["retry-after"] == "120"  # names in lower case
    assert response.headers["x-trace"] == "abc"
    assert response.body == b"slow down"
    (delivery,) = receiver.deliveries
    assert (delivery.id, delivery.body, delivery.method) == ("id-1", b'{"a":1}', "POST")
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["content-length"] == "7"
    assert delivery.headers["host"] == receiver.host
    await stack.aclose()


async def test_a_response_over_the_cap_is_a_transport_error() -> None:
    receiver = MockReceiver().script([Reply(200, body=b"x" * 100)])
    stack = stack_with(receiver)
    at_cap = await stack.post(
        receiver.url, b"{}", {}, timeouts=TIMEOUTS, policy=DEFAULT_POLICY, max_response_bytes=100
    )
    assert at_cap.body == b"x" * 100
    with pytest.raises(TransportError) as raised:
        await stack.post(
            receiver.url,
            b"{}",
            {},
            timeouts=TIMEOUTS,
            policy=DEFAULT_POLICY,
            max_response_bytes=99,
        )
    assert raised.value.kind is TransportErrorKind.RESPONSE_TOO_LARGE
    assert "99 bytes" in str(raised.value)


async def test_an_app_that_answers_nothing_is_a_lost_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    receiver = MockReceiver()
    monkeypatch.setattr(receiver, "app", silent)
    stack = stack_with(receiver)
    with pytest.raises(TransportError) as raised:
        await stack.post(receiver.url, b"{}", {}, timeouts=TIMEOUTS, policy=DEFAULT_POLICY)
    assert raised.value.kind is TransportErrorKind.CONNECTION_LOST


async def test_the_request_reaches_the_app_as_a_server_would_send_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = ScopeRecorder()
    receiver = MockReceiver()
    monkeypatch.setattr(receiver, "app", recorder)
    stack = stack_with(receiver)
    url = f"http://{receiver.host}/hooks/orders?tenant=acme&x=1"
    response = await stack.post(
        url, b"payload", {"X-Webhook-Id": "q"}, timeouts=TIMEOUTS, policy=DEFAULT_POLICY
    )
    assert response.status == 204
    (scope,) = recorder.scopes
    assert scope["type"] == "http"
    assert scope["method"] == "POST"
    assert scope["path"] == "/hooks/orders"
    assert scope["query_string"] == b"tenant=acme&x=1"
    headers = dict(scope["headers"])
    assert headers[b"x-webhook-id"] == b"q"
    assert headers[b"host"] == receiver.host.encode()
    assert recorder.bodies == [b"payload"]


async def test_a_url_with_no_path_reaches_the_app_at_slash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = ScopeRecorder()
    receiver = MockReceiver()
    monkeypatch.setattr(receiver, "app", recorder)
    await stack_with(receiver).post(
        f"http://{receiver.host}", b"", {}, timeouts=TIMEOUTS, policy=DEFAULT_POLICY
    )
    assert recorder.scopes[0]["path"] == "/"


async def test_a_percent_encoded_path_reaches_the_app_decoded_as_asgi_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Was a bug: InProcessStack puts the still-encoded path in scope["path"] ("/hooks/a%20b");
    # the ASGI spec (and uvicorn, and httpx.ASGITransport) give the decoded "/hooks/a b" and
    # keep the encoded form in raw_path. A per-path script then matches on a real socket
    # but not under fake_queue.
    recorder = ScopeRecorder()
    receiver = MockReceiver()
    monkeypatch.setattr(receiver, "app", recorder)
    await stack_with(receiver).post(
        f"http://{receiver.host}/hooks/a%20b", b"", {}, timeouts=TIMEOUTS, policy=DEFAULT_POLICY
    )
    assert recorder.scopes[0]["path"] == "/hooks/a b"
    assert recorder.scopes[0]["raw_path"] == b"/hooks/a%20b"


async def test_a_per_path_script_matches_the_same_path_in_process_and_through_httpx() -> None:
    # The same bug seen from MockReceiver: through httpx (the router's transport) the
    # per-path script answers; through InProcessStack (what fake_queue uses) it does not.
    receiver = MockReceiver().script([201], path="/hooks/a b")
    url = f"http://{receiver.host}/hooks/a%20b"
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        assert (await client.post(url, content=b"{}")).status_code == 201
    response = await stack_with(receiver).post(
        url, b"{}", {}, timeouts=TIMEOUTS, policy=DEFAULT_POLICY
    )
    assert response.status == 201


async def test_an_unknown_host_is_refused_and_remembered_without_its_query() -> None:
    known = MockReceiver(name="known")
    stack = stack_with(known)
    with pytest.raises(UnroutableTargetError) as raised:
        await stack.post(
            "https://elsewhere.example/hooks?token=s3cret",
            b"{}",
            {},
            timeouts=TIMEOUTS,
            policy=DEFAULT_POLICY,
        )
    assert isinstance(raised.value, TargetRefusedError)  # fatal for a delivery: no retries
    message = str(raised.value)
    assert message.startswith("https://elsewhere.example/hooks is not a receiver of this test")
    assert "Known receivers: http://known.webhook-kit.test/hooks." in message
    assert "s3cret" not in message
    assert raised.value.host == "elsewhere.example"
    assert stack.router.refused == ["https://elsewhere.example/hooks"]
    known.assert_no_deliveries()


async def test_the_router_is_an_httpx_transport_that_refuses_unknown_hosts() -> None:
    receiver = MockReceiver(name="via-httpx").script([202])
    router = ReceiverRouter()
    assert router.add(receiver) is receiver
    async with httpx.AsyncClient(transport=router) as client:
        response = await client.post(receiver.url, content=b"{}")
        assert response.status_code == 202
        with pytest.raises(UnroutableTargetError, match="Known receivers: http://via-httpx"):
            await client.post("http://other.webhook-kit.test/hooks?k=v", content=b"{}")
    assert router.refused == ["http://other.webhook-kit.test/hooks"]
    assert len(receiver.deliveries) == 1


async def test_a_lifespan_scope_is_ignored() -> None:
    receiver = MockReceiver()

    async def receive() -> dict[str, Any]:
        raise AssertionError("not read")

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent")

    await receiver.app({"type": "lifespan"}, receive, send)
    receiver.assert_no_deliveries()
