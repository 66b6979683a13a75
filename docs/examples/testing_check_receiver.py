"""Checking your own receiver: what a retrying or hostile sender does to it, in one call."""

# No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations at
# runtime, and the dependency in them is a local variable of `create_app`.

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI

from webhook_kit import (
    SignatureFormat,
    VerificationError,
    VerifiedWebhook,
    WebhookVerifier,
    verification_error_response,
)
from webhook_kit.testing import check_receiver

pytestmark = pytest.mark.anyio

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SCHEME = SignatureFormat.STANDARD_WEBHOOKS


def create_app(secret: str, processed: list[str | None]) -> FastAPI:
    """Your receiver. ``processed`` records the id of every delivery it did the work for."""
    verifier = WebhookVerifier(secret, scheme=SCHEME)
    app = FastAPI()
    app.add_exception_handler(VerificationError, verification_error_response)

    @app.post("/webhooks")
    async def receive(webhook: Annotated[VerifiedWebhook, Depends(verifier)]) -> dict[str, str]:
        if webhook.id in processed:  # a retry: acknowledge it, and do nothing
            return {"status": "duplicate"}
        processed.append(webhook.id)  # the work, done once per delivery id
        return {"status": "processed"}

    return app


async def test_the_receiver_conforms() -> None:
    processed: list[str | None] = []
    app = create_app(SECRET, processed)
    report = await check_receiver(app, SECRET, SCHEME, processed=processed.count, path="/webhooks")
    print(report)  # shown with `pytest -s`
    # On a failure, the whole report is the assertion's message.
    report.raise_for_failures()
