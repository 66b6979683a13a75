"""Verification speed: webhook-kit against raw ``hmac`` and the peer libraries, one run.

Targets (issue #2): one-shot ``verify`` within 1.5x of raw HMAC, ``WebhookVerifier`` within 1.3x.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone

import standardwebhooks.webhooks
import svix.webhooks
import webhookkit
from timing import compare

import webhook_kit
from webhook_kit import WebhookVerifier, providers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a Standard Webhooks secret, used as-is by HMAC
WEBHOOK_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"


def _body(size: int = 1024) -> bytes:
    payload = {"type": "order.created", "data": {"order_id": 42, "note": ""}}
    filler = size - len(json.dumps(payload, separators=(",", ":")))
    payload["data"]["note"] = "x" * filler  # type: ignore[index]
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert len(body) == size, len(body)
    return body


def _contenders(body: bytes) -> dict[str, Callable[[], object]]:
    key = SECRET.encode()
    now = int(time.time())
    own_headers = {
        "X-Webhook-Signature": webhook_kit.sign(body, SECRET),
        "X-Webhook-Id": WEBHOOK_ID,
        "X-Webhook-Event": "order.created",
    }
    standard_headers = providers.STANDARD_WEBHOOKS.signature_headers(
        body,
        providers.STANDARD_WEBHOOKS.keys(SECRET),
        webhook_id=WEBHOOK_ID,
        timestamp=now,
    )
    svix_headers = providers.SVIX.signature_headers(
        body, providers.SVIX.keys(SECRET), webhook_id=WEBHOOK_ID, timestamp=now
    )
    svix_headers = {name: value for name, value in svix_headers.items() if name.startswith("svix")}
    verifier = WebhookVerifier(SECRET)
    standard_verifier = WebhookVerifier(SECRET, scheme=providers.STANDARD_WEBHOOKS)
    svix_webhook = svix.webhooks.Webhook(SECRET)
    standard_webhook = standardwebhooks.webhooks.Webhook(SECRET)
    webhookkit_verifier = webhookkit.HMACVerifier(SECRET)
    webhookkit_headers = {"X-Webhook-Signature": hmac.new(key, body, hashlib.sha256).hexdigest()}
    body_text = body.decode()

    def raw_hmac() -> bool:
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, own_headers["X-Webhook-Signature"])

    contenders: dict[str, Callable[[], object]] = {
        "raw hmac (sha256=hex)": raw_hmac,
        "webhook-kit verify()": lambda: webhook_kit.verify(body, own_headers, SECRET),
        "webhook-kit WebhookVerifier": lambda: verifier.verify(body, own_headers),
        "webhook-kit verify(STANDARD_WEBHOOKS)": lambda: webhook_kit.verify(
            body, standard_headers, SECRET, scheme=providers.STANDARD_WEBHOOKS
        ),
        "webhook-kit WebhookVerifier(STANDARD_WEBHOOKS)": lambda: standard_verifier.verify(
            body, standard_headers
        ),
        "svix Webhook.verify": lambda: svix_webhook.verify(body, svix_headers),
        "standardwebhooks Webhook.verify": lambda: standard_webhook.verify(
            body_text, standard_headers
        ),
        "webhookkit HMACVerifier.verify": lambda: webhookkit_verifier.verify(
            body, webhookkit_headers
        ),
    }
    for name, function in contenders.items():  # each must really verify, or the figure is void
        result = function()
        assert result is not False, f"{name} did not verify"
    return contenders


def main() -> None:
    body = _body()
    results = compare(_contenders(body))
    raw = results["raw hmac (sha256=hex)"].seconds_per_call
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(f"\n== verify: {len(body)}-byte JSON body, best of 15 interleaved rounds ({started}) ==")
    print(f"{'contender':<48} {'µs/verify':>10} {'x raw hmac':>11}")
    for result in results.values():
        micros = result.seconds_per_call * 1e6
        print(f"{result.name:<48} {micros:>10.2f} {result.seconds_per_call / raw:>10.2f}x")
    targets = {
        "webhook-kit verify()": 1.5,
        "webhook-kit WebhookVerifier": 1.3,
    }
    for name, target in targets.items():
        ratio = results[name].seconds_per_call / raw
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"target: {name} <= {target}x raw hmac: {ratio:.2f}x, {verdict}")
