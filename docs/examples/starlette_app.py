"""Receiving webhook-kit webhooks in Starlette with `verify_signature(request)`.

The secret comes from the ``WEBHOOK_KIT_SECRET`` environment variable.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from webhook_kit import VerificationError, verification_error_response, verify_signature

received: list[Any] = []
"""The payloads handled so far: stands in for your real work (a job queue, a database)."""


async def receive(request: Request) -> JSONResponse:
    webhook = await verify_signature(request)  # reads WEBHOOK_KIT_SECRET
    received.append(webhook.json())
    return JSONResponse({"status": "processed", "event": webhook.event})


app = Starlette(
    routes=[Route("/webhooks", receive, methods=["POST"])],
    # A failed verification becomes 400 {"error": "<reason>"} instead of a 500.
    exception_handlers={VerificationError: verification_error_response},
)
