"""Testing an app's own sending code with ``fake_queue``: take the queue from a dependency.

The endpoint never builds a queue: it asks FastAPI for one (``get_queue``). In production that
is the app's `MemoryQueue`, drained by a `Worker` that runs as long as the app does. A test
overrides the dependency with the plugin's ``fake_queue`` (and the subscription with one aimed
at ``webhook_receiver``), so the very same endpoint delivers in-process, on a virtual clock,
retries included, in milliseconds.

In a project, the app and its test live in two files; they are together here so the docs show
one runnable recipe. Run the test with pytest, the anyio plugin and webhook-kit's plugin
(``pip install 'webhook-kit[test]'``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from webhook_kit import MemoryQueue, WebhookQueue, WebhookSubscription, Worker
from webhook_kit.testing import FakeQueue, MockReceiver

# --- the app ------------------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Production: one queue for the app, and a worker that runs as long as the app does."""
    queue = MemoryQueue()
    handler = await WebhookSubscription.register(queue)
    app.state.webhook_queue = queue
    worker = Worker(queue)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker.run)
        yield  # the app serves requests
        await worker.stop()  # attempts in flight finish first
    await handler.aclose()


app = FastAPI(lifespan=lifespan)


def get_queue(request: Request) -> WebhookQueue:
    """The queue webhooks are dispatched to: the app's own. Tests override this."""
    queue: WebhookQueue = request.app.state.webhook_queue
    return queue


def get_subscription() -> WebhookSubscription:
    """The customer's endpoint and secret (from your database in real life). Tests override
    this too, to aim at their receiver."""
    return WebhookSubscription(
        os.environ["ORDERS_WEBHOOK_URL"], os.environ["ORDERS_WEBHOOK_SECRET"]
    )


@app.post("/orders", status_code=201)
async def create_order(
    order: dict[str, Any],
    queue: Annotated[WebhookQueue, Depends(get_queue)],
    subscription: Annotated[WebhookSubscription, Depends(get_subscription)],
) -> dict[str, Any]:
    """Create an order and send ``order.created``: returns once the delivery is queued."""
    delivery_id = await subscription.dispatch(queue, "order.created", order)
    return {"order": order, "webhook": delivery_id}


# --- its test -----------------------------------------------------------------------------


@pytest.fixture
def shop(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver, webhook_secret: str
) -> Iterator[FastAPI]:
    """The app, sending through ``fake_queue`` to ``webhook_receiver``."""
    app.dependency_overrides[get_queue] = lambda: fake_queue
    app.dependency_overrides[get_subscription] = lambda: WebhookSubscription(
        webhook_receiver.url, webhook_secret
    )
    yield app
    app.dependency_overrides.clear()


@pytest.mark.anyio
async def test_creating_an_order_sends_order_created(
    shop: FastAPI, fake_queue: FakeQueue, webhook_receiver: MockReceiver, webhook_secret: str
) -> None:
    await WebhookSubscription.register(fake_queue)  # deliver in-process, to the test's receivers
    webhook_receiver.script([503, 200]).expect_signature(webhook_secret)

    # ASGITransport does not run the lifespan: the production queue and worker never start.
    transport = httpx.ASGITransport(app=shop)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        response = await client.post("/orders", json={"order_id": 42})
    assert response.status_code == 201
    delivery_id = response.json()["webhook"]

    await fake_queue.run_until_idle()  # the retry's backoff passes on the virtual clock

    webhook_receiver.assert_delivered(event="order.created", payload={"order_id": 42}, times=1)
    assert [d.status for d in webhook_receiver.deliveries] == [503, 200]
    assert webhook_receiver.unique_ids() == [delivery_id]
