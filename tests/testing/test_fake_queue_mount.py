"""`FakeQueue.mount`: the test's own ASGI app as the receiver, in-process, on the virtual clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import anyio
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from webhook_kit import (
    InvalidInputError,
    RetryPolicy,
    VerificationError,
    WebhookSubscription,
    verification_error_response,
    verify_signature,
)
from webhook_kit.testing import FakeQueue, UnroutableTargetError

pytestmark = pytest.mark.anyio

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST = RetryPolicy(base_delay=1, factor=2, jitter=0)


class Shop:
    """A receiver's state: ids seen per request, work done per id, and an outage of N answers.

    The work is done (and its id remembered) before the outage's 500, as when a receiver
    commits and then fails to answer: the retries must find the id and not do the work again.
    """

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[str] = []
        self.processed: Counter[str] = Counter()

    def handle(self, delivery_id: str) -> int:
        self.seen.append(delivery_id)
        if delivery_id not in self.processed:  # the dedup under test
            self.processed[delivery_id] += 1
        if self.failures:
            self.failures -= 1
            return 500
        return 200


def starlette_app(shop: Shop) -> Starlette:
    async def receive(request: StarletteRequest) -> StarletteJSONResponse:
        webhook = await verify_signature(request, SECRET)
        status = shop.handle(webhook.id or "")
        return StarletteJSONResponse({"id": webhook.id}, status_code=status)

    return Starlette(
        routes=[Route("/webhooks/orders", receive, methods=["POST"])],
        exception_handlers={VerificationError: verification_error_response},
    )


def fastapi_app(shop: Shop) -> FastAPI:
    app = FastAPI()
    app.add_exception_handler(VerificationError, verification_error_response)

    @app.post("/webhooks/orders")
    async def receive(request: Request) -> JSONResponse:
        webhook = await verify_signature(request, SECRET)
        return JSONResponse({"id": webhook.id}, status_code=shop.handle(webhook.id or ""))

    return app


APPS = [pytest.param(starlette_app, id="starlette"), pytest.param(fastapi_app, id="fastapi")]


async def dispatch(queue: FakeQueue, url: str, secret: str = SECRET) -> str:
    await WebhookSubscription.register(queue)
    sub = WebhookSubscription(url, secret).retry_policy(FAST)
    return await sub.dispatch(queue, "order.created", {"order_id": 42})


@pytest.mark.parametrize("make_app", APPS)
async def test_retries_reach_the_app_which_verifies_and_dedups(
    make_app: Callable[[Shop], ASGIApp],
) -> None:
    queue = FakeQueue()
    shop = Shop(failures=2)
    queue.mount("https://shop.example/webhooks", make_app(shop))
    delivery_id = await dispatch(queue, "https://shop.example/webhooks/orders")
    await queue.run_until_idle()
    assert shop.seen == [delivery_id] * 3
    assert shop.processed == {delivery_id: 1}  # dedup held through the retries
    assert [(a.status, a.outcome) for a in queue.attempts] == [
        (500, "retry"),
        (500, "retry"),
        (200, "delivered"),
    ]
    assert [a.started_at - queue.attempts[0].started_at for a in queue.attempts] == [0, 1, 3]
    assert queue.dead_letters == []


@pytest.mark.parametrize("make_app", APPS)
async def test_the_apps_signature_check_refuses_a_wrong_secret(
    make_app: Callable[[Shop], ASGIApp],
) -> None:
    queue = FakeQueue()
    shop = Shop(failures=0)
    queue.mount("https://shop.example", make_app(shop))
    await dispatch(queue, "https://shop.example/webhooks/orders", secret="not-the-secret")
    await queue.run_until_idle()
    assert shop.seen == []  # refused before the handler's work
    (dead,) = queue.dead_letters
    assert dead.last_status == 400  # verification_error_response: fatal, no retries


class PathRecorder:
    """An ASGI app that keeps each request's path and query, and answers 204."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests: list[tuple[str, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.requests.append((scope["path"], scope["query_string"]))
        await receive()
        await Response(status_code=204)(scope, receive, send)


async def test_the_longest_prefix_wins_and_the_path_is_passed_whole() -> None:
    queue = FakeQueue()
    host, webhooks = PathRecorder("host"), PathRecorder("webhooks")
    queue.mount("https://Shop.Example:443/", host)  # normalised to https://shop.example
    queue.mount("https://shop.example/webhooks/", webhooks)
    await WebhookSubscription.register(queue)
    for url in (
        "https://shop.example/webhooks",
        "https://SHOP.example/webhooks/orders?tenant=7",
        "https://shop.example/webhooksfoo",  # not under /webhooks: a segment boundary
        "https://shop.example/",
    ):
        await WebhookSubscription(url, SECRET).dispatch(queue, "ping", {})
        await queue.run_until_idle()
    assert webhooks.requests == [("/webhooks", b""), ("/webhooks/orders", b"tenant=7")]
    assert host.requests == [("/webhooksfoo", b""), ("/", b"")]
    assert [m.prefix for m in queue.router.mounts] == [
        "https://shop.example/webhooks",
        "https://shop.example",
    ]


async def test_other_schemes_ports_and_hosts_are_not_served() -> None:
    queue = FakeQueue()
    app = PathRecorder("app")
    queue.mount("https://shop.example/webhooks", app)
    await WebhookSubscription.register(queue)
    for url in (
        "http://shop.example/webhooks",
        "https://shop.example:8443/webhooks",
        "https://other.example/webhooks",
    ):
        await WebhookSubscription(url, SECRET).dispatch(queue, "ping", {})
    await queue.run_until_idle()
    assert app.requests == []
    assert len(queue.dead_letters) == 3
    assert "fake_queue.mount(url_prefix, app)" in queue.dead_letters[0].reason
    assert "https://shop.example/webhooks" in queue.dead_letters[0].reason  # known targets


@pytest.mark.parametrize(
    ("prefix", "complaint"),
    [
        ("shop.example/webhooks", "a full URL with http:// or https://"),
        ("ftp://shop.example", "a full URL with http:// or https://"),
        ("https:///webhooks", "a full URL with http:// or https://"),
        ("https://user:pw@shop.example", "credentials"),
        ("https://shop.example/webhooks?token=abc", "a query or a fragment"),
        ("https://shop.example/webhooks#top", "a query or a fragment"),
        ("https://shop.example:port/", "not a valid URL"),
    ],
)
def test_a_bad_prefix_is_refused_at_the_call(prefix: str, complaint: str) -> None:
    queue = FakeQueue()
    with pytest.raises(InvalidInputError, match=complaint) as caught:
        queue.mount(prefix, PathRecorder("app"))
    assert "abc" not in str(caught.value)
    assert "pw" not in str(caught.value)
    assert queue.router.mounts == []


def test_the_same_prefix_twice_and_a_non_app_are_refused() -> None:
    queue = FakeQueue()
    queue.mount("https://shop.example/webhooks", PathRecorder("first"))
    with pytest.raises(InvalidInputError, match=r"mounted at https://shop\.example/webhooks"):
        queue.mount("https://SHOP.example/webhooks/", PathRecorder("second"))
    with pytest.raises(InvalidInputError, match="needs an ASGI app"):
        queue.mount("https://shop.example/other", "not an app")  # type: ignore[arg-type]
    assert len(queue.router.mounts) == 1


async def test_an_app_that_raises_answers_500_and_is_kept_for_the_report() -> None:
    queue = FakeQueue()
    calls: list[int] = []

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(1)
        raise LookupError("no such order table")

    queue.mount("https://shop.example", broken)
    delivery_id = await dispatch(queue, "https://shop.example/hooks")
    await queue.run_until_idle()
    assert len(calls) == 8  # a 500: retried like any server error, up to max_attempts
    assert {a.status for a in queue.attempts} == {500}
    assert len(queue.router.app_errors) == 8
    first = queue.router.app_errors[0]
    assert "LookupError: no such order table" in first
    assert delivery_id in first
    assert SECRET not in first


async def test_an_app_slower_than_the_timeout_is_a_timeout() -> None:
    queue = FakeQueue()
    never = anyio.Event()

    async def stuck(scope: Scope, receive: Receive, send: Send) -> None:
        await never.wait()  # never answers

    queue.mount("https://shop.example", stuck)
    await WebhookSubscription.register(queue)
    sub = (
        WebhookSubscription("https://shop.example/hooks", SECRET)
        .retry_policy(RetryPolicy(max_attempts=1))
        .timeout(0.2)
    )
    await sub.dispatch(queue, "ping", {})
    await queue.run_until_idle()
    (attempt,) = queue.attempts
    assert attempt.error is not None
    assert "did not answer within 0.2s" in attempt.error
    assert queue.dead_letters[0].last_error == attempt.error
    assert queue.router.app_errors == []


async def test_mounted_apps_and_receivers_share_one_queue() -> None:
    queue = FakeQueue()
    receiver = queue.receiver()
    app = PathRecorder("app")
    queue.mount("https://shop.example", app)
    await WebhookSubscription.register(queue)
    await WebhookSubscription(receiver.url, SECRET).dispatch(queue, "ping", {})
    await WebhookSubscription("https://shop.example/x", SECRET).dispatch(queue, "ping", {})
    await queue.run_until_idle()
    assert len(receiver.deliveries) == 1
    assert app.requests == [("/x", b"")]
    assert queue.router.known() == ["https://shop.example", receiver.url]


async def test_the_router_serves_a_mounted_app_to_an_httpx_client() -> None:
    import httpx

    queue = FakeQueue()
    app = PathRecorder("app")
    queue.mount("https://shop.example/webhooks", app)
    async with httpx.AsyncClient(transport=queue.router) as client:
        response = await client.post("https://shop.example/webhooks/a?b=1", content=b"{}")
        with pytest.raises(UnroutableTargetError):
            await client.post("https://shop.example/elsewhere", content=b"{}")
    assert response.status_code == 204
    assert app.requests == [("/webhooks/a", b"b=1")]
