"""An app on PostgreSQL: the order and its webhook are written in one transaction.

The webhook is inserted on the app's own psycopg connection, so it exists if and only if the
order commits: no outbox table, no webhook for an order that rolled back, and no order without
its webhook.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from webhook_kit import PostgresQueue, WebhookSubscription

SUBSCRIPTION = WebhookSubscription("https://customer.example.com/hooks", "customer-secret")


async def open_queue(conninfo: str) -> PostgresQueue:
    """Once per process, at startup."""
    queue = PostgresQueue(conninfo)
    await queue.open()
    await queue.apply_schema()  # idempotent; or `webhook-kit schema --queue URL` once, at deploy
    return queue


async def create_order(
    queue: PostgresQueue, connection: psycopg.AsyncConnection[Any], order: dict[str, Any]
) -> str:
    async with connection.transaction():
        await connection.execute("INSERT INTO orders (body) VALUES (%s)", (Jsonb(order),))
        # Joins the transaction above: committed with the order, or rolled back with it.
        return await SUBSCRIPTION.dispatch(queue, "order.created", order, connection=connection)
