"""A serverless receiver (an AWS Lambda function behind an HTTP API, say).

Importing ``verify`` loads only what verifying needs, so a cold start does not pay for the
sending side (httpx, the queues, the CLI). The verifier is built once, per warm instance.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from webhook_kit import VerificationError, WebhookVerifier, providers

verifier = WebhookVerifier(
    os.environ.get("WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    scheme=providers.STANDARD_WEBHOOKS,
)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Verify the request in ``event`` (API Gateway's HTTP API format) and answer it."""
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    try:
        webhook = verifier.verify(body, event.get("headers") or {})
    except VerificationError as exc:
        return {"statusCode": 400, "body": exc.reason.value}
    # ... hand webhook.json() to your code, deduplicating on webhook.id ...
    return {"statusCode": 200, "body": webhook.id}
