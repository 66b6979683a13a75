"""Interoperability with the providers' official libraries (stripe, svix, standardwebhooks),
and with hand computations where a provider has no official Python library (Shopify)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone

import pytest
import standardwebhooks.webhooks as standardwebhooks
import stripe
import svix.webhooks
from hypothesis import given, settings
from hypothesis import strategies as st

from every_scheme import scheme_id
from webhook_kit import (
    SignatureFormat,
    SignatureScheme,
    VerificationError,
    VerificationFailure,
    providers,
    sign,
    verify,
)

STRIPE_SECRET = "whsec_test_" + "a1B2c3D4e5F6g7H8i9J0"
STRIPE_OLD_SECRET = "whsec_test_" + "z9Y8x7W6v5U4t3S2r1Q0"
EVENT_BODY = json.dumps(
    {"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event", "type": "payment_intent.created"}
).encode()
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WHSEC_OLD = "whsec_" + base64.b64encode(b"the-previous-secret-key!!").decode()
WHSK = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
BODY = b'{"type": "contact.created", "data": {"id": "1f81eb52"}}'


def now() -> int:
    return int(time.time())


def utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


# --- Stripe ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", [providers.STRIPE, SignatureFormat.STRIPE], ids=scheme_id)
def test_stripe_library_verifies_a_webhook_kit_signature(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    header = sign(EVENT_BODY, STRIPE_SECRET, scheme=scheme, timestamp=now())
    assert stripe.WebhookSignature.verify_header(EVENT_BODY, header, STRIPE_SECRET, 300) is True


def test_stripe_construct_event_accepts_a_webhook_kit_signature() -> None:
    header = sign(EVENT_BODY, STRIPE_SECRET, scheme=providers.STRIPE, timestamp=now())
    event = stripe.Webhook.construct_event(EVENT_BODY, header, STRIPE_SECRET)
    assert event.id == "evt_1NG8Du2eZvKYlo2CUI79vXWy"
    assert event.type == "payment_intent.created"


@pytest.mark.parametrize("secret", [STRIPE_SECRET, STRIPE_OLD_SECRET])
def test_stripe_library_verifies_each_secret_of_a_webhook_kit_rotation(secret: str) -> None:
    header = sign(
        EVENT_BODY, [STRIPE_SECRET, STRIPE_OLD_SECRET], scheme=providers.STRIPE, timestamp=now()
    )
    assert stripe.WebhookSignature.verify_header(EVENT_BODY, header, secret, 300) is True


def test_stripe_library_rejects_a_webhook_kit_signature_for_another_body() -> None:
    header = sign(EVENT_BODY, STRIPE_SECRET, scheme=providers.STRIPE, timestamp=now())
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(EVENT_BODY + b" ", header, STRIPE_SECRET, 300)


def test_webhook_kit_verifies_stripe_generate_signature_header() -> None:
    timestamp = now()
    header = stripe.WebhookSignature.generate_signature_header(
        EVENT_BODY.decode(), STRIPE_SECRET, timestamp=timestamp
    )
    webhook = verify(
        EVENT_BODY, {"Stripe-Signature": header}, STRIPE_SECRET, scheme=providers.STRIPE
    )
    assert webhook.timestamp == timestamp
    assert webhook.json()["id"] == "evt_1NG8Du2eZvKYlo2CUI79vXWy"


def test_webhook_kit_verifies_stripe_header_at_the_clock_default_timestamp() -> None:
    header = stripe.WebhookSignature.generate_signature_header(EVENT_BODY.decode(), STRIPE_SECRET)
    assert verify(
        EVENT_BODY, {"stripe-signature": header}, STRIPE_SECRET, scheme=providers.STRIPE
    ).body == (EVENT_BODY)


def test_webhook_kit_verifies_a_stripe_test_mode_header_with_v0() -> None:
    header = stripe.WebhookSignature.generate_signature_header(
        EVENT_BODY.decode(), STRIPE_SECRET, timestamp=now()
    )
    with_v0 = header + ",v0=" + "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
    assert verify(
        EVENT_BODY, {"Stripe-Signature": with_v0}, STRIPE_SECRET, scheme=providers.STRIPE
    )


def test_webhook_kit_rejects_a_stripe_header_made_with_another_secret() -> None:
    header = stripe.WebhookSignature.generate_signature_header(
        EVENT_BODY.decode(), STRIPE_OLD_SECRET, timestamp=now()
    )
    with pytest.raises(VerificationError) as caught:
        verify(EVENT_BODY, {"Stripe-Signature": header}, STRIPE_SECRET, scheme=providers.STRIPE)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


def test_stripe_compute_signature_equals_webhook_kit_v1() -> None:
    timestamp = 1_700_000_000
    expected = stripe.WebhookSignature._compute_signature(
        f"{timestamp}.{EVENT_BODY.decode()}", STRIPE_SECRET
    )
    header = sign(EVENT_BODY, STRIPE_SECRET, scheme=providers.STRIPE, timestamp=timestamp)
    assert header == f"t={timestamp},v1={expected}"


def test_stripe_keys_the_hmac_with_the_whole_whsec_string_as_webhook_kit_does() -> None:
    decodable = "whsec_" + base64.b64encode(b"24-bytes-of-key-material").decode()
    decoded = base64.b64decode(decodable.removeprefix("whsec_"))
    timestamp = now()
    whole = sign(EVENT_BODY, decodable, scheme=providers.STRIPE, timestamp=timestamp)
    assert stripe.WebhookSignature.verify_header(EVENT_BODY, whole, decodable, 300) is True
    with_decoded_key = sign(EVENT_BODY, decoded, scheme=providers.STRIPE, timestamp=timestamp)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(EVENT_BODY, with_decoded_key, decodable, 300)


_TEXT_BODIES = st.text(max_size=200).map(str.encode)
_STRIPE_SECRETS = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
).map(lambda s: "whsec_" + s)


@settings(max_examples=40, deadline=None)
@given(body=_TEXT_BODIES, secret=_STRIPE_SECRETS, age=st.integers(0, 250))
def test_stripe_round_trips_both_ways(body: bytes, secret: str, age: int) -> None:
    timestamp = now() - age
    ours = sign(body, secret, scheme=providers.STRIPE, timestamp=timestamp)
    assert stripe.WebhookSignature.verify_header(body, ours, secret, 300) is True
    theirs = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )
    assert theirs == ours
    assert verify(body, {"Stripe-Signature": theirs}, secret, scheme=providers.STRIPE).body == body


# --- Svix ---------------------------------------------------------------------------------------


def test_svix_library_verifies_webhook_kit_svix_headers() -> None:
    target = providers.SVIX
    headers = target.signature_headers(
        BODY, target.keys(WHSEC), webhook_id=MSG_ID, timestamp=now()
    )
    assert svix.webhooks.Webhook(WHSEC).verify(BODY, headers) is None


def test_svix_library_verifies_each_secret_of_a_webhook_kit_rotation() -> None:
    target = providers.SVIX
    keys = target.keys([WHSEC, WHSEC_OLD])
    headers = target.signature_headers(BODY, keys, webhook_id=MSG_ID, timestamp=now())
    for secret in (WHSEC, WHSEC_OLD):
        assert svix.webhooks.Webhook(secret).verify(BODY, headers) is None


def test_svix_library_rejects_webhook_kit_headers_for_another_body() -> None:
    target = providers.SVIX
    headers = target.signature_headers(
        BODY, target.keys(WHSEC), webhook_id=MSG_ID, timestamp=now()
    )
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(WHSEC).verify(BODY + b" ", headers)


@pytest.mark.parametrize("prefix", ["svix", "webhook"])
def test_webhook_kit_verifies_a_svix_library_signature(prefix: str) -> None:
    timestamp = now()
    signature = svix.webhooks.Webhook(WHSEC).sign(MSG_ID, utc(timestamp), BODY.decode())
    headers = {
        f"{prefix}-id": MSG_ID,
        f"{prefix}-timestamp": str(timestamp),
        f"{prefix}-signature": signature,
    }
    webhook = verify(BODY, headers, WHSEC, scheme=providers.SVIX)
    assert (webhook.id, webhook.timestamp) == (MSG_ID, timestamp)


def test_webhook_kit_rejects_a_svix_signature_made_with_another_secret() -> None:
    timestamp = now()
    signature = svix.webhooks.Webhook(WHSEC_OLD).sign(MSG_ID, utc(timestamp), BODY.decode())
    headers = {"svix-id": MSG_ID, "svix-timestamp": str(timestamp), "svix-signature": signature}
    with pytest.raises(VerificationError) as caught:
        verify(BODY, headers, WHSEC, scheme=providers.SVIX)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


# --- Standard Webhooks -------------------------------------------------------------------------

STANDARD: list[SignatureFormat | SignatureScheme] = [
    providers.STANDARD_WEBHOOKS,
    SignatureFormat.STANDARD_WEBHOOKS,
]


@pytest.mark.parametrize("scheme", STANDARD, ids=scheme_id)
def test_standardwebhooks_library_verifies_webhook_kit_headers(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    target = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    headers = target.signature_headers(
        BODY, target.keys(WHSEC), webhook_id=MSG_ID, timestamp=now()
    )
    parsed = standardwebhooks.Webhook(WHSEC).verify(BODY, headers)
    assert parsed == json.loads(BODY)


def test_standardwebhooks_library_skips_webhook_kit_v1a_entries_and_matches_v1() -> None:
    target = providers.STANDARD_WEBHOOKS
    keys = target.keys([WHSK, WHSEC])
    headers = target.signature_headers(BODY, keys, webhook_id=MSG_ID, timestamp=now())
    assert " v1a," in headers["webhook-signature"] or headers["webhook-signature"].startswith(
        "v1a,"
    )
    assert standardwebhooks.Webhook(WHSEC).verify(BODY, headers, json_parse=False) is None


def test_standardwebhooks_library_verifies_each_secret_of_a_webhook_kit_rotation() -> None:
    target = providers.STANDARD_WEBHOOKS
    keys = target.keys([WHSEC, WHSEC_OLD])
    headers = target.signature_headers(BODY, keys, webhook_id=MSG_ID, timestamp=now())
    for secret in (WHSEC, WHSEC_OLD):
        assert standardwebhooks.Webhook(secret).verify(BODY, headers, json_parse=False) is None


@pytest.mark.parametrize("scheme", [*STANDARD, providers.SVIX], ids=scheme_id)
def test_webhook_kit_verifies_a_standardwebhooks_library_signature(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    timestamp = now()
    signature = standardwebhooks.Webhook(WHSEC).sign(MSG_ID, utc(timestamp), BODY.decode())
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    webhook = verify(BODY, headers, WHSEC, scheme=scheme)
    assert (webhook.id, webhook.timestamp, webhook.body) == (MSG_ID, timestamp, BODY)


def test_standardwebhooks_library_and_webhook_kit_sign_the_vector_alike() -> None:
    theirs = standardwebhooks.Webhook(WHSEC).sign(MSG_ID, utc(1614265330), '{"test": 2432232314}')
    ours = sign(
        b'{"test": 2432232314}',
        WHSEC,
        scheme=providers.STANDARD_WEBHOOKS,
        webhook_id=MSG_ID,
        timestamp=1614265330,
    )
    assert theirs == ours == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr",
        "whsec_" + base64.b64encode(bytes(range(64))).decode().rstrip("="),
    ],
)
def test_unpadded_whsec_secrets_decode_like_the_reference_library(secret: str) -> None:
    theirs = standardwebhooks.Webhook(secret).sign(MSG_ID, utc(1614265330), BODY.decode())
    ours = sign(
        BODY, secret, scheme=providers.STANDARD_WEBHOOKS, webhook_id=MSG_ID, timestamp=1614265330
    )
    assert theirs == ours


_MSG_IDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
_WHSECS = st.binary(min_size=24, max_size=64).map(
    lambda raw: "whsec_" + base64.b64encode(raw).decode()
)


@settings(max_examples=40, deadline=None)
@given(body=_TEXT_BODIES, secret=_WHSECS, msg_id=_MSG_IDS, skew=st.integers(-250, 250))
def test_standard_webhooks_round_trip_both_ways_with_both_libraries(
    body: bytes, secret: str, msg_id: str, skew: int
) -> None:
    timestamp = now() + skew
    reference = standardwebhooks.Webhook(secret)
    svix_library = svix.webhooks.Webhook(secret)
    for scheme in (providers.STANDARD_WEBHOOKS, providers.SVIX):
        headers = scheme.signature_headers(
            body, scheme.keys(secret), webhook_id=msg_id, timestamp=timestamp
        )
        spec_headers = {k: v for k, v in headers.items() if k.startswith("webhook-")}
        assert reference.verify(body, spec_headers, json_parse=False) is None
        assert svix_library.verify(body, headers) is None
        signature = (reference if scheme is providers.STANDARD_WEBHOOKS else svix_library).sign(
            msg_id, utc(timestamp), body.decode()
        )
        assert signature == headers["webhook-signature"]
        theirs = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        assert verify(body, theirs, secret, scheme=scheme).body == body


# --- Shopify, GitHub and Slack: no official Python library; hand computation per their docs ------


def shopify_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_shopify_signature_is_the_documented_base64_hmac_of_the_body() -> None:
    secret = "shpss_0123456789abcdef0123456789abcdef"
    body = b'{"id": 820982911946154508, "email": "jon@example.com"}'
    assert sign(body, secret, scheme=providers.SHOPIFY) == shopify_hmac(secret, body)


def test_shopify_hand_computed_delivery_verifies_with_its_headers() -> None:
    secret = "shpss_0123456789abcdef0123456789abcdef"
    body = b'{"id": 820982911946154508, "email": "jon@example.com"}'
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": shopify_hmac(secret, body),
        "X-Shopify-Shop-Domain": "example.myshopify.com",
        "X-Shopify-API-Version": "2025-01",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Triggered-At": "2025-01-01T00:00:00.000Z",
    }
    webhook = verify(body, headers, secret, scheme=providers.SHOPIFY)
    assert webhook.id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"  # dedup on Webhook-Id
    assert webhook.event == "orders/create"


def test_shopify_delivery_signed_with_the_old_secret_verifies_during_rotation() -> None:
    new, old = "shpss_new_secret", "shpss_old_secret"
    body = b'{"id": 1}'
    headers = {"X-Shopify-Hmac-Sha256": shopify_hmac(old, body)}
    assert verify(body, headers, [new, old], scheme=providers.SHOPIFY).body == body
    with pytest.raises(VerificationError):
        verify(body, headers, new, scheme=providers.SHOPIFY)


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=300), secret=st.text(min_size=1, max_size=40))
def test_shopify_hand_computation_verifies_for_any_body_and_secret(
    body: bytes, secret: str
) -> None:
    headers = {"x-shopify-hmac-sha256": shopify_hmac(secret, body)}
    assert verify(body, headers, secret, scheme=providers.SHOPIFY).body == body


def test_github_legacy_sha1_header_alone_is_not_accepted() -> None:
    secret = "gh-secret"
    body = b'{"zen": "Keep it logically awesome."}'
    sha1 = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    with pytest.raises(VerificationError) as caught:
        verify(body, {"X-Hub-Signature": sha1}, secret, scheme=providers.GITHUB)
    assert caught.value.reason is VerificationFailure.MISSING_HEADER


def test_slack_hand_computed_request_verifies() -> None:
    secret = "slack-signing-secret"
    body = b"token=abc&team_id=T1&command=%2Fdeploy"
    timestamp = now()
    basestring = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(timestamp)}
    assert verify(body, headers, secret, scheme=providers.SLACK).timestamp == timestamp
