"""Receiver presets for the common webhook providers: pass one as ``scheme=`` to `verify`.

Each preset knows the provider's headers, signed content and encoding, and names the header a
receiver should deduplicate on (``preset.id_header``; ``None`` where the provider puts the id in
the body only — Stripe's and Slack's event ids are the ``id``/``event_id`` fields of the JSON).
"""

from __future__ import annotations

from .schemes import HmacHeaderScheme, SignatureScheme, StandardWebhooksScheme, StripeScheme

__all__ = [
    "GITHUB",
    "PRESETS",
    "SHOPIFY",
    "SLACK",
    "STANDARD_WEBHOOKS",
    "STRIPE",
    "SVIX",
    "SignatureScheme",
]

GITHUB: SignatureScheme = HmacHeaderScheme(
    "github",
    "X-Hub-Signature-256",
    prefix="sha256=",
    id_header="X-GitHub-Delivery",
    event_header="X-GitHub-Event",
)
"""GitHub: ``X-Hub-Signature-256: sha256=<hex>`` over the body; dedup on ``X-GitHub-Delivery``."""

STRIPE: SignatureScheme = StripeScheme("stripe", "Stripe-Signature")
"""Stripe: ``Stripe-Signature: t=…,v1=…``; the ``whsec_…`` secret is used whole, as Stripe does.
Dedup on the event's ``id`` in the body."""

SHOPIFY: SignatureScheme = HmacHeaderScheme(
    "shopify",
    "X-Shopify-Hmac-Sha256",
    encoding="base64",
    id_header="X-Shopify-Webhook-Id",
    event_header="X-Shopify-Topic",
)
"""Shopify: ``X-Shopify-Hmac-Sha256: <base64>`` over the body; dedup on
``X-Shopify-Webhook-Id``."""

SLACK: SignatureScheme = HmacHeaderScheme(
    "slack",
    "X-Slack-Signature",
    prefix="v0=",
    timestamp_header="X-Slack-Request-Timestamp",
    timestamped_content="v0:{timestamp}:",
)
"""Slack: ``X-Slack-Signature: v0=<hex>`` over ``v0:{timestamp}:{body}``. Slack retries carry
``X-Slack-Retry-Num``; dedup on the body's ``event_id``."""

STANDARD_WEBHOOKS: SignatureScheme = StandardWebhooksScheme(
    "standard-webhooks",
    id_headers=("webhook-id",),
    timestamp_headers=("webhook-timestamp",),
    signature_headers=("webhook-signature",),
)
"""Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` with ``v1``
(HMAC, ``whsec_`` secret) and ``v1a`` (Ed25519, ``whpk_`` key) entries; dedup on ``webhook-id``."""

SVIX: SignatureScheme = StandardWebhooksScheme(
    "svix",
    id_headers=("svix-id", "webhook-id"),
    timestamp_headers=("svix-timestamp", "webhook-timestamp"),
    signature_headers=("svix-signature", "webhook-signature"),
)
"""Svix: Standard Webhooks on ``svix-id``, ``svix-timestamp``, ``svix-signature`` (the
``webhook-*`` names are accepted too, as Svix's libraries do); dedup on ``svix-id``."""

PRESETS: tuple[SignatureScheme, ...] = (GITHUB, STRIPE, SHOPIFY, SLACK, STANDARD_WEBHOOKS, SVIX)
"""Every preset above, in one tuple (for tests and tools that cover them all)."""
