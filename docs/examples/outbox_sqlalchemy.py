"""SQLAlchemy 2 (its psycopg 3 dialect): an order and its webhook commit together, or neither.

The webhook is written on the psycopg connection under SQLAlchemy's, inside the same
``engine.begin()`` block as the order, sync or async. If the block raises, the order and the
webhook roll back together. The engine's URL is ``postgresql+psycopg://…``; the queue's is the
same database as ``postgresql://…``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from webhook_kit import PostgresQueue, WebhookSubscription

SUBSCRIPTION = WebhookSubscription("https://customer.example.com/hooks", "customer-secret")

metadata = MetaData()
orders = Table(
    "shop_order",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", JSON, nullable=False),
)


class PaymentDeclined(Exception):
    pass


def charge(order: dict[str, Any]) -> None:
    """Stands in for your payment provider: it runs after the webhook was dispatched."""
    if order.get("card") == "declined":
        raise PaymentDeclined


def create_order(engine: Engine, queue: PostgresQueue, order: dict[str, Any]) -> str:
    """Sync: a Flask view, a script, a Celery task."""
    with engine.begin() as conn:
        order_id = conn.execute(insert(orders).values(body=order).returning(orders.c.id))
        delivery_id = SUBSCRIPTION.dispatch_sync(
            queue,
            "order.created",
            {"id": order_id.scalar_one(), **order},
            connection=conn.connection.driver_connection,  # psycopg's, under SQLAlchemy's
        )
        charge(order)  # raises: the order and its webhook roll back together
    return delivery_id


async def create_order_async(
    engine: AsyncEngine, queue: PostgresQueue, order: dict[str, Any]
) -> str:
    """Async: a FastAPI or Starlette endpoint."""
    async with engine.begin() as conn:
        order_id = await conn.execute(insert(orders).values(body=order).returning(orders.c.id))
        raw = await conn.get_raw_connection()
        delivery_id = await SUBSCRIPTION.dispatch(
            queue,
            "order.created",
            {"id": order_id.scalar_one(), **order},
            connection=raw.driver_connection,  # psycopg's AsyncConnection
        )
        charge(order)
    return delivery_id
