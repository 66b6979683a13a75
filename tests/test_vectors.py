"""Published test vectors: Standard Webhooks (v1 HMAC, v1a Ed25519), GitHub and Slack.

Every string here is copied from the spec's reference libraries or the provider's docs (see
the research notes); none is computed by webhook-kit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from every_scheme import scheme_id
from webhook_kit import (
    InvalidSecretError,
    SignatureFormat,
    SignatureScheme,
    VerificationError,
    VerificationFailure,
    providers,
    sign,
    verify,
)

# Standard Webhooks: the same values are in every reference library's tests.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_PAYLOAD = b'{"test": 2432232314}'
SW_EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SW_NEGATIVES = (
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",  # differs in the last character only
    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
)

# Ed25519 v1a, vector A (Go PR #253): a 32-byte seed.
ED_A_SIGNING = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
ED_A_PUBLIC = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="
ED_A_EXPECTED = (
    "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)

# Ed25519 v1a, vector B (JS PR #308): seed = 32 bytes of 0x01, in the 64-byte and 32-byte forms.
ED_B_SIGNING_64 = (
    "whsk_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQGKiOPddAnxlf1S2y08ul1yymcJvx2UEhvzdIgBtA9vXA=="
)
ED_B_SIGNING_32 = "whsk_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
ED_B_PUBLIC = "whpk_iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="
ED_B_EXPECTED = (
    "v1a,Ykcu7AtGZGmZxFEH1Gaa2Nd7feY/CTuruoL4fqgnKwfbHU4DhemoVHZdvGfIvKvn4BIgwktLGGPGIr/i9nK7AA=="
)

# GitHub docs, "Testing the webhook payload validation".
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_HEADER = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# Slack docs, "Verifying requests from Slack", worked example.
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
    b"collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F39770088"
    b"5554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447f"
    b"ce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

# Stripe's documented example header: no secret is published, so it is a parsing fixture only.
STRIPE_DOC_HEADER = (
    "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,"
    "v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
)

STANDARD_SCHEMES: list[SignatureFormat | SignatureScheme] = [
    providers.STANDARD_WEBHOOKS,
    providers.SVIX,
    SignatureFormat.STANDARD_WEBHOOKS,
]


def sw_headers(signature: str) -> dict[str, str]:
    return {
        "webhook-id": SW_MSG_ID,
        "webhook-timestamp": str(SW_TIMESTAMP),
        "webhook-signature": signature,
    }


def sw_verify(signature: str, secret: str) -> object:
    return verify(
        SW_PAYLOAD,
        sw_headers(signature),
        secret,
        scheme=providers.STANDARD_WEBHOOKS,
        now=SW_TIMESTAMP,
    )


# --- Standard Webhooks v1 (HMAC) ----------------------------------------------------------


@pytest.mark.parametrize("scheme", STANDARD_SCHEMES, ids=scheme_id)
def test_standard_webhooks_v1_vector_signs_to_the_published_signature(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    signature = sign(
        SW_PAYLOAD, SW_SECRET, scheme=scheme, webhook_id=SW_MSG_ID, timestamp=SW_TIMESTAMP
    )
    assert signature == SW_EXPECTED


def test_standard_webhooks_v1_vector_verifies() -> None:
    webhook = verify(
        SW_PAYLOAD,
        sw_headers(SW_EXPECTED),
        SW_SECRET,
        scheme=providers.STANDARD_WEBHOOKS,
        now=SW_TIMESTAMP,
    )
    assert webhook.id == SW_MSG_ID
    assert webhook.timestamp == SW_TIMESTAMP
    assert webhook.body == SW_PAYLOAD
    assert webhook.json() == {"test": 2432232314}


def test_svix_preset_verifies_the_v1_vector_on_svix_headers() -> None:
    headers = {
        "svix-id": SW_MSG_ID,
        "svix-timestamp": str(SW_TIMESTAMP),
        "svix-signature": SW_EXPECTED,
    }
    webhook = verify(SW_PAYLOAD, headers, SW_SECRET, scheme=providers.SVIX, now=SW_TIMESTAMP)
    assert webhook.id == SW_MSG_ID


@pytest.mark.parametrize("negative", SW_NEGATIVES)
def test_standard_webhooks_v1_published_negatives_are_rejected(negative: str) -> None:
    with pytest.raises(VerificationError) as caught:
        sw_verify(negative, SW_SECRET)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


@pytest.mark.parametrize(
    "unpadded",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  # one "=" missing
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr",  # two "=" missing
    ],
)
def test_standard_webhooks_unpadded_whsec_secret_is_accepted(unpadded: str) -> None:
    key = base64.b64decode(unpadded + "=" * (-len(unpadded) % 4))
    content = f"{SW_MSG_ID}.{SW_TIMESTAMP}.".encode() + SW_PAYLOAD
    expected = "v1," + base64.b64encode(hmac.digest(key, content, "sha256")).decode()
    secret = "whsec_" + unpadded

    signature = sign(
        SW_PAYLOAD,
        secret,
        scheme=providers.STANDARD_WEBHOOKS,
        webhook_id=SW_MSG_ID,
        timestamp=SW_TIMESTAMP,
    )

    assert signature == expected
    assert sw_verify(expected, secret) is not None
    # The padded spelling of the same key verifies the same signature.
    padded = secret + "=" * (-len(unpadded) % 4)
    assert sw_verify(expected, padded) is not None


# --- Standard Webhooks v1a (Ed25519) ------------------------------------------------------


@pytest.mark.parametrize(
    ("signing_key", "expected"),
    [
        (ED_A_SIGNING, ED_A_EXPECTED),
        (ED_B_SIGNING_64, ED_B_EXPECTED),
        (ED_B_SIGNING_32, ED_B_EXPECTED),
    ],
    ids=["vector-A-seed32", "vector-B-seed+pub64", "vector-B-seed32"],
)
def test_ed25519_vector_signs_to_the_published_signature(signing_key: str, expected: str) -> None:
    signature = sign(
        SW_PAYLOAD,
        signing_key,
        scheme=providers.STANDARD_WEBHOOKS,
        webhook_id=SW_MSG_ID,
        timestamp=SW_TIMESTAMP,
    )
    assert signature == expected


@pytest.mark.parametrize(
    ("key", "signature"),
    [
        (ED_A_PUBLIC, ED_A_EXPECTED),
        (ED_A_SIGNING, ED_A_EXPECTED),
        (ED_B_PUBLIC, ED_B_EXPECTED),
        (ED_B_SIGNING_64, ED_B_EXPECTED),
        (ED_B_SIGNING_32, ED_B_EXPECTED),
    ],
    ids=["A-whpk", "A-whsk", "B-whpk", "B-whsk64", "B-whsk32"],
)
def test_ed25519_vector_verifies_with_public_or_signing_key(key: str, signature: str) -> None:
    webhook = sw_verify(signature, key)
    assert webhook is not None


@pytest.mark.parametrize(
    ("key", "other_signature"),
    [(ED_A_PUBLIC, ED_B_EXPECTED), (ED_B_PUBLIC, ED_A_EXPECTED)],
    ids=["A-key-B-signature", "B-key-A-signature"],
)
def test_ed25519_signature_of_another_key_is_rejected(key: str, other_signature: str) -> None:
    with pytest.raises(VerificationError) as caught:
        sw_verify(other_signature, key)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


def test_ed25519_vector_with_a_changed_last_signature_byte_is_rejected() -> None:
    raw = bytearray(base64.b64decode(ED_A_EXPECTED.removeprefix("v1a,")))
    raw[-1] ^= 0x01
    tampered = "v1a," + base64.b64encode(bytes(raw)).decode()
    with pytest.raises(VerificationError) as caught:
        sw_verify(tampered, ED_A_PUBLIC)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


@pytest.mark.parametrize("public_key", [ED_A_PUBLIC, ED_B_PUBLIC])
@pytest.mark.parametrize("scheme", STANDARD_SCHEMES, ids=scheme_id)
def test_public_only_whpk_key_refuses_to_sign(
    public_key: str, scheme: SignatureFormat | SignatureScheme
) -> None:
    with pytest.raises(InvalidSecretError):
        sign(SW_PAYLOAD, public_key, scheme=scheme, webhook_id=SW_MSG_ID, timestamp=SW_TIMESTAMP)


def test_signing_with_whsec_and_whsk_emits_both_entries_in_order() -> None:
    signature = sign(
        SW_PAYLOAD,
        [SW_SECRET, ED_A_SIGNING],
        scheme=providers.STANDARD_WEBHOOKS,
        webhook_id=SW_MSG_ID,
        timestamp=SW_TIMESTAMP,
    )
    assert signature == f"{SW_EXPECTED} {ED_A_EXPECTED}"


# --- mixed v1 / v1a headers: each key type picks out its own entries ------------------------

MIXED = f"{SW_EXPECTED} {ED_A_EXPECTED}"
WRONG_V1 = SW_NEGATIVES[1]
WRONG_V1A = ED_B_EXPECTED  # a valid signature, but by vector B's key


@pytest.mark.parametrize("key", [SW_SECRET, ED_A_PUBLIC, ED_A_SIGNING])
def test_mixed_v1_v1a_header_verifies_with_each_key_type(key: str) -> None:
    assert sw_verify(MIXED, key) is not None
    assert sw_verify(f"{ED_A_EXPECTED} {SW_EXPECTED}", key) is not None


def test_hmac_secret_ignores_a_valid_v1a_entry() -> None:
    with pytest.raises(VerificationError) as caught:
        sw_verify(f"{WRONG_V1} {ED_A_EXPECTED}", SW_SECRET)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


@pytest.mark.parametrize("key", [ED_A_PUBLIC, ED_A_SIGNING])
def test_ed25519_key_ignores_a_valid_v1_entry(key: str) -> None:
    with pytest.raises(VerificationError) as caught:
        sw_verify(f"{SW_EXPECTED} {WRONG_V1A}", key)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


def test_ed25519_public_key_rejects_a_v1_only_header() -> None:
    with pytest.raises(VerificationError) as caught:
        sw_verify(SW_EXPECTED, ED_A_PUBLIC)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


def test_hmac_secret_rejects_a_v1a_only_header() -> None:
    with pytest.raises(VerificationError) as caught:
        sw_verify(ED_A_EXPECTED, SW_SECRET)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


def test_rotation_list_of_hmac_and_public_key_accepts_either_entry() -> None:
    keys = [SW_SECRET, ED_A_PUBLIC]
    assert sw_verify(SW_EXPECTED, keys) is not None
    assert sw_verify(ED_A_EXPECTED, keys) is not None


# --- GitHub ---------------------------------------------------------------------------------


def test_github_vector_signs_to_the_documented_header() -> None:
    assert sign(GITHUB_PAYLOAD, GITHUB_SECRET, scheme=providers.GITHUB) == GITHUB_HEADER


def test_github_vector_verifies_through_the_preset() -> None:
    headers = {
        "X-Hub-Signature-256": GITHUB_HEADER,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "ping",
    }
    webhook = verify(GITHUB_PAYLOAD, headers, GITHUB_SECRET, scheme=providers.GITHUB)
    assert webhook.id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert webhook.event == "ping"
    assert webhook.scheme == "github"


def test_github_vector_rejects_a_different_secret() -> None:
    headers = {"X-Hub-Signature-256": GITHUB_HEADER}
    with pytest.raises(VerificationError) as caught:
        verify(GITHUB_PAYLOAD, headers, "It's a Secret to Nobody", scheme=providers.GITHUB)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


# --- Slack ----------------------------------------------------------------------------------


def test_slack_vector_body_is_the_documented_362_bytes() -> None:
    assert len(SLACK_BODY) == 362


def test_slack_vector_signs_to_the_documented_signature() -> None:
    signature = sign(SLACK_BODY, SLACK_SECRET, scheme=providers.SLACK, timestamp=SLACK_TIMESTAMP)
    assert signature == SLACK_SIGNATURE


def test_slack_vector_verifies_at_its_timestamp() -> None:
    headers = {
        "X-Slack-Signature": SLACK_SIGNATURE,
        "X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP),
    }
    webhook = verify(
        SLACK_BODY, headers, SLACK_SECRET, scheme=providers.SLACK, now=SLACK_TIMESTAMP
    )
    assert webhook.timestamp == SLACK_TIMESTAMP
    assert webhook.scheme == "slack"


def test_slack_vector_is_too_old_an_hour_later() -> None:
    headers = {
        "X-Slack-Signature": SLACK_SIGNATURE,
        "X-Slack-Request-Timestamp": str(SLACK_TIMESTAMP),
    }
    with pytest.raises(VerificationError) as caught:
        verify(
            SLACK_BODY, headers, SLACK_SECRET, scheme=providers.SLACK, now=SLACK_TIMESTAMP + 3600
        )
    assert caught.value.reason is VerificationFailure.TIMESTAMP_TOO_OLD


def test_slack_signature_is_hmac_of_the_v0_basestring() -> None:
    basestring = f"v0:{SLACK_TIMESTAMP}:".encode() + SLACK_BODY
    digest = hmac.new(SLACK_SECRET.encode(), basestring, hashlib.sha256).hexdigest()
    assert f"v0={digest}" == SLACK_SIGNATURE


# --- Stripe's documented header (parsing fixture) ---------------------------------------------


@pytest.mark.parametrize("scheme", [providers.STRIPE, SignatureFormat.STRIPE], ids=scheme_id)
def test_stripe_documented_header_parses_and_fails_only_on_the_signature(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    name = "Stripe-Signature" if scheme is providers.STRIPE else "X-Webhook-Signature"
    with pytest.raises(VerificationError) as caught:
        verify(b"{}", {name: STRIPE_DOC_HEADER}, "whsec_unknown", scheme=scheme, now=1492774577)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE
