"""An app process that sends webhooks through a SQLite queue file; worker processes deliver.

The app opens the queue once, at startup, and dispatches into it. It runs no worker: a
``webhook-kit worker`` process on the same file makes the requests.
"""

from __future__ import annotations

import os
from typing import Any

from webhook_kit import SQLiteQueue, WebhookSubscription

SUBSCRIPTION = WebhookSubscription("https://customer.example.com/hooks", "customer-secret")


def open_queue(path: str | os.PathLike[str]) -> SQLiteQueue:
    """Once per process: creates the file and its schema, or migrates an older one forward."""
    return SQLiteQueue(path)


async def order_created(queue: SQLiteQueue, order: dict[str, Any]) -> str:
    # When dispatch returns, the delivery is committed to the file: a worker in another process
    # can claim it at once, and it survives this process being killed.
    return await SUBSCRIPTION.dispatch(queue, "order.created", order)
