"""Receiving webhook-kit webhooks in a Django view with `verify()`.

The secret is a setting: ``WEBHOOK_SECRET = os.environ["WEBHOOK_KIT_SECRET"]`` in settings.py.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhook_kit import VerificationError, verify

received: list[Any] = []
"""The payloads handled so far: stands in for your real work (a job queue, a database)."""


@csrf_exempt  # the signature authenticates the request; a sender has no CSRF token
@require_POST
def receive_webhook(request: HttpRequest) -> HttpResponse:
    try:
        webhook = verify(request.body, request.headers, settings.WEBHOOK_SECRET)
    except VerificationError as exc:
        return JsonResponse({"error": exc.reason.value}, status=400)
    received.append(webhook.json())
    return JsonResponse({"status": "processed"})


urlpatterns = [path("webhooks/", receive_webhook)]
