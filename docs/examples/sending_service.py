"""A Starlette app that sends webhooks, with a worker that runs as long as the app does.

FastAPI takes the same lifespan: ``FastAPI(lifespan=lifespan)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from webhook_kit import MemoryQueue, WebhookSubscription, Worker


def create_app(
    webhook_url: str, webhook_secret: str, *, client: httpx.AsyncClient | None = None
) -> Starlette:
    """The shop: ``POST /orders`` creates an order and sends an ``order.created`` webhook.

    ``client`` is for tests (an in-process receiver); leave it out in production.
    """
    queue = MemoryQueue()
    subscription = WebhookSubscription(webhook_url, webhook_secret)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        handler = await WebhookSubscription.register(queue, client=client)
        worker = Worker(queue)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            yield  # the app serves requests
            # Shutting down: stop claiming; attempts in flight finish, then run() returns.
            await worker.stop()
        await handler.aclose()

    async def create_order(request: Request) -> JSONResponse:
        order = await request.json()
        # Returns once the delivery is queued; the worker makes the request.
        delivery_id = await subscription.dispatch(queue, "order.created", order)
        return JSONResponse({"order": order, "webhook": delivery_id}, status_code=201)

    app = Starlette(routes=[Route("/orders", create_order, methods=["POST"])], lifespan=lifespan)
    app.state.webhook_queue = queue
    return app
