"""Flask views that dispatch into a SQLite queue file; `webhook-kit worker` delivers.

With a queue on disk, the web app needs no worker thread: a separate worker process claims the
deliveries from the same file. Serve it with::

    app = create_app("/var/lib/shop/webhooks.sqlite3", "https://customer.example.com/hooks",
                     os.environ["WEBHOOK_SECRET"])
"""

from __future__ import annotations

import os

from flask import Flask, request
from flask.typing import ResponseReturnValue

from webhook_kit import SQLiteQueue, WebhookSubscription


def create_app(queue_path: str | os.PathLike[str], webhook_url: str, webhook_secret: str) -> Flask:
    # One queue per process; each thread that serves requests gets its own connection.
    queue = SQLiteQueue(queue_path)
    subscription = WebhookSubscription(webhook_url, webhook_secret)
    app = Flask(__name__)

    @app.post("/orders")
    def create_order() -> ResponseReturnValue:
        order = request.get_json()
        # Validates, serialises, signs (body-only formats) and commits: no request is made here.
        delivery_id = subscription.dispatch_sync(queue, "order.created", order)
        return {"order": order, "webhook": delivery_id}, 201

    return app
