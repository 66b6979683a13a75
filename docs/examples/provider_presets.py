"""Verifying providers' webhooks with the presets in `webhook_kit.providers` (any framework)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from webhook_kit import providers, verify

GITHUB_MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub sends payloads of up to 25 MB; `verify` refuses more than 5 MiB unless told."""


class ProviderEvent(NamedTuple):
    dedup_key: str
    """Unique per delivery: store it, and skip a delivery whose key is already stored."""
    event: str
    payload: Any


def github(body: bytes, headers: Mapping[str, str], secret: str) -> ProviderEvent:
    webhook = verify(
        body, headers, secret, scheme=providers.GITHUB, max_body_bytes=GITHUB_MAX_BODY_BYTES
    )
    # webhook.id is X-GitHub-Delivery, webhook.event is X-GitHub-Event.
    return ProviderEvent(f"github:{webhook.id}", webhook.event or "", webhook.json())


def stripe(body: bytes, headers: Mapping[str, str], secret: str) -> ProviderEvent:
    # secret: the endpoint's signing secret exactly as Stripe shows it, "whsec_…" included.
    webhook = verify(body, headers, secret, scheme=providers.STRIPE)
    event = webhook.json()
    # Stripe sends no id header: the event's id is in the body.
    return ProviderEvent(f"stripe:{event['id']}", event["type"], event)


def shopify(body: bytes, headers: Mapping[str, str], secret: str) -> ProviderEvent:
    webhook = verify(body, headers, secret, scheme=providers.SHOPIFY)
    # webhook.id is X-Shopify-Webhook-Id, webhook.event is X-Shopify-Topic.
    return ProviderEvent(f"shopify:{webhook.id}", webhook.event or "", webhook.json())


def slack(body: bytes, headers: Mapping[str, str], secret: str) -> ProviderEvent:
    webhook = verify(body, headers, secret, scheme=providers.SLACK)
    callback = webhook.json()  # an Events API callback: the id is in the body
    return ProviderEvent(f"slack:{callback['event_id']}", callback["event"]["type"], callback)


def svix(body: bytes, headers: Mapping[str, str], secret: str) -> ProviderEvent:
    # secret: "whsec_…" from the Svix dashboard; the base64 after the prefix is the key.
    webhook = verify(body, headers, secret, scheme=providers.SVIX)
    message = webhook.json()
    # webhook.id is svix-id (or webhook-id).
    return ProviderEvent(f"svix:{webhook.id}", message.get("type", ""), message)
