"""Verifying webhooks that were stored on arrival and are processed later.

Signed timestamps are checked against ``now``: pass the time the request arrived, or a
backlog older than the tolerance would fail with ``timestamp_too_old``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from webhook_kit import VerificationError, providers, verify

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredDelivery:
    """A request as the web tier stored it, untouched."""

    body: bytes
    headers: dict[str, str]
    received_at: float
    """Epoch seconds when the request arrived."""


def process(delivery: StoredDelivery, secret: str) -> Any | None:
    """Return the payload of a stored Standard Webhooks delivery, or ``None`` if it is forged."""
    try:
        webhook = verify(
            delivery.body,
            delivery.headers,
            secret,  # "whsec_…": Standard Webhooks decodes the base64 after the prefix
            scheme=providers.STANDARD_WEBHOOKS,
            now=delivery.received_at,
            tolerance=300,  # the default: five minutes either way
        )
    except VerificationError as exc:
        logger.warning("dropped stored webhook: %s", exc.reason.value)
        return None
    return webhook.json()
