"""Signed requests for a receiver's own tests, made with `webhook_kit.sign`."""

from __future__ import annotations

import time
import uuid

from webhook_kit import HEADER_EVENT, HEADER_ID, HEADER_SIGNATURE, SignatureScheme, sign


def webhook_kit_headers(body: bytes, secret: str, event: str = "order.created") -> dict[str, str]:
    """The headers of a webhook-kit delivery of ``body``, in the default signature format."""
    return {
        "Content-Type": "application/json",
        HEADER_ID: str(uuid.uuid4()),
        HEADER_EVENT: event,
        HEADER_SIGNATURE: sign(body, secret),  # "sha256=<hex>"
    }


def provider_headers(body: bytes, secret: str, scheme: SignatureScheme) -> dict[str, str]:
    """The headers a provider's sender puts on ``body``, signed now (id and timestamp included)."""
    return scheme.signature_headers(
        body,
        scheme.keys(secret),
        webhook_id=f"msg_{uuid.uuid4().hex}",
        timestamp=int(time.time()),
    )
