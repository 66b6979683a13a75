"""`sign` and the exact wire format of every `SignatureFormat`, rotation included."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from every_scheme import ALL_SCHEMES, scheme_id
from webhook_kit import (
    HEADER_EVENT,
    HEADER_ID,
    HEADER_SIGNATURE,
    InvalidInputError,
    SignatureFormat,
    SignatureScheme,
    VerificationError,
    VerificationFailure,
    providers,
    sign,
    verify,
)
from webhook_kit.schemes import HmacHeaderScheme

BODY = b'{"order_id": 42, "total": "9.99"}'
SECRET = "s3cret-signing-key"
OTHER = "an-older-secret"
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdefghijklmn").decode()
WHSEC_OTHER = "whsec_" + base64.b64encode(b"nmlkjihgfedcba9876543210").decode()
WEBHOOK_ID = "3f0c6a1e-8c47-4d3c-9b0e-2f8f3a1b7c55"
TIMESTAMP = 1_700_000_000


def secrets_for(scheme: SignatureFormat | SignatureScheme) -> tuple[str, str]:
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    if resolved.decodes_prefixed_keys:
        return WHSEC, WHSEC_OTHER
    return SECRET, OTHER


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def sign_any(scheme: SignatureFormat | SignatureScheme, secret: object) -> str:
    return sign(
        BODY,
        secret,  # type: ignore[arg-type]
        scheme=scheme,
        webhook_id=WEBHOOK_ID,
        timestamp=TIMESTAMP,
    )


# --- exact formats ----------------------------------------------------------------------------


def test_default_format_is_hex_sha256_with_prefix() -> None:
    assert sign(BODY, SECRET) == sign(BODY, SECRET, scheme=SignatureFormat.HEX_SHA256_WITH_PREFIX)


def test_hex_sha256_with_prefix_is_sha256_equals_lowercase_hex() -> None:
    value = sign(BODY, SECRET, scheme=SignatureFormat.HEX_SHA256_WITH_PREFIX)
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", value)
    assert value == "sha256=" + hmac_sha256(SECRET.encode(), BODY).hex()


def test_hex_sha256_is_bare_lowercase_hex() -> None:
    value = sign(BODY, SECRET, scheme=SignatureFormat.HEX_SHA256)
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert value == hmac_sha256(SECRET.encode(), BODY).hex()


def test_base64_sha256_is_padded_standard_base64() -> None:
    value = sign(BODY, SECRET, scheme=SignatureFormat.BASE64_SHA256)
    assert re.fullmatch(r"[A-Za-z0-9+/]{43}=", value)
    assert value == base64.b64encode(hmac_sha256(SECRET.encode(), BODY)).decode()


def test_standard_webhooks_is_v1_comma_base64_over_id_timestamp_body() -> None:
    value = sign(
        BODY,
        WHSEC,
        scheme=SignatureFormat.STANDARD_WEBHOOKS,
        webhook_id=WEBHOOK_ID,
        timestamp=TIMESTAMP,
    )
    key = base64.b64decode(WHSEC.removeprefix("whsec_"))
    content = f"{WEBHOOK_ID}.{TIMESTAMP}.".encode() + BODY
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", value)
    assert value == "v1," + base64.b64encode(hmac_sha256(key, content)).decode()


def test_stripe_is_t_equals_timestamp_comma_v1_equals_hex() -> None:
    value = sign(BODY, SECRET, scheme=SignatureFormat.STRIPE, timestamp=TIMESTAMP)
    assert re.fullmatch(rf"t={TIMESTAMP},v1=[0-9a-f]{{64}}", value)
    digest = hmac_sha256(SECRET.encode(), f"{TIMESTAMP}.".encode() + BODY).hex()
    assert value == f"t={TIMESTAMP},v1={digest}"


def test_body_only_formats_ignore_timestamp_and_id() -> None:
    for fmt in (
        SignatureFormat.HEX_SHA256_WITH_PREFIX,
        SignatureFormat.HEX_SHA256,
        SignatureFormat.BASE64_SHA256,
    ):
        assert sign(BODY, SECRET, scheme=fmt) == sign(
            BODY, SECRET, scheme=fmt, webhook_id="other", timestamp=123
        )


@pytest.mark.parametrize(
    ("fmt", "timestamped"),
    [
        (SignatureFormat.HEX_SHA256_WITH_PREFIX, False),
        (SignatureFormat.HEX_SHA256, False),
        (SignatureFormat.BASE64_SHA256, False),
        (SignatureFormat.STANDARD_WEBHOOKS, True),
        (SignatureFormat.STRIPE, True),
    ],
)
def test_timestamped_says_which_formats_sign_a_timestamp(
    fmt: SignatureFormat, timestamped: bool
) -> None:
    assert fmt.timestamped is timestamped


def test_format_values_are_stable_strings() -> None:
    assert [str(fmt) for fmt in SignatureFormat] == [
        "hex_sha256_with_prefix",
        "hex_sha256",
        "base64_sha256",
        "standard_webhooks",
        "stripe",
    ]


def test_shopify_preset_is_base64_hmac_of_body() -> None:
    value = sign(BODY, SECRET, scheme=providers.SHOPIFY)
    assert value == base64.b64encode(hmac_sha256(SECRET.encode(), BODY)).decode()


def test_github_preset_is_prefixed_hex_hmac_of_body() -> None:
    assert sign(BODY, SECRET, scheme=providers.GITHUB) == (
        "sha256=" + hmac_sha256(SECRET.encode(), BODY).hex()
    )


def test_slack_preset_is_v0_hex_over_v0_timestamp_body() -> None:
    value = sign(BODY, SECRET, scheme=providers.SLACK, timestamp=TIMESTAMP)
    assert value == "v0=" + hmac_sha256(SECRET.encode(), f"v0:{TIMESTAMP}:".encode() + BODY).hex()


def test_timestamp_changes_timestamped_signatures() -> None:
    for scheme in (SignatureFormat.STRIPE, providers.SLACK, providers.STRIPE):
        assert sign(BODY, SECRET, scheme=scheme, timestamp=TIMESTAMP) != sign(
            BODY, SECRET, scheme=scheme, timestamp=TIMESTAMP + 1
        )


def test_webhook_id_changes_standard_webhooks_signature() -> None:
    fmt = SignatureFormat.STANDARD_WEBHOOKS
    assert sign(BODY, WHSEC, scheme=fmt, webhook_id="a", timestamp=TIMESTAMP) != sign(
        BODY, WHSEC, scheme=fmt, webhook_id="b", timestamp=TIMESTAMP
    )


# --- rotation ---------------------------------------------------------------------------------


def test_rotation_standard_webhooks_has_one_space_separated_entry_per_secret() -> None:
    value = sign(
        BODY,
        [WHSEC, WHSEC_OTHER],
        scheme=SignatureFormat.STANDARD_WEBHOOKS,
        webhook_id=WEBHOOK_ID,
        timestamp=TIMESTAMP,
    )
    entries = value.split(" ")
    assert entries == [
        sign(
            BODY,
            secret,
            scheme=SignatureFormat.STANDARD_WEBHOOKS,
            webhook_id=WEBHOOK_ID,
            timestamp=TIMESTAMP,
        )
        for secret in (WHSEC, WHSEC_OTHER)
    ]


def test_rotation_stripe_has_one_v1_per_secret_after_one_t() -> None:
    value = sign(BODY, [SECRET, OTHER], scheme=SignatureFormat.STRIPE, timestamp=TIMESTAMP)
    content = f"{TIMESTAMP}.".encode() + BODY
    assert value == (
        f"t={TIMESTAMP},v1={hmac_sha256(SECRET.encode(), content).hex()}"
        f",v1={hmac_sha256(OTHER.encode(), content).hex()}"
    )


def test_rotation_stripe_preset_has_one_v1_per_secret() -> None:
    value = sign(BODY, (SECRET, OTHER, "third"), scheme=providers.STRIPE, timestamp=TIMESTAMP)
    assert value.count("v1=") == 3
    assert value.count("t=") == 1


@pytest.mark.parametrize(
    "scheme",
    [
        SignatureFormat.HEX_SHA256_WITH_PREFIX,
        SignatureFormat.HEX_SHA256,
        SignatureFormat.BASE64_SHA256,
        providers.GITHUB,
        providers.SHOPIFY,
        providers.SLACK,
    ],
    ids=scheme_id,
)
def test_rotation_body_only_and_single_value_formats_sign_with_the_first_secret(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    assert sign_any(scheme, [SECRET, OTHER]) == sign_any(scheme, SECRET)
    assert sign_any(scheme, [OTHER, SECRET]) == sign_any(scheme, OTHER)


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
@pytest.mark.parametrize("signer", [0, 1])
def test_verify_accepts_a_signature_made_by_any_secret_of_the_list(
    scheme: SignatureFormat | SignatureScheme, signer: int
) -> None:
    secrets = list(secrets_for(scheme))
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    headers = resolved.signature_headers(
        BODY, resolved.keys(secrets[signer]), webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP
    )
    webhook = verify(BODY, headers, secrets, scheme=scheme, now=TIMESTAMP)
    assert webhook.body == BODY
    # And the reverse order of the list: position does not matter for verifying.
    assert verify(BODY, headers, secrets[::-1], scheme=scheme, now=TIMESTAMP).body == BODY


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_verify_rejects_a_signature_by_a_secret_outside_the_list(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    secrets = list(secrets_for(scheme))
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    outsider = (
        "whsec_" + base64.b64encode(b"x" * 24).decode()
        if resolved.decodes_prefixed_keys
        else "outsider"
    )
    headers = resolved.signature_headers(
        BODY, resolved.keys(outsider), webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP
    )
    with pytest.raises(VerificationError) as caught:
        verify(BODY, headers, secrets, scheme=scheme, now=TIMESTAMP)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE


# --- signature_headers ------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_signature_headers_verify(scheme: SignatureFormat | SignatureScheme) -> None:
    secret = secrets_for(scheme)[0]
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    headers = resolved.signature_headers(
        BODY, resolved.keys(secret), webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP
    )
    webhook = verify(BODY, headers, secret, scheme=scheme, now=TIMESTAMP)
    assert webhook.body == BODY
    assert webhook.scheme == resolved.name


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_signature_headers_carry_the_value_sign_returns(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    secret = secrets_for(scheme)[0]
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    headers = resolved.signature_headers(
        BODY, resolved.keys(secret), webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP
    )
    assert sign_any(scheme, secret) in headers.values()


@pytest.mark.parametrize("fmt", list(SignatureFormat), ids=scheme_id)
def test_own_formats_put_the_signature_in_x_webhook_signature_and_the_id_in_x_webhook_id(
    fmt: SignatureFormat,
) -> None:
    secret = secrets_for(fmt)[0]
    headers = fmt.scheme.signature_headers(
        BODY, fmt.scheme.keys(secret), webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP
    )
    assert headers[HEADER_SIGNATURE] == sign_any(fmt, secret)
    assert headers[HEADER_ID] == WEBHOOK_ID
    assert fmt.scheme.event_header == HEADER_EVENT


def test_standard_webhooks_format_also_sends_the_spec_headers() -> None:
    fmt = SignatureFormat.STANDARD_WEBHOOKS
    headers = fmt.scheme.signature_headers(
        BODY, fmt.scheme.keys(WHSEC), webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP
    )
    assert headers["webhook-id"] == WEBHOOK_ID
    assert headers["webhook-timestamp"] == str(TIMESTAMP)
    assert headers["webhook-signature"] == headers[HEADER_SIGNATURE]
    assert headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize(
    ("preset", "expected_names"),
    [
        (providers.GITHUB, {"X-Hub-Signature-256", "X-GitHub-Delivery"}),
        (providers.SHOPIFY, {"X-Shopify-Hmac-Sha256", "X-Shopify-Webhook-Id"}),
        (providers.SLACK, {"X-Slack-Signature", "X-Slack-Request-Timestamp"}),
        (providers.STRIPE, {"Stripe-Signature"}),
        (
            providers.STANDARD_WEBHOOKS,
            {"webhook-id", "webhook-timestamp", "webhook-signature"},
        ),
        (
            providers.SVIX,
            {
                "svix-id",
                "svix-timestamp",
                "svix-signature",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
            },
        ),
    ],
    ids=scheme_id,
)
def test_provider_signature_headers_use_the_provider_header_names(
    preset: SignatureScheme, expected_names: set[str]
) -> None:
    secret = secrets_for(preset)[0]
    headers = preset.signature_headers(
        BODY, preset.keys(secret), webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP
    )
    assert set(headers) == expected_names


@pytest.mark.parametrize(
    ("preset", "id_header", "event_header", "timestamped"),
    [
        (providers.GITHUB, "X-GitHub-Delivery", "X-GitHub-Event", False),
        (providers.SHOPIFY, "X-Shopify-Webhook-Id", "X-Shopify-Topic", False),
        (providers.SLACK, None, None, True),
        (providers.STRIPE, None, None, True),
        (providers.STANDARD_WEBHOOKS, "webhook-id", None, True),
        (providers.SVIX, "svix-id", None, True),
    ],
    ids=scheme_id,
)
def test_provider_presets_name_their_dedup_and_event_headers(
    preset: SignatureScheme, id_header: str | None, event_header: str | None, timestamped: bool
) -> None:
    assert preset.id_header == id_header
    assert preset.event_header == event_header
    assert preset.timestamped is timestamped


# --- bytes, str, and argument checks ----------------------------------------------------------


def test_str_and_utf8_bytes_secrets_sign_identically() -> None:
    assert sign(BODY, "sécret-ключ") == sign(BODY, "sécret-ключ".encode())


@pytest.mark.parametrize("body", [bytearray(BODY), memoryview(BODY)], ids=["bytearray", "memory"])
def test_sign_accepts_bytes_like_bodies(body: bytearray | memoryview) -> None:
    assert sign(body, SECRET) == sign(BODY, SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [BODY.decode(), None, 42, {"order_id": 42}])
def test_sign_rejects_a_non_bytes_body(body: object) -> None:
    with pytest.raises(InvalidInputError, match="bytes"):
        sign(body, SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "scheme",
    [SignatureFormat.STANDARD_WEBHOOKS, providers.STANDARD_WEBHOOKS, providers.SVIX],
    ids=scheme_id,
)
@pytest.mark.parametrize("webhook_id", [None, ""])
def test_sign_requires_webhook_id_for_standard_webhooks(
    scheme: SignatureFormat | SignatureScheme, webhook_id: str | None
) -> None:
    with pytest.raises(InvalidInputError, match="webhook_id"):
        sign(BODY, WHSEC, scheme=scheme, webhook_id=webhook_id, timestamp=TIMESTAMP)


@pytest.mark.parametrize(
    "scheme",
    [
        SignatureFormat.STANDARD_WEBHOOKS,
        SignatureFormat.STRIPE,
        providers.STRIPE,
        providers.SLACK,
        providers.SVIX,
    ],
    ids=scheme_id,
)
def test_sign_requires_timestamp_for_timestamped_schemes(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    with pytest.raises(InvalidInputError, match="timestamp"):
        sign(BODY, WHSEC, scheme=scheme, webhook_id=WEBHOOK_ID)


@pytest.mark.parametrize("timestamp", [1.5, True, "1700000000"])
def test_sign_rejects_a_timestamp_that_is_not_whole_seconds(timestamp: object) -> None:
    with pytest.raises(InvalidInputError, match="timestamp"):
        sign(BODY, SECRET, scheme=SignatureFormat.STRIPE, timestamp=timestamp)  # type: ignore[arg-type]


@pytest.mark.parametrize("timestamp", [-1, 10**15], ids=["negative", "16-digits"])
@pytest.mark.parametrize(
    "scheme",
    [SignatureFormat.STRIPE, providers.SLACK, SignatureFormat.STANDARD_WEBHOOKS],
    ids=scheme_id,
)
def test_sign_rejects_a_timestamp_that_verify_can_never_accept(
    scheme: SignatureFormat | SignatureScheme, timestamp: int
) -> None:
    # verify() reads 1 to 15 ASCII digits; sign() producing "t=-1" is a header no receiver
    # (webhook-kit's included) accepts, so it is bad input at the call that received it.
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    headers = resolved.signature_headers(
        BODY, resolved.keys(WHSEC), webhook_id=WEBHOOK_ID, timestamp=timestamp
    )
    with pytest.raises(VerificationError) as unverifiable:
        verify(BODY, headers, WHSEC, scheme=scheme, now=timestamp)
    assert unverifiable.value.reason is VerificationFailure.MALFORMED_HEADER
    with pytest.raises(InvalidInputError, match="timestamp"):
        sign(BODY, WHSEC, scheme=scheme, webhook_id=WEBHOOK_ID, timestamp=timestamp)


@pytest.mark.parametrize("scheme", ["sha256", None, 3, providers])
def test_sign_rejects_an_unknown_scheme(scheme: object) -> None:
    with pytest.raises(InvalidInputError, match="scheme"):
        sign(BODY, SECRET, scheme=scheme)  # type: ignore[arg-type]


def test_signature_scheme_repr_names_the_scheme() -> None:
    assert repr(providers.GITHUB) == "<HmacHeaderScheme github>"
    assert "svix" in repr(providers.SVIX)


# --- properties: sign then verify round-trips ---------------------------------------------------

_PREFIXES = ("whsec_", "whsk_", "whpk_")
_PLAIN_SECRETS = st.one_of(
    st.text(min_size=1, max_size=40).filter(lambda text: not text.startswith(_PREFIXES)),
    st.binary(min_size=1, max_size=64),
)


def _whsec(raw: bytes, padded: bool) -> str:
    encoded = base64.b64encode(raw).decode()
    return "whsec_" + (encoded if padded else encoded.rstrip("="))


_WHSEC_SECRETS = st.builds(_whsec, st.binary(min_size=1, max_size=64), st.booleans())
_BARE_BASE64_SECRETS = _WHSEC_SECRETS.map(lambda text: text.removeprefix("whsec_"))
_IDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
_TIMESTAMPS = st.integers(0, 10**15 - 1)
_BODIES = st.one_of(st.binary(max_size=256), st.text(max_size=64).map(str.encode))


def _secrets_strategy(scheme: SignatureFormat | SignatureScheme) -> st.SearchStrategy[object]:
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    one = (
        # Standard Webhooks and Svix decode every str secret as base64: bytes are raw keys.
        st.one_of(st.binary(min_size=1, max_size=64), _WHSEC_SECRETS, _BARE_BASE64_SECRETS)
        if resolved.decodes_prefixed_keys
        else (_PLAIN_SECRETS)
    )
    return st.one_of(one, st.lists(one, min_size=1, max_size=4))


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_sign_then_verify_round_trips(
    scheme: SignatureFormat | SignatureScheme, data: st.DataObject
) -> None:
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    body = data.draw(_BODIES, label="body")
    secret = data.draw(_secrets_strategy(scheme), label="secret")
    webhook_id = data.draw(_IDS, label="webhook_id")
    timestamp = data.draw(_TIMESTAMPS, label="timestamp")

    headers = resolved.signature_headers(
        body, resolved.keys(secret), webhook_id=webhook_id, timestamp=timestamp
    )
    webhook = verify(body, headers, secret, scheme=scheme, now=timestamp)  # type: ignore[arg-type]

    assert webhook.body == body
    assert webhook.scheme == resolved.name
    assert webhook.id == (webhook_id if resolved.id_header is not None else None)
    assert webhook.timestamp == (timestamp if resolved.timestamped else None)
    value = sign(body, secret, scheme=scheme, webhook_id=webhook_id, timestamp=timestamp)  # type: ignore[arg-type]
    assert value in headers.values()
    # List-carrying formats sign with every secret, the others with the first one only.
    if isinstance(secret, list):
        carries_list = not isinstance(resolved, HmacHeaderScheme)
        for one in secret if carries_list else secret[:1]:
            assert verify(body, headers, one, scheme=scheme, now=timestamp).body == body


@pytest.mark.parametrize(
    "scheme",
    [SignatureFormat.STANDARD_WEBHOOKS, providers.STANDARD_WEBHOOKS, providers.SVIX],
    ids=scheme_id,
)
@settings(max_examples=30, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    body=_BODIES,
    webhook_id=_IDS,
    timestamp=_TIMESTAMPS,
)
def test_ed25519_sign_then_verify_round_trips(
    scheme: SignatureFormat | SignatureScheme,
    seed: bytes,
    body: bytes,
    webhook_id: str,
    timestamp: int,
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    signing_key = "whsk_" + base64.b64encode(seed).decode()
    public_key = "whpk_" + base64.b64encode(public).decode()
    resolved = scheme.scheme if isinstance(scheme, SignatureFormat) else scheme
    headers = resolved.signature_headers(
        body, resolved.keys(signing_key), webhook_id=webhook_id, timestamp=timestamp
    )
    for key in (public_key, signing_key):
        webhook = verify(body, headers, key, scheme=scheme, now=timestamp)
        assert (webhook.body, webhook.id, webhook.timestamp) == (body, webhook_id, timestamp)
