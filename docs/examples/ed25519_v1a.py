"""Verifying Standard Webhooks signed with Ed25519 (``v1a``).

Needs the extra: ``pip install 'webhook-kit[ed25519]'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook_kit import WebhookVerifier, providers

SENDER_PUBLIC_KEY = "whpk_iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="
"""The sender's Ed25519 public key: it verifies but cannot sign, so it need not be secret."""

verifier = WebhookVerifier(SENDER_PUBLIC_KEY, scheme=providers.STANDARD_WEBHOOKS)


def receive(body: bytes, headers: Mapping[str, str]) -> Any:
    """Return the payload of a delivery carrying a valid ``v1a`` signature."""
    webhook = verifier.verify(body, headers)  # raises VerificationError otherwise
    return webhook.json()
