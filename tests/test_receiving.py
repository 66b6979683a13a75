"""Receiving in Starlette and FastAPI: `verify_signature`, `WebhookVerifier` as a dependency,
the body cap, and `verification_error_response`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from webhook_kit import (
    SECRET_ENV_VAR,
    InvalidSecretError,
    MissingSecretError,
    SignatureFormat,
    VerificationError,
    VerificationFailure,
    VerifiedWebhook,
    WebhookVerifier,
    providers,
    sign,
    verification_error_response,
    verify_signature,
)

pytestmark = pytest.mark.anyio

SECRET = "receiving-secret"
BODY = json.dumps({"order_id": 42, "items": ["book", "pen"]}).encode()
DELIVERY_ID = "6f1a8e0c-3b9d-4c55-9f0b-7f3c2d1e0a9b"


def signed_headers(body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Webhook-Signature": sign(body, secret),
        "X-Webhook-Id": DELIVERY_ID,
        "X-Webhook-Event": "order.created",
    }


def client_for(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def starlette_app(**verify_kwargs: Any) -> Starlette:
    async def receive_webhook(request: Request) -> Response:
        webhook = await verify_signature(request, **verify_kwargs)
        body = await request.body()
        data = await request.json()
        return JSONResponse(
            {
                "id": webhook.id,
                "event": webhook.event,
                "identical": body == webhook.body,
                "body": body.decode("latin-1"),
                "json": data,
            }
        )

    app = Starlette(routes=[Route("/hook", receive_webhook, methods=["POST"])])
    app.add_exception_handler(VerificationError, verification_error_response)
    return app


# --- verify_signature ---------------------------------------------------------------------------


async def test_secret_comes_from_the_environment_when_none_is_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_KIT_SECRET", SECRET)
    async with client_for(starlette_app()) as client:
        response = await client.post("/hook", content=BODY, headers=signed_headers())
    assert response.status_code == 200
    assert response.json()["id"] == DELIVERY_ID
    assert response.json()["event"] == "order.created"


async def test_environment_variable_name_is_webhook_kit_secret() -> None:
    assert SECRET_ENV_VAR == "WEBHOOK_KIT_SECRET"


async def test_environment_secret_is_really_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_KIT_SECRET", "a-different-secret")
    async with client_for(starlette_app()) as client:
        response = await client.post("/hook", content=BODY, headers=signed_headers())
    assert response.status_code == 400
    assert response.json() == {"error": "no_matching_signature"}


async def test_explicit_secret_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_KIT_SECRET", "a-different-secret")
    async with client_for(starlette_app(secret=SECRET)) as client:
        response = await client.post("/hook", content=BODY, headers=signed_headers())
    assert response.status_code == 200


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
async def test_no_secret_anywhere_raises_missing_secret_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("WEBHOOK_KIT_SECRET", raising=False)
    else:
        monkeypatch.setenv("WEBHOOK_KIT_SECRET", value)
    async with client_for(starlette_app()) as client:
        with pytest.raises(MissingSecretError, match="WEBHOOK_KIT_SECRET") as caught:
            await client.post("/hook", content=BODY, headers=signed_headers())
    assert isinstance(caught.value, InvalidSecretError)


async def test_handler_reads_the_identical_body_and_json_after_verification() -> None:
    async with client_for(starlette_app(secret=SECRET)) as client:
        response = await client.post("/hook", content=BODY, headers=signed_headers())
    payload = response.json()
    assert payload["identical"] is True
    assert payload["body"] == BODY.decode("latin-1")
    assert payload["json"] == json.loads(BODY)


async def test_streamed_body_is_verified_and_readable_again() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(BODY), 7):
            yield BODY[start : start + 7]

    async with client_for(starlette_app(secret=SECRET)) as client:
        response = await client.post("/hook", content=chunks(), headers=signed_headers())
    assert response.status_code == 200
    assert response.json()["identical"] is True
    assert response.json()["body"] == BODY.decode("latin-1")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Webhook-Signature": "sha256=" + "0" * 64}, "no_matching_signature"),
        ({}, "missing_header"),
        ({"X-Webhook-Signature": "md5=abc"}, "malformed_header"),
    ],
)
async def test_failures_become_400_with_the_reason(headers: dict[str, str], reason: str) -> None:
    async with client_for(starlette_app(secret=SECRET)) as client:
        response = await client.post("/hook", content=BODY, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"error": reason}


async def test_tampered_body_is_refused() -> None:
    async with client_for(starlette_app(secret=SECRET)) as client:
        response = await client.post("/hook", content=BODY + b" ", headers=signed_headers())
    assert response.status_code == 400
    assert response.json() == {"error": "no_matching_signature"}


async def test_verify_signature_with_a_provider_scheme_and_now() -> None:
    timestamp = 1_700_000_000
    secret = "whsec_" + "c2VjcmV0LWtleS1mb3ItcmVjZWl2aW5nLXRlc3Rz"
    target = providers.STANDARD_WEBHOOKS
    headers = target.signature_headers(
        BODY, target.keys(secret), webhook_id="msg_1", timestamp=timestamp
    )
    app = starlette_app(secret=secret, scheme=target, now=timestamp)
    async with client_for(app) as client:
        response = await client.post("/hook", content=BODY, headers=headers)
    assert response.status_code == 200
    assert response.json()["id"] == "msg_1"
    late = starlette_app(secret=secret, scheme=target, now=timestamp + 301)
    async with client_for(late) as client:
        response = await client.post("/hook", content=BODY, headers=headers)
    assert response.json() == {"error": "timestamp_too_old"}


# --- the body cap -----------------------------------------------------------------------------


async def test_content_length_over_the_cap_is_body_too_large() -> None:
    async with client_for(starlette_app(secret=SECRET, max_body_bytes=16)) as client:
        response = await client.post("/hook", content=BODY, headers=signed_headers())
    assert response.status_code == 413
    assert response.json() == {"error": "body_too_large"}


async def test_streamed_body_past_the_cap_is_body_too_large() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 10

    async with client_for(starlette_app(secret=SECRET, max_body_bytes=64)) as client:
        response = await client.post("/hook", content=chunks(), headers=signed_headers())
    assert response.status_code == 413
    assert response.json() == {"error": "body_too_large"}


async def test_body_exactly_at_the_cap_is_verified() -> None:
    async with client_for(starlette_app(secret=SECRET, max_body_bytes=len(BODY))) as client:
        response = await client.post("/hook", content=BODY, headers=signed_headers())
    assert response.status_code == 200


def counting_request(
    headers: list[tuple[bytes, bytes]], chunk: bytes, chunks: int | None
) -> tuple[Request, list[Message]]:
    """A request whose ``receive`` records every message it hands out (``None``: endless)."""
    sent: list[Message] = []

    async def receive() -> Message:
        more = chunks is None or len(sent) + 1 < chunks
        message: Message = {"type": "http.request", "body": chunk, "more_body": more}
        sent.append(message)
        return message

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hook",
        "raw_path": b"/hook",
        "query_string": b"",
        "headers": headers,
    }
    return Request(scope, receive), sent


async def test_declared_content_length_over_the_cap_is_refused_before_reading() -> None:
    request, sent = counting_request([(b"content-length", b"1000000")], b"x" * 1000, 1000)
    with pytest.raises(VerificationError) as caught:
        await verify_signature(request, SECRET, max_body_bytes=1000)
    assert caught.value.reason is VerificationFailure.BODY_TOO_LARGE
    assert sent == []


async def test_endless_stream_stops_being_read_just_past_the_cap() -> None:
    request, sent = counting_request([], b"x" * 100, None)
    with pytest.raises(VerificationError) as caught:
        await verify_signature(request, SECRET, max_body_bytes=1000)
    assert caught.value.reason is VerificationFailure.BODY_TOO_LARGE
    assert len(sent) == 11  # 1,100 bytes read: the first chunk past 1,000, and no more


async def test_webhook_verifier_call_also_caps_an_endless_stream() -> None:
    request, sent = counting_request([], b"x" * 100, None)
    with pytest.raises(VerificationError) as caught:
        await WebhookVerifier(SECRET, max_body_bytes=500)(request)
    assert caught.value.reason is VerificationFailure.BODY_TOO_LARGE
    assert len(sent) == 6


async def test_missing_secret_is_reported_before_the_body_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEBHOOK_KIT_SECRET", raising=False)
    request, sent = counting_request([], b"x", 1)
    with pytest.raises(MissingSecretError):
        await verify_signature(request)
    assert sent == []


async def test_invalid_secret_raises_at_verify_signature() -> None:
    request, _ = counting_request([], b"x", 1)
    with pytest.raises(InvalidSecretError):
        await verify_signature(request, "")


# --- FastAPI ------------------------------------------------------------------------------------

verifier = WebhookVerifier(SECRET)
github_verifier = WebhookVerifier(SECRET, scheme=providers.GITHUB)
VERIFIED = Depends(verifier)  # the plain `= Depends(WebhookVerifier(SECRET))` form
GitHubWebhook = Annotated[VerifiedWebhook, Depends(github_verifier)]
Webhook = Annotated[VerifiedWebhook, Depends(verifier)]
SmallWebhook = Annotated[VerifiedWebhook, Depends(WebhookVerifier(SECRET, max_body_bytes=8))]


class Order(BaseModel):
    order_id: int
    items: list[str]


def fastapi_app() -> FastAPI:
    app = FastAPI()
    app.add_exception_handler(VerificationError, verification_error_response)

    @app.post("/hook")
    async def hook(webhook: VerifiedWebhook = VERIFIED) -> dict[str, Any]:
        return {
            "id": webhook.id,
            "event": webhook.event,
            "scheme": webhook.scheme,
            "type": type(webhook).__name__,
            "json": webhook.json(),
        }

    @app.post("/annotated")
    async def annotated(webhook: Webhook) -> dict[str, Any]:
        return {"id": webhook.id}

    @app.post("/github")
    async def github(webhook: GitHubWebhook) -> dict[str, Any]:
        return {"id": webhook.id, "event": webhook.event}

    @app.post("/order")
    async def order(body: Order, webhook: Webhook) -> dict[str, Any]:
        return {"order_id": body.order_id, "items": body.items, "id": webhook.id}

    @app.post("/raw")
    async def raw(request: Request, webhook: Webhook) -> Response:
        body = await request.body()
        data = await request.json()
        assert body == webhook.body
        return JSONResponse({"length": len(body), "json": data})

    return app


async def test_fastapi_dependency_returns_the_verified_webhook() -> None:
    async with client_for(fastapi_app()) as client:
        response = await client.post("/hook", content=BODY, headers=signed_headers())
    assert response.status_code == 200
    assert response.json() == {
        "id": DELIVERY_ID,
        "event": "order.created",
        "scheme": "webhook-kit/hex_sha256_with_prefix",
        "type": "VerifiedWebhook",
        "json": json.loads(BODY),
    }


async def test_fastapi_annotated_dependency_works() -> None:
    async with client_for(fastapi_app()) as client:
        response = await client.post("/annotated", content=BODY, headers=signed_headers())
    assert response.json() == {"id": DELIVERY_ID}


async def test_fastapi_dependency_with_a_provider_preset() -> None:
    headers = {
        "X-Hub-Signature-256": sign(BODY, SECRET, scheme=providers.GITHUB),
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "push",
    }
    async with client_for(fastapi_app()) as client:
        response = await client.post("/github", content=BODY, headers=headers)
    assert response.json() == {"id": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "event": "push"}


@pytest.mark.parametrize("path", ["/hook", "/annotated", "/order", "/raw"])
@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: {**h, "X-Webhook-Signature": "sha256=" + "1" * 64}, "no_matching_signature"),
        (lambda h: {"Content-Type": "application/json"}, "missing_header"),
    ],
    ids=["wrong-signature", "no-signature"],
)
async def test_fastapi_failures_become_400_with_the_reason(
    path: str, mutate: Callable[[dict[str, str]], dict[str, str]], reason: str
) -> None:
    async with client_for(fastapi_app()) as client:
        response = await client.post(path, content=BODY, headers=mutate(signed_headers()))
    assert response.status_code == 400
    assert response.json() == {"error": reason}


async def test_fastapi_github_dependency_failure_is_400() -> None:
    headers = {"X-Hub-Signature-256": "sha256=" + "1" * 64}
    async with client_for(fastapi_app()) as client:
        response = await client.post("/github", content=BODY, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"error": "no_matching_signature"}


async def test_fastapi_pydantic_body_and_verifier_dependency_together() -> None:
    async with client_for(fastapi_app()) as client:
        response = await client.post("/order", content=BODY, headers=signed_headers())
    assert response.status_code == 200
    assert response.json() == {"order_id": 42, "items": ["book", "pen"], "id": DELIVERY_ID}


async def test_fastapi_pydantic_body_with_tampered_bytes_is_refused() -> None:
    tampered = json.dumps({"order_id": 43, "items": ["book", "pen"]}).encode()
    async with client_for(fastapi_app()) as client:
        response = await client.post("/order", content=tampered, headers=signed_headers())
    assert response.status_code == 400
    assert response.json() == {"error": "no_matching_signature"}


async def test_fastapi_handler_reads_the_identical_body_after_the_dependency() -> None:
    async with client_for(fastapi_app()) as client:
        response = await client.post("/raw", content=BODY, headers=signed_headers())
    assert response.status_code == 200
    assert response.json() == {"length": len(BODY), "json": json.loads(BODY)}


async def test_fastapi_dependency_refuses_an_oversized_body() -> None:
    app = FastAPI()
    app.add_exception_handler(VerificationError, verification_error_response)

    @app.post("/small")
    async def small_hook(webhook: SmallWebhook) -> dict[str, Any]:
        return {"id": webhook.id}

    async with client_for(app) as client:
        response = await client.post("/small", content=BODY, headers=signed_headers())
    assert response.status_code == 413
    assert response.json() == {"error": "body_too_large"}


# --- verification_error_response and the verifier itself -----------------------------------------


async def test_verification_error_response_answers_other_exceptions_generically() -> None:
    request, _ = counting_request([], b"", 1)
    response = await verification_error_response(request, RuntimeError("secret details"))
    assert response.status_code == 400
    assert json.loads(bytes(response.body)) == {"error": "invalid_webhook"}


async def test_verification_error_response_body_is_only_the_reason() -> None:
    request, _ = counting_request([], b"", 1)
    error = VerificationError(VerificationFailure.TIMESTAMP_TOO_OLD, "timestamp is 999s old")
    response = await verification_error_response(request, error)
    assert response.status_code == 400
    assert json.loads(bytes(response.body)) == {"error": "timestamp_too_old"}
    assert response.headers["content-type"] == "application/json"


async def test_webhook_verifier_called_on_a_starlette_request() -> None:
    scheme = SignatureFormat.BASE64_SHA256
    body = b'{"n": 1}'
    request, _ = counting_request(
        [(b"x-webhook-signature", sign(body, SECRET, scheme=scheme).encode())], body, 1
    )
    webhook = await WebhookVerifier(SECRET, scheme=scheme)(request)
    assert webhook.body == body
    assert await request.body() == body


async def test_webhook_verifier_repr_shows_the_scheme_not_the_secret() -> None:
    shown = repr(WebhookVerifier([SECRET, "older-secret"], scheme=providers.SHOPIFY))
    assert shown == "WebhookVerifier(scheme='shopify')"
