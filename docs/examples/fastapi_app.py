"""Receiving webhook-kit webhooks in FastAPI: a `WebhookVerifier` dependency.

Serve it with ``app = create_app(os.environ["WEBHOOK_KIT_SECRET"])``.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations at
# runtime, and the dependency in them is a local variable of `create_app`.

from typing import Annotated, Any

from fastapi import Depends, FastAPI

from webhook_kit import (
    VerificationError,
    VerifiedWebhook,
    WebhookVerifier,
    verification_error_response,
)

received: list[Any] = []
"""The payloads handled so far: stands in for your real work (a job queue, a database)."""


def create_app(secret: str) -> FastAPI:
    # The secret is decoded once, here: a bad one fails at startup, not on the first webhook.
    verifier = WebhookVerifier(secret)
    # In production, a unique constraint in your database: ids must survive a restart.
    handled_ids: set[str] = set()

    app = FastAPI()
    # A failed verification becomes 400 {"error": "<reason>"} instead of a 500.
    app.add_exception_handler(VerificationError, verification_error_response)

    @app.post("/webhooks")
    async def receive(webhook: Annotated[VerifiedWebhook, Depends(verifier)]) -> dict[str, str]:
        # --8<-- [start:dedup]
        if webhook.id is not None and webhook.id in handled_ids:
            # A retry of a delivery already handled: answer 2xx so the sender stops.
            return {"status": "duplicate"}
        received.append(webhook.json())
        if webhook.id is not None:
            handled_ids.add(webhook.id)  # only once the work is done
        # --8<-- [end:dedup]
        return {"status": "processed"}

    return app
