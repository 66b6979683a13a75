"""`verify()` needs the raw body, the headers and the secret: nothing from a framework."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from webhook_kit import VerificationError, verify

logger = logging.getLogger(__name__)


def handle_webhook(
    body: bytes, headers: Mapping[str, str], secret: str
) -> tuple[int, dict[str, Any]]:
    """Verify one request; return the HTTP status and the JSON to answer with."""
    try:
        webhook = verify(body, headers, secret)
    except VerificationError as exc:
        # exc.reason is a short code (a VerificationFailure): fine to log and to send back.
        # The message gives details; neither contains the secret or the expected signature.
        logger.warning("rejected webhook: %s (%s)", exc.reason.value, exc)
        return 400, {"error": exc.reason.value}
    payload = webhook.json()  # parse only what verified, from the exact bytes that verified
    return 200, {"id": webhook.id, "event": webhook.event, "payload": payload}
