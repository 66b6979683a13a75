"""The secrets rule: what each scheme does with the secrets users pass, and what it refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
from collections.abc import Callable

import pytest

from every_scheme import ALL_SCHEMES, scheme_id
from webhook_kit import (
    InvalidSecretError,
    MissingDependencyError,
    SignatureFormat,
    SignatureScheme,
    VerificationError,
    WebhookVerifier,
    providers,
    sign,
    verify,
)
from webhook_kit.keys import MAX_SECRETS, KeySet, resolve_keys

BODY = b'{"event": "ping", "n": 1}'
WEBHOOK_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
TIMESTAMP = 1_700_000_000
RAW_KEY = b"0123456789abcdefghijklmn"  # 24 bytes, the spec's minimum
WHSEC = "whsec_" + base64.b64encode(RAW_KEY).decode()
SEED = bytes(range(32))
WHSK = "whsk_" + base64.b64encode(SEED).decode()

NON_DECODING: dict[str, tuple[SignatureFormat | SignatureScheme, Callable[[bytes], str]]] = {
    "hex_sha256_with_prefix": (
        SignatureFormat.HEX_SHA256_WITH_PREFIX,
        lambda key: "sha256=" + hmac.new(key, BODY, hashlib.sha256).hexdigest(),
    ),
    "hex_sha256": (
        SignatureFormat.HEX_SHA256,
        lambda key: hmac.new(key, BODY, hashlib.sha256).hexdigest(),
    ),
    "base64_sha256": (
        SignatureFormat.BASE64_SHA256,
        lambda key: base64.b64encode(hmac.new(key, BODY, hashlib.sha256).digest()).decode(),
    ),
    "stripe_format": (
        SignatureFormat.STRIPE,
        lambda key: (
            f"t={TIMESTAMP},v1="
            + hmac.new(key, f"{TIMESTAMP}.".encode() + BODY, hashlib.sha256).hexdigest()
        ),
    ),
    "github": (
        providers.GITHUB,
        lambda key: "sha256=" + hmac.new(key, BODY, hashlib.sha256).hexdigest(),
    ),
    "shopify": (
        providers.SHOPIFY,
        lambda key: base64.b64encode(hmac.new(key, BODY, hashlib.sha256).digest()).decode(),
    ),
    "slack": (
        providers.SLACK,
        lambda key: (
            "v0=" + hmac.new(key, f"v0:{TIMESTAMP}:".encode() + BODY, hashlib.sha256).hexdigest()
        ),
    ),
    "stripe": (
        providers.STRIPE,
        lambda key: (
            f"t={TIMESTAMP},v1="
            + hmac.new(key, f"{TIMESTAMP}.".encode() + BODY, hashlib.sha256).hexdigest()
        ),
    ),
}

DECODING: list[SignatureFormat | SignatureScheme] = [
    SignatureFormat.STANDARD_WEBHOOKS,
    providers.STANDARD_WEBHOOKS,
    providers.SVIX,
]


def sign_at(secret: object, scheme: SignatureFormat | SignatureScheme) -> str:
    return sign(
        BODY,
        secret,  # type: ignore[arg-type]
        scheme=scheme,
        webhook_id=WEBHOOK_ID,
        timestamp=TIMESTAMP,
    )


def standard_v1(key: bytes) -> str:
    content = f"{WEBHOOK_ID}.{TIMESTAMP}.".encode() + BODY
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- any non-empty str/bytes is used as-is -----------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    ["plain secret", "sécret-ключ-🔑", WHSEC, WHSK, "whpk_" + b64(SEED), "whsec_!!!not base64"],
    ids=["plain", "non-ascii", "whsec", "whsk", "whpk", "whsec-invalid"],
)
@pytest.mark.parametrize("name", list(NON_DECODING))
def test_non_decoding_schemes_use_a_str_secret_as_its_utf8_bytes(name: str, secret: str) -> None:
    scheme, expected = NON_DECODING[name]
    assert sign_at(secret, scheme) == expected(secret.encode("utf-8"))


@pytest.mark.parametrize("name", list(NON_DECODING))
def test_non_decoding_schemes_use_a_bytes_secret_raw(name: str) -> None:
    scheme, expected = NON_DECODING[name]
    key = b"\x00\xff\xfe raw bytes, not UTF-8"
    assert sign_at(key, scheme) == expected(key)


@pytest.mark.parametrize("scheme", [SignatureFormat.STRIPE, providers.STRIPE], ids=scheme_id)
def test_stripe_uses_the_whole_whsec_string_as_the_hmac_key(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    secret = "whsec_" + b64(RAW_KEY)
    content = f"{TIMESTAMP}.".encode() + BODY
    by_hand = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).hexdigest()
    decoded = hmac.new(RAW_KEY, content, hashlib.sha256).hexdigest()

    signature = sign(BODY, secret, scheme=scheme, timestamp=TIMESTAMP)

    assert signature == f"t={TIMESTAMP},v1={by_hand}"
    assert decoded not in signature
    header = "Stripe-Signature" if scheme is providers.STRIPE else "X-Webhook-Signature"
    forged = {header: f"t={TIMESTAMP},v1={decoded}"}
    with pytest.raises(VerificationError):
        verify(BODY, forged, secret, scheme=scheme, now=TIMESTAMP)


# --- only Standard Webhooks / Svix decode whsec_ -------------------------------------------------


@pytest.mark.parametrize("scheme", DECODING, ids=scheme_id)
def test_standard_webhooks_schemes_base64_decode_whsec(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    assert sign_at(WHSEC, scheme) == standard_v1(RAW_KEY)


@pytest.mark.parametrize("scheme", DECODING, ids=scheme_id)
@pytest.mark.parametrize("raw", [b"x" * 24, b"y" * 25, b"z" * 26, bytes(range(64))])
def test_whsec_padding_is_optional(scheme: SignatureFormat | SignatureScheme, raw: bytes) -> None:
    padded = "whsec_" + b64(raw)
    unpadded = padded.rstrip("=")
    assert sign_at(unpadded, scheme) == sign_at(padded, scheme) == standard_v1(raw)


@pytest.mark.parametrize("scheme", DECODING, ids=scheme_id)
def test_standard_webhooks_base64_decode_an_unprefixed_str_secret_too(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    # As every official Standard Webhooks and Svix library does: the prefix is optional.
    bare = b64(RAW_KEY)
    assert sign_at(bare, scheme) == standard_v1(RAW_KEY) == sign_at("whsec_" + bare, scheme)


@pytest.mark.parametrize("scheme", DECODING, ids=scheme_id)
def test_standard_webhooks_use_a_bytes_whsec_secret_raw(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    assert sign_at(WHSEC.encode(), scheme) == standard_v1(WHSEC.encode())


def test_decoding_rule_is_per_scheme_for_the_same_secret() -> None:
    assert resolve_keys(WHSEC, True).hmac == (RAW_KEY,)
    assert resolve_keys(WHSEC, False).hmac == (WHSEC.encode(),)
    assert resolve_keys(WHSEC, True).hmac == (RAW_KEY,)


def test_str_and_bytes_of_the_same_text_are_not_conflated_by_the_key_cache() -> None:
    assert resolve_keys(WHSEC, True).hmac == (RAW_KEY,)
    assert resolve_keys(WHSEC.encode(), True).hmac == (WHSEC.encode(),)
    assert resolve_keys(WHSEC, True).hmac == (RAW_KEY,)


def test_list_and_tuple_of_secrets_decode_to_the_same_keys_in_order() -> None:
    keys = resolve_keys([WHSEC, "cGxhaW4=", b"raw"], True)
    assert keys.hmac == (RAW_KEY, b"plain", b"raw")
    assert resolve_keys((WHSEC, "cGxhaW4=", b"raw"), True) == keys


def test_ed25519_keys_are_sorted_into_signing_and_public() -> None:
    public = "whpk_" + b64(bytes(32))
    keys = resolve_keys([WHSEC, WHSK, public], True)
    assert keys.hmac == (RAW_KEY,)
    assert keys.ed25519_signing == (SEED,)
    assert keys.ed25519_public == (bytes(32),)


def test_a_list_mutated_after_use_is_read_afresh() -> None:
    secrets = ["first-secret"]
    signature = sign(BODY, "second-secret")
    headers = {"X-Webhook-Signature": signature}
    with pytest.raises(VerificationError):
        verify(BODY, headers, secrets)
    secrets.append("second-secret")
    assert verify(BODY, headers, secrets).body == BODY


def test_up_to_max_secrets_are_accepted() -> None:
    secrets = [f"secret-{n}" for n in range(MAX_SECRETS)]
    headers = {"X-Webhook-Signature": sign(BODY, secrets[-1])}
    assert verify(BODY, headers, secrets).body == BODY


# --- invalid secrets: InvalidSecretError (a ValueError) at the call -----------------------------

INVALID_EVERYWHERE: list[object] = [
    "",
    b"",
    [],
    (),
    ["ok", ""],
    [b""],
    ["ok", 3],
    [None],
    ["ok", bytearray(b"x")],
    [["nested"]],
    42,
    None,
    bytearray(b"secret"),
    {"secret": "x"},
    [f"s{n}" for n in range(MAX_SECRETS + 1)],
]

INVALID_FOR_STANDARD_WEBHOOKS: list[str] = [
    "whsec_",
    "whsec_!!!!",
    "whsec_abcde",  # 5 characters: 1 mod 4 cannot be padded into base64
    "whsec_ab cd",
    "whsec_YWJj\nZA==",
    "whsec_-_-_",  # URL-safe alphabet is not standard base64
    "whsec_é",
    "whsk_",
    "whpk_",
    "whsk_" + b64(bytes(16)),
    "whsk_" + b64(bytes(33)),
    "whpk_" + b64(bytes(31)),
    "whpk_" + b64(bytes(48)),
    "whsk_!!!!",
]


def invalid_id(value: object) -> str:
    text = repr(value)
    return text if len(text) < 30 else text[:27] + "..."


@pytest.mark.parametrize("secret", INVALID_EVERYWHERE, ids=invalid_id)
@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_invalid_secret_raises_at_sign(
    scheme: SignatureFormat | SignatureScheme, secret: object
) -> None:
    with pytest.raises(InvalidSecretError) as caught:
        sign_at(secret, scheme)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("secret", INVALID_EVERYWHERE, ids=invalid_id)
@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_invalid_secret_raises_at_verify_before_the_headers_are_read(
    scheme: SignatureFormat | SignatureScheme, secret: object
) -> None:
    with pytest.raises(InvalidSecretError):
        verify(BODY, {}, secret, scheme=scheme)  # type: ignore[arg-type]
    with pytest.raises(InvalidSecretError):
        verify(BODY, {}, secret, scheme=scheme, tolerance=10)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", INVALID_EVERYWHERE, ids=invalid_id)
def test_invalid_secret_raises_at_webhook_verifier_construction(secret: object) -> None:
    with pytest.raises(InvalidSecretError):
        WebhookVerifier(secret)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", INVALID_FOR_STANDARD_WEBHOOKS, ids=invalid_id)
@pytest.mark.parametrize("scheme", DECODING, ids=scheme_id)
def test_undecodable_prefixed_key_raises_for_standard_webhooks(
    scheme: SignatureFormat | SignatureScheme, secret: str
) -> None:
    with pytest.raises(InvalidSecretError) as caught:
        WebhookVerifier(secret, scheme=scheme)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidSecretError):
        verify(BODY, {}, secret, scheme=scheme)
    with pytest.raises(InvalidSecretError):
        verify(BODY, {}, ["whsec_" + b64(b"k" * 24), secret], scheme=scheme)


@pytest.mark.parametrize("secret", INVALID_FOR_STANDARD_WEBHOOKS, ids=invalid_id)
def test_prefixed_text_is_a_plain_key_for_non_decoding_schemes(secret: str) -> None:
    signature = sign(BODY, secret, scheme=providers.GITHUB)
    verified = verify(BODY, {"X-Hub-Signature-256": signature}, secret, scheme=providers.GITHUB)
    assert verified.body == BODY


@pytest.mark.parametrize("secret", INVALID_FOR_STANDARD_WEBHOOKS, ids=invalid_id)
def test_invalid_secret_message_does_not_contain_the_secret(secret: str) -> None:
    with pytest.raises(InvalidSecretError) as caught:
        resolve_keys(["whsec_" + b64(b"k" * 24), secret], True)
    suffix = secret.split("_", 1)[1]
    if suffix:
        assert suffix not in str(caught.value)
    assert "secret 2 of 2" in str(caught.value)  # it names the position of the bad secret instead


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "the secret is empty"),
        ([""], "the secret is empty"),
        (b"", "the secret is empty"),
        ("whsec_", "the secret is 'whsec_' with no key after it"),
        (["key", ""], "secret 2 of 2 is empty"),
        (["", "key", "other"], "secret 1 of 3 is empty"),
    ],
)
def test_a_single_secret_is_the_secret_and_one_of_several_is_counted_from_one(
    secret: str | bytes | list[str], message: str
) -> None:
    with pytest.raises(InvalidSecretError) as caught:
        resolve_keys(secret, True)
    assert str(caught.value) == message


# --- Ed25519 key checks (at the call that receives the key) -------------------------------------


@pytest.mark.parametrize("scheme", DECODING, ids=scheme_id)
def test_whpk_of_64_bytes_is_refused_when_the_verifier_is_built(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    # A public key has exactly 32 bytes; the 64-byte allowance is for whsk_ (seed + public key).
    public_64 = "whpk_" + b64(bytes(64))
    with pytest.raises(InvalidSecretError):
        WebhookVerifier(public_64, scheme=scheme)


def test_whpk_of_64_bytes_is_refused_by_verify_before_any_header_is_read() -> None:
    # With the key accepted at construction, a sender who adds any v1a entry used to turn
    # verification into an InvalidSecretError; the key must be refused before any header is read.
    public_64 = "whpk_" + b64(bytes(64))
    headers = {
        "webhook-id": WEBHOOK_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": "v1a," + b64(bytes(64)),
    }
    with pytest.raises(InvalidSecretError):
        verify(BODY, {}, public_64, scheme=providers.STANDARD_WEBHOOKS, now=TIMESTAMP)
    with pytest.raises(InvalidSecretError):
        verify(BODY, headers, public_64, scheme=providers.STANDARD_WEBHOOKS, now=TIMESTAMP)


def _public_of(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = Ed25519PrivateKey.from_private_bytes(seed)
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_whsk_of_64_bytes_with_its_own_public_half_signs_like_the_seed() -> None:
    full = "whsk_" + b64(SEED + _public_of(SEED))
    scheme = providers.STANDARD_WEBHOOKS
    assert sign_at(full, scheme) == sign_at(WHSK, scheme)


def test_whsk_of_64_bytes_with_a_foreign_public_half_refuses_to_sign() -> None:
    mismatched = "whsk_" + b64(SEED + _public_of(bytes(32)))
    with pytest.raises(InvalidSecretError, match="public half"):
        sign_at(mismatched, providers.STANDARD_WEBHOOKS)


def test_whsk_of_64_bytes_with_a_foreign_public_half_is_refused_by_the_verifier() -> None:
    mismatched = "whsk_" + b64(SEED + _public_of(bytes(32)))
    with pytest.raises(InvalidSecretError):
        WebhookVerifier(mismatched, scheme=providers.STANDARD_WEBHOOKS)


def test_ed25519_key_without_cryptography_raises_missing_dependency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    never_cached = "whsk_" + b64(bytes([7]) * 32)
    with pytest.raises(MissingDependencyError, match="ed25519") as caught:
        resolve_keys(never_cached, True)
    assert isinstance(caught.value, ImportError)


def test_hmac_secrets_need_no_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    never_cached = "whsec_" + b64(b"never cached before, 24+ bytes")
    assert resolve_keys(never_cached, True).hmac == (b"never cached before, 24+ bytes",)


# --- KeySet never shows key material ---------------------------------------------------------


def test_keyset_repr_shows_counts_not_keys() -> None:
    keys = resolve_keys([WHSEC, WHSK, "cGxhaW4tc2VjcmV0LXRleHQ"], True)
    text = repr(keys)
    assert text == ("KeySet(hmac=<2 keys>, ed25519_signing=<1 keys>, ed25519_public=<0 keys>)")
    for material in (WHSEC, WHSK, "plain-secret-text", RAW_KEY.decode(), repr(SEED)):
        assert material not in text
    assert str(keys) == text


def test_keyset_is_immutable() -> None:
    keys = KeySet((b"k",))
    with pytest.raises(AttributeError):
        keys.hmac = (b"other",)  # type: ignore[misc]
