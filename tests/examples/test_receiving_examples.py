"""Run every receiving example the docs show (docs/examples), the way the docs use it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from example_modules import load_example

import webhook_kit
from webhook_kit import (
    MissingSecretError,
    VerificationError,
    VerificationFailure,
    providers,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
SECRET = "test-secret-do-not-use"
# Standard Webhooks' test secret: whsec_ and the base64 of a 24-byte key.
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ORDER = {"type": "order.created", "order_id": 42}
BODY = json.dumps(ORDER).encode()
TAMPERED = json.dumps({**ORDER, "order_id": 43}).encode()


signing = load_example("signing_test_requests")


def signed_headers(body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    headers: dict[str, str] = signing.webhook_kit_headers(body, secret)
    return headers


def test_every_example_is_run_by_a_test() -> None:
    # Any test module in tests/examples may run an example: by loading it by name.
    tests = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    untested = {
        path.name for path in EXAMPLES.glob("*.py") if f'load_example("{path.stem}")' not in tests
    }
    assert untested == set()


# -- signing_test_requests ------------------------------------------------------------------


def test_webhook_kit_headers_carry_the_wire_contract_headers() -> None:
    headers = signed_headers()
    assert headers[webhook_kit.HEADER_SIGNATURE].startswith("sha256=")
    assert headers[webhook_kit.HEADER_EVENT] == "order.created"
    webhook = webhook_kit.verify(BODY, headers, SECRET)
    assert webhook.id == headers[webhook_kit.HEADER_ID]


def test_provider_headers_verify_with_the_preset() -> None:
    headers = signing.provider_headers(BODY, WHSEC, providers.SVIX)
    webhook = webhook_kit.verify(BODY, headers, WHSEC, scheme=providers.SVIX)
    assert webhook.id == headers["svix-id"]
    assert webhook.timestamp == int(headers["svix-timestamp"])


# -- verify_anywhere ------------------------------------------------------------------------


def test_verify_anywhere_accepts_a_signed_request() -> None:
    example = load_example("verify_anywhere")
    headers = signed_headers()
    status, answer = example.handle_webhook(BODY, headers, SECRET)
    assert status == 200
    assert answer == {
        "id": headers[webhook_kit.HEADER_ID],
        "event": "order.created",
        "payload": ORDER,
    }


def test_verify_anywhere_rejects_a_tampered_body(caplog: pytest.LogCaptureFixture) -> None:
    example = load_example("verify_anywhere")
    with caplog.at_level(logging.WARNING):
        status, answer = example.handle_webhook(TAMPERED, signed_headers(), SECRET)
    assert (status, answer) == (400, {"error": "no_matching_signature"})
    assert "no_matching_signature" in caplog.text
    assert SECRET not in caplog.text


def test_verify_anywhere_rejects_a_missing_signature() -> None:
    example = load_example("verify_anywhere")
    headers = signed_headers()
    del headers[webhook_kit.HEADER_SIGNATURE]
    assert example.handle_webhook(BODY, headers, SECRET) == (400, {"error": "missing_header"})


# -- FastAPI --------------------------------------------------------------------------------


@pytest.fixture
def fastapi_example() -> Iterator[ModuleType]:
    example = load_example("fastapi_app")
    example.received.clear()
    yield example
    example.received.clear()


def asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.mark.anyio
async def test_fastapi_accepts_a_signed_request(fastapi_example: ModuleType) -> None:
    async with asgi_client(fastapi_example.create_app(SECRET)) as client:
        response = await client.post("/webhooks", content=BODY, headers=signed_headers())
    assert response.status_code == 200
    assert response.json() == {"status": "processed"}
    assert fastapi_example.received == [ORDER]


@pytest.mark.anyio
async def test_fastapi_rejects_a_tampered_body(fastapi_example: ModuleType) -> None:
    async with asgi_client(fastapi_example.create_app(SECRET)) as client:
        response = await client.post("/webhooks", content=TAMPERED, headers=signed_headers())
    assert response.status_code == 400
    assert response.json() == {"error": "no_matching_signature"}
    assert fastapi_example.received == []


@pytest.mark.anyio
async def test_fastapi_handles_a_retried_delivery_once(fastapi_example: ModuleType) -> None:
    headers = signed_headers()
    async with asgi_client(fastapi_example.create_app(SECRET)) as client:
        first = await client.post("/webhooks", content=BODY, headers=headers)
        retry = await client.post("/webhooks", content=BODY, headers=headers)
    assert first.json() == {"status": "processed"}
    assert (retry.status_code, retry.json()) == (200, {"status": "duplicate"})
    assert fastapi_example.received == [ORDER]


@pytest.mark.anyio
async def test_fastapi_refuses_a_body_over_the_cap(fastapi_example: ModuleType) -> None:
    body = b" " * (webhook_kit.DEFAULT_MAX_BODY_BYTES + 1)
    async with asgi_client(fastapi_example.create_app(SECRET)) as client:
        response = await client.post("/webhooks", content=body, headers=signed_headers(body))
    assert (response.status_code, response.json()) == (413, {"error": "body_too_large"})


def test_fastapi_app_refuses_an_empty_secret_at_startup(fastapi_example: ModuleType) -> None:
    with pytest.raises(webhook_kit.InvalidSecretError):
        fastapi_example.create_app("")


# -- Starlette ------------------------------------------------------------------------------


@pytest.fixture
def starlette_example(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv(webhook_kit.SECRET_ENV_VAR, SECRET)
    example = load_example("starlette_app")
    example.received.clear()
    yield example
    example.received.clear()


@pytest.mark.anyio
async def test_starlette_accepts_a_signed_request(starlette_example: ModuleType) -> None:
    async with asgi_client(starlette_example.app) as client:
        response = await client.post("/webhooks", content=BODY, headers=signed_headers())
    assert response.status_code == 200
    assert response.json() == {"status": "processed", "event": "order.created"}
    assert starlette_example.received == [ORDER]


@pytest.mark.anyio
async def test_starlette_rejects_a_tampered_body(starlette_example: ModuleType) -> None:
    async with asgi_client(starlette_example.app) as client:
        response = await client.post("/webhooks", content=TAMPERED, headers=signed_headers())
    assert response.status_code == 400
    assert response.json() == {"error": "no_matching_signature"}
    assert starlette_example.received == []


@pytest.mark.anyio
async def test_starlette_rejects_another_secret(starlette_example: ModuleType) -> None:
    headers = signed_headers(secret="not-the-secret")
    async with asgi_client(starlette_example.app) as client:
        response = await client.post("/webhooks", content=BODY, headers=headers)
    assert (response.status_code, response.json()) == (400, {"error": "no_matching_signature"})


@pytest.mark.anyio
async def test_starlette_without_the_secret_variable_is_a_server_error(
    starlette_example: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(webhook_kit.SECRET_ENV_VAR)
    async with asgi_client(starlette_example.app) as client:
        with pytest.raises(MissingSecretError):
            await client.post("/webhooks", content=BODY, headers=signed_headers())


# -- Django ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def django_example() -> ModuleType:
    import django
    from django.conf import settings

    example = load_example("django_app")
    if not settings.configured:
        # The least Django needs to serve one view: no database, no installed apps.
        settings.configure(
            SECRET_KEY="django-test-key-not-secret",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=example.__name__,
            MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
            WEBHOOK_SECRET=SECRET,
        )
        django.setup()
    return example


@pytest.fixture
def django_client(django_example: ModuleType) -> Iterator[Any]:
    from django.test import Client, override_settings

    django_example.received.clear()
    # override_settings also works when another test configured Django first.
    with override_settings(ROOT_URLCONF=django_example.__name__, WEBHOOK_SECRET=SECRET):
        yield Client()
    django_example.received.clear()


def test_django_accepts_a_signed_request(django_example: ModuleType, django_client: Any) -> None:
    response = django_client.post(
        "/webhooks/", data=BODY, content_type="application/json", headers=signed_headers()
    )
    assert response.status_code == 200
    assert response.json() == {"status": "processed"}
    assert django_example.received == [ORDER]


def test_django_rejects_a_tampered_body(django_example: ModuleType, django_client: Any) -> None:
    response = django_client.post(
        "/webhooks/", data=TAMPERED, content_type="application/json", headers=signed_headers()
    )
    assert response.status_code == 400
    assert response.json() == {"error": "no_matching_signature"}
    assert django_example.received == []


def test_django_view_needs_no_csrf_token(django_example: ModuleType) -> None:
    from django.test import Client, override_settings

    # enforce_csrf_checks: the CSRF middleware behaves as in production.
    client = Client(enforce_csrf_checks=True)
    with override_settings(ROOT_URLCONF=django_example.__name__, WEBHOOK_SECRET=SECRET):
        response = client.post(
            "/webhooks/", data=BODY, content_type="application/json", headers=signed_headers()
        )
    django_example.received.clear()
    assert response.status_code == 200


def test_django_view_only_accepts_post(django_client: Any) -> None:
    assert django_client.get("/webhooks/").status_code == 405


# -- Flask ----------------------------------------------------------------------------------


@pytest.fixture
def flask_example() -> Iterator[ModuleType]:
    example = load_example("flask_app")
    example.received.clear()
    yield example
    example.received.clear()


def test_flask_accepts_a_signed_request(flask_example: ModuleType) -> None:
    client = flask_example.create_app(SECRET).test_client()
    response = client.post("/webhooks", data=BODY, headers=signed_headers())
    assert response.status_code == 200
    assert response.get_json() == {"status": "processed"}
    assert flask_example.received == [ORDER]


def test_flask_rejects_a_tampered_body(flask_example: ModuleType) -> None:
    client = flask_example.create_app(SECRET).test_client()
    response = client.post("/webhooks", data=TAMPERED, headers=signed_headers())
    assert response.status_code == 400
    assert response.get_json() == {"error": "no_matching_signature"}
    assert flask_example.received == []


# -- Timestamps: stored_deliveries ----------------------------------------------------------


def test_stored_delivery_verifies_against_its_arrival_time() -> None:
    example = load_example("stored_deliveries")
    arrived = time.time() - 6 * 3600  # processed six hours after it arrived
    headers = providers.STANDARD_WEBHOOKS.signature_headers(
        BODY, providers.STANDARD_WEBHOOKS.keys(WHSEC), webhook_id="msg_1", timestamp=int(arrived)
    )
    delivery = example.StoredDelivery(BODY, headers, received_at=arrived)
    assert example.process(delivery, WHSEC) == ORDER
    # Checked against the current time instead, the same delivery is too old.
    with pytest.raises(VerificationError) as caught:
        webhook_kit.verify(BODY, headers, WHSEC, scheme=providers.STANDARD_WEBHOOKS)
    assert caught.value.reason is VerificationFailure.TIMESTAMP_TOO_OLD


def test_stored_delivery_that_was_tampered_with_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    example = load_example("stored_deliveries")
    headers = signing.provider_headers(BODY, WHSEC, providers.STANDARD_WEBHOOKS)
    delivery = example.StoredDelivery(TAMPERED, headers, received_at=time.time())
    with caplog.at_level(logging.WARNING):
        assert example.process(delivery, WHSEC) is None
    assert "no_matching_signature" in caplog.text


def test_stored_delivery_signed_before_the_window_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    example = load_example("stored_deliveries")
    arrived = time.time()
    headers = providers.STANDARD_WEBHOOKS.signature_headers(
        BODY, providers.STANDARD_WEBHOOKS.keys(WHSEC), webhook_id="msg_1", timestamp=int(arrived)
    )
    delivery = example.StoredDelivery(BODY, headers, received_at=arrived + 301)
    with caplog.at_level(logging.WARNING):
        assert example.process(delivery, WHSEC) is None
    assert "timestamp_too_old" in caplog.text


# -- secret_rotation ------------------------------------------------------------------------


def test_rotation_verifies_the_new_and_the_old_secret() -> None:
    example = load_example("secret_rotation")
    verifier = example.verifier_from_environment(
        {"WEBHOOK_SECRET": "new-secret", "WEBHOOK_SECRET_OLD": "old-secret"}
    )
    for secret in ("new-secret", "old-secret"):
        assert verifier.verify(BODY, signed_headers(secret=secret)).body == BODY
    with pytest.raises(VerificationError) as caught:
        verifier.verify(BODY, signed_headers(secret="another-secret"))
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


def test_after_the_rotation_the_old_secret_fails() -> None:
    example = load_example("secret_rotation")
    verifier = example.verifier_from_environment({"WEBHOOK_SECRET": "new-secret"})
    assert verifier.verify(BODY, signed_headers(secret="new-secret")).body == BODY
    with pytest.raises(VerificationError):
        verifier.verify(BODY, signed_headers(secret="old-secret"))


# -- provider_presets -----------------------------------------------------------------------


def test_github_preset_verifies_a_delivery_above_the_default_cap() -> None:
    example = load_example("provider_presets")
    secret = "It's a Secret to Everybody"
    push = {"ref": "refs/heads/main", "padding": "x" * webhook_kit.DEFAULT_MAX_BODY_BYTES}
    body = json.dumps(push).encode()
    headers = signing.provider_headers(body, secret, providers.GITHUB)
    headers["X-GitHub-Event"] = "push"
    received = example.github(body, headers, secret)
    assert received == (f"github:{headers['X-GitHub-Delivery']}", "push", push)
    with pytest.raises(VerificationError) as caught:
        example.github(body + b" ", headers, secret)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


def test_stripe_preset_uses_the_whole_whsec_secret() -> None:
    example = load_example("provider_presets")
    secret = "whsec_test_secret"
    event = {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded"}
    body = json.dumps(event).encode()
    headers = signing.provider_headers(body, secret, providers.STRIPE)
    assert example.stripe(body, headers, secret) == ("stripe:evt_1", event["type"], event)
    with pytest.raises(VerificationError):
        example.stripe(TAMPERED, headers, secret)


def test_stripe_preset_accepts_what_the_stripe_library_signs() -> None:
    stripe = pytest.importorskip("stripe")
    example = load_example("provider_presets")
    secret = "whsec_test_secret"
    event = {"id": "evt_2", "object": "event", "type": "charge.refunded"}
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret)
    received = example.stripe(body.encode(), {"Stripe-Signature": header}, secret)
    assert received.dedup_key == "stripe:evt_2"


def test_shopify_preset() -> None:
    example = load_example("provider_presets")
    secret = "shpss_app_client_secret"
    headers = signing.provider_headers(BODY, secret, providers.SHOPIFY)
    headers["X-Shopify-Topic"] = "orders/create"
    received = example.shopify(BODY, headers, secret)
    assert received == (f"shopify:{headers['X-Shopify-Webhook-Id']}", "orders/create", ORDER)
    with pytest.raises(VerificationError):
        example.shopify(TAMPERED, headers, secret)


def test_slack_preset() -> None:
    example = load_example("provider_presets")
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    callback = {"event_id": "Ev01", "event": {"type": "app_mention"}}
    body = json.dumps(callback).encode()
    headers = signing.provider_headers(body, secret, providers.SLACK)
    assert example.slack(body, headers, secret) == ("slack:Ev01", "app_mention", callback)
    with pytest.raises(VerificationError):
        example.slack(TAMPERED, headers, secret)


def test_svix_preset_accepts_what_the_svix_library_signs() -> None:
    svix_webhooks = pytest.importorskip("svix.webhooks")
    example = load_example("provider_presets")
    signed_at = int(time.time())
    signature = svix_webhooks.Webhook(WHSEC).sign(
        "msg_svix", datetime.fromtimestamp(signed_at, tz=timezone.utc), BODY.decode()
    )
    headers = {
        "svix-id": "msg_svix",
        "svix-timestamp": str(signed_at),
        "svix-signature": signature,
    }
    assert example.svix(BODY, headers, WHSEC) == ("svix:msg_svix", "order.created", ORDER)
    with pytest.raises(VerificationError):
        example.svix(TAMPERED, headers, WHSEC)


# -- ed25519_v1a ----------------------------------------------------------------------------

# The private half of the example's SENDER_PUBLIC_KEY: the 32-byte seed 0x01 * 32.
SENDER_SIGNING_KEY = "whsk_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="


def test_ed25519_example_accepts_a_v1a_signature() -> None:
    pytest.importorskip("cryptography")
    example = load_example("ed25519_v1a")
    headers = signing.provider_headers(BODY, SENDER_SIGNING_KEY, providers.STANDARD_WEBHOOKS)
    assert headers["webhook-signature"].startswith("v1a,")
    assert example.receive(BODY, headers) == ORDER
    with pytest.raises(VerificationError) as caught:
        example.receive(TAMPERED, headers)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


def test_ed25519_example_ignores_an_hmac_signature() -> None:
    pytest.importorskip("cryptography")
    example = load_example("ed25519_v1a")
    headers = signing.provider_headers(BODY, WHSEC, providers.STANDARD_WEBHOOKS)
    with pytest.raises(VerificationError) as caught:
        example.receive(BODY, headers)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


# -- serverless_receiver --------------------------------------------------------------------

_SERVERLESS_RUN = """
import base64, json, sys, time
sys.path.insert(0, {examples!r})
import serverless_receiver
from webhook_kit import providers, sign
body = b'{{"type": "order.created", "order_id": 42}}'
now = int(time.time())
headers = {{
    "webhook-id": "msg_1",
    "webhook-timestamp": str(now),
    "webhook-signature": sign(
        body, {secret!r}, scheme=providers.STANDARD_WEBHOOKS, webhook_id="msg_1", timestamp=now
    ),
}}
event = {{"body": base64.b64encode(body).decode(), "isBase64Encoded": True, "headers": headers}}
signed = serverless_receiver.handler(event, None)
tampered = serverless_receiver.handler({{**event, "body": "e30=", "headers": headers}}, None)
print(json.dumps({{"signed": signed, "tampered": tampered, "modules": sorted(sys.modules)}}))
"""


def test_serverless_receiver_verifies_without_loading_the_sending_side() -> None:
    code = _SERVERLESS_RUN.format(examples=str(EXAMPLES), secret=WHSEC)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "WEBHOOK_SECRET": WHSEC},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["signed"] == {"statusCode": 200, "body": "msg_1"}
    assert result["tampered"] == {"statusCode": 400, "body": "no_matching_signature"}
    loaded = set(result["modules"])
    for heavy in ("httpx", "starlette", "aiohttp", "sqlite3", "rich", "click"):
        assert heavy not in loaded, heavy
    assert not any(name.startswith("webhook_kit.queues") for name in loaded)


def test_serverless_receiver_refuses_an_unsigned_event() -> None:
    example = load_example("serverless_receiver")
    answer = example.handler({"body": BODY.decode(), "headers": {}}, None)
    assert answer == {"statusCode": 400, "body": "missing_header"}
