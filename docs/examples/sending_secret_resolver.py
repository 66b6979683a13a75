"""Workers in another process than `dispatch`: find each delivery's secret by its subscription.

Only timestamped formats (Standard Webhooks, Stripe) need it: they are signed at each attempt.
Body-only formats are signed once, at dispatch, and the job carries the signature.
"""

from __future__ import annotations

from webhook_kit import (
    DeliveryHandler,
    SignatureFormat,
    WebhookEvent,
    WebhookQueue,
    WebhookSubscription,
)

ENDPOINT_SECRETS: dict[str, str] = {}
"""Stands in for your database: the secret of each subscription, by subscription id."""


def subscription_for(subscription_id: str, url: str) -> WebhookSubscription:
    # subscription_id is stored with every delivery: it is how a worker finds the secret.
    secret = ENDPOINT_SECRETS[subscription_id]
    return WebhookSubscription(url, secret, subscription_id=subscription_id).signature_format(
        SignatureFormat.STANDARD_WEBHOOKS
    )


async def secret_for(event: WebhookEvent) -> str | None:
    """The secret to sign ``event`` with; ``None`` dead-letters it (no secret, no delivery)."""
    if event.subscription_id is None:
        return None
    return ENDPOINT_SECRETS.get(event.subscription_id)  # e.g. `await db.fetch_secret(...)`


async def start_delivering(queue: WebhookQueue) -> DeliveryHandler:
    """What the worker process runs once, before its `Worker`."""
    return await WebhookSubscription.register(queue, secrets=secret_for)
