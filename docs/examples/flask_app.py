"""Receiving webhook-kit webhooks in Flask with `verify()`.

Serve it with ``app = create_app(os.environ["WEBHOOK_KIT_SECRET"])``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, request
from flask.typing import ResponseReturnValue

from webhook_kit import VerificationError, verify

received: list[Any] = []
"""The payloads handled so far: stands in for your real work (a job queue, a database)."""

webhooks = Blueprint("webhooks", __name__)


@webhooks.post("/webhooks")
def receive_webhook() -> ResponseReturnValue:
    secret = current_app.config["WEBHOOK_SECRET"]
    try:
        webhook = verify(request.get_data(), request.headers, secret)
    except VerificationError as exc:
        return {"error": exc.reason.value}, 400
    received.append(webhook.json())
    return {"status": "processed"}


def create_app(secret: str) -> Flask:
    app = Flask(__name__)
    app.config["WEBHOOK_SECRET"] = secret
    app.register_blueprint(webhooks)
    return app
