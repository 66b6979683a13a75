"""Django (its psycopg 3 backend): an order and its webhook are committed together, or neither is.

The webhook is written on Django's own database connection, inside the view's
``transaction.atomic()`` block. If the block raises, PostgreSQL rolls back the order and the
webhook with it: no webhook announces an order that does not exist, and no order misses its
webhook. The settings name the queue's database: ``WEBHOOK_KIT_QUEUE = "postgresql://…"``
(the database of ``DATABASES["default"]``, so that one transaction covers both).
"""

from __future__ import annotations

import functools
import json

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_POST

from webhook_kit import PostgresQueue, WebhookSubscription

SUBSCRIPTION = WebhookSubscription("https://customer.example.com/hooks", "customer-secret")


@functools.cache
def webhook_queue() -> PostgresQueue:
    """One queue per process. Dispatching on Django's connection opens no pool of its own."""
    return PostgresQueue(settings.WEBHOOK_KIT_QUEUE)


class PaymentDeclined(Exception):
    pass


def charge(order: dict[str, object]) -> None:
    """Stands in for your payment provider: it runs after the webhook was dispatched."""
    if order.get("card") == "declined":
        raise PaymentDeclined


@require_POST
def create_order(request: HttpRequest) -> HttpResponse:
    order = json.loads(request.body)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO shop_order (body) VALUES (%s) RETURNING id", [json.dumps(order)]
                )
                (order_id,) = cursor.fetchone()
            SUBSCRIPTION.dispatch_sync(
                webhook_queue(),
                "order.created",
                {"id": order_id, **order},
                # The psycopg connection under Django's: the webhook joins this transaction.
                connection=connection.connection,
            )
            charge(order)  # raises: the order and its webhook roll back together
    except PaymentDeclined:
        return JsonResponse({"error": "payment declined"}, status=402)
    return JsonResponse({"id": order_id}, status=201)


urlpatterns = [path("orders/", create_order)]
