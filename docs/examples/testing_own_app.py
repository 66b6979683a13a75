"""Your own receiver under fake_queue: its signature check and its dedup, through the retries.

``fake_queue.mount(url_prefix, app)`` hands every delivery under the prefix to your ASGI app,
in-process, on the fake queue's virtual clock. The app below stands in for yours: it verifies
with ``verify_signature``, does the work once per ``X-Webhook-Id``, and is told to fail twice
after doing it, as a receiver does when it commits and then crashes before it answers.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from webhook_kit import (
    RetryPolicy,
    VerificationError,
    WebhookSubscription,
    verification_error_response,
    verify_signature,
)
from webhook_kit.testing import FakeQueue

pytestmark = pytest.mark.anyio

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Orders:
    """The receiver's side effects; in your app, a database."""

    def __init__(self) -> None:
        self.seen: list[str] = []  # every request's delivery id, repeats included
        self.processed: list[str] = []  # the ids whose work was done
        self.crash_after_work = 0  # answer 500 this many times, after the work


def create_app(orders: Orders) -> Starlette:
    async def order_webhook(request: Request) -> JSONResponse:
        webhook = await verify_signature(request, SECRET)  # 400 unless signed with SECRET
        assert webhook.id is not None
        orders.seen.append(webhook.id)
        if webhook.id not in orders.processed:  # dedup on X-Webhook-Id
            orders.processed.append(webhook.id)
        if orders.crash_after_work:
            orders.crash_after_work -= 1
            return JSONResponse({"error": "crashed"}, status_code=500)
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/webhooks/orders", order_webhook, methods=["POST"])],
        exception_handlers={VerificationError: verification_error_response},
    )


async def test_retries_reach_my_app_and_its_dedup_holds(fake_queue: FakeQueue) -> None:
    orders = Orders()
    orders.crash_after_work = 2
    fake_queue.mount("https://shop.example/webhooks", create_app(orders))
    await WebhookSubscription.register(fake_queue)
    sub = WebhookSubscription("https://shop.example/webhooks/orders", SECRET).retry_policy(
        RetryPolicy(base_delay=60, factor=2, jitter=0)
    )
    delivery_id = await sub.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    assert orders.seen == [delivery_id] * 3  # the first attempt and two retries
    assert orders.processed == [delivery_id]  # the work was done once
    assert [attempt.status for attempt in fake_queue.attempts] == [500, 500, 200]
    assert fake_queue.clock.now() - fake_queue.attempts[0].started_at == 180  # 60 s + 120 s
    assert fake_queue.dead_letters == []


async def test_my_app_refuses_a_wrong_secret(fake_queue: FakeQueue) -> None:
    orders = Orders()
    fake_queue.mount("https://shop.example/webhooks", create_app(orders))
    await WebhookSubscription.register(fake_queue)
    sub = WebhookSubscription("https://shop.example/webhooks/orders", "not-the-secret")
    await sub.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    assert orders.seen == []
    [dead] = fake_queue.dead_letters
    assert dead.last_status == 400  # a 4xx is final: no retries
