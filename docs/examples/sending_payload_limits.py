"""Payloads `dispatch` refuses: keys that are not strings, and bodies over the cap."""

from __future__ import annotations

import logging
from typing import Any

from webhook_kit import InvalidPayloadError, WebhookSubscription
from webhook_kit.queues import DeliveryStore

EXPORT_LIMIT = 20 * 1024 * 1024
"""The export receivers verify with ``verify(..., max_body_bytes=EXPORT_LIMIT)``."""

log = logging.getLogger("app.webhooks")


def export_subscription(url: str, secret: str) -> WebhookSubscription:
    # Raise the cap (5 MiB by default) only together with the receivers' own body limit.
    return WebhookSubscription(url, secret).max_payload_bytes(EXPORT_LIMIT)


async def send_stock_levels(
    subscription: WebhookSubscription, queue: DeliveryStore, levels: dict[int, int]
) -> str:
    # Product ids are ints in the database: JSON keys are strings, so say which string.
    payload = {"levels": {str(product_id): count for product_id, count in levels.items()}}
    return await subscription.dispatch(queue, "stock.changed", payload)


async def dispatch_or_log(
    subscription: WebhookSubscription, queue: DeliveryStore, event: str, payload: Any
) -> str | None:
    """Dispatch, or log why the payload was refused (nothing was queued then)."""
    try:
        return await subscription.dispatch(queue, event, payload)
    except InvalidPayloadError as error:
        log.warning("%s not sent: %s", event, error)
        return None
