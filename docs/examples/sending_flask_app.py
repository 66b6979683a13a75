"""Sending webhooks from Flask: `dispatch_sync` in the view, the worker in a thread of its own.

Serve it with::

    queue = MemoryQueue()
    app = create_app(queue, os.environ["WEBHOOK_URL"], os.environ["WEBHOOK_SECRET"])
    with worker_thread(queue):
        app.run()
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import anyio.from_thread
import httpx
from flask import Flask, request
from flask.typing import ResponseReturnValue

from webhook_kit import WebhookQueue, WebhookSubscription, Worker


def create_app(queue: WebhookQueue, webhook_url: str, webhook_secret: str) -> Flask:
    subscription = WebhookSubscription(webhook_url, webhook_secret)
    app = Flask(__name__)

    @app.post("/orders")
    def create_order() -> ResponseReturnValue:
        order = request.get_json()
        # Validates, serialises and queues, then returns: no request is made here.
        delivery_id = subscription.dispatch_sync(queue, "order.created", order)
        return {"order": order, "webhook": delivery_id}, 201

    return app


@contextmanager
def worker_thread(
    queue: WebhookQueue, *, client: httpx.AsyncClient | None = None
) -> Iterator[Worker]:
    """Run a worker for ``queue`` in a thread with its own event loop, until the block ends.

    ``client`` is for tests (an in-process receiver); leave it out in production.
    """
    worker = Worker(queue)
    with anyio.from_thread.start_blocking_portal() as portal:
        handler = portal.call(partial(WebhookSubscription.register, queue, client=client))
        running = portal.start_task_soon(worker.run)
        try:
            yield worker
        finally:
            portal.call(worker.stop)
            running.result()  # attempts in flight finish first
            portal.call(handler.aclose)
