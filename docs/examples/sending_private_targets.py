"""Receivers on private addresses: opt in per subscription, as narrowly as you can."""

from __future__ import annotations

from webhook_kit import WebhookSubscription

INTERNAL_NETWORKS = ["10.20.0.0/16", "fd12:3456:789a::/48"]
"""Where your own services live. Everything else non-public stays refused."""


def internal_subscription(url: str, secret: str) -> WebhookSubscription:
    """A subscription of one of your services, e.g. ``http://billing.internal:8080/hooks``."""
    return WebhookSubscription(url, secret).allow_private_targets(INTERNAL_NETWORKS)


def development_subscription(url: str, secret: str) -> WebhookSubscription:
    """A receiver on your machine, e.g. ``http://localhost:8000/hooks``: never in production."""
    return WebhookSubscription(url, secret).allow_private_targets(True)
