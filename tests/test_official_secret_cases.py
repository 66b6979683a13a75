"""Secrets decode for Standard Webhooks and Svix exactly as their official libraries decode them.

Every official library (Python, JavaScript, Go, Rust, Java, C#, PHP, Ruby; Standard Webhooks'
``libraries/`` and Svix's ``svix-webhooks``) strips an optional ``whsec_`` and base64-decodes
the rest. The cases below restate, in this suite's own code, the official suites' cases:

* with and without the prefix: standard-webhooks ``libraries/python/tests/test_webhooks.py``
  (``test_signature_verification_with_and_without_prefix``), and the same case in its C#, Java
  and PHP suites; svix-webhooks ``python/tests/test_webhooks.py``, ``go/webhook_test.go``
  (``TestWebhookPrefix``), ``javascript/src/webhook.test.ts``, Java, Kotlin, Ruby, PHP, C#;
* unpadded secrets needing no, one and two ``=``: standard-webhooks
  ``libraries/python/tests/test_webhooks.py``
  (``test_signature_verification_with_unpadded_secret``);
* empty secrets, bare and prefixed: svix-webhooks ``go/webhook_test.go``
  (``TestWebhookNoEmptySecrets``, ``TestWebhookNoEmptyPrefixedSecrets``).

The installed ``standardwebhooks`` and ``svix`` packages are the cross-check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timezone

import pytest
import standardwebhooks.webhooks as standardwebhooks
import svix.webhooks
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_kit import InvalidSecretError, WebhookVerifier, providers, sign, verify
from webhook_kit.schemes import SignatureScheme

MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
PAYLOAD = b'{"test": 2432232314}'
SECRET = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the official suites' default secret
SCHEMES = [providers.STANDARD_WEBHOOKS, providers.SVIX]


def official_headers(key: bytes, timestamp: int, prefix: str = "webhook") -> dict[str, str]:
    """Headers signed as the official suites' fixtures sign them, from the raw key."""
    signed = f"{MSG_ID}.{timestamp}.".encode() + PAYLOAD
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        f"{prefix}-id": MSG_ID,
        f"{prefix}-timestamp": str(timestamp),
        f"{prefix}-signature": f"v1,{digest}",
    }


def padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
@pytest.mark.parametrize("secret", [SECRET, "whsec_" + SECRET], ids=["bare", "prefixed"])
def test_a_secret_verifies_with_and_without_the_prefix(
    scheme: SignatureScheme, secret: str
) -> None:
    now = int(time.time())
    headers = official_headers(base64.b64decode(SECRET), now)
    assert verify(PAYLOAD, headers, secret, scheme=scheme).body == PAYLOAD
    assert WebhookVerifier(secret, scheme=scheme).verify(PAYLOAD, headers).body == PAYLOAD


def test_svix_headers_verify_with_a_bare_secret() -> None:
    now = int(time.time())
    headers = official_headers(base64.b64decode(SECRET), now, prefix="svix")
    assert verify(PAYLOAD, headers, SECRET, scheme=providers.SVIX).body == PAYLOAD


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # needs no padding
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  # needs one "="
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr",  # needs two "="
    ],
    ids=["no-padding-needed", "one-missing", "two-missing"],
)
def test_an_unpadded_secret_decodes_as_if_padded(scheme: SignatureScheme, secret: str) -> None:
    now = int(time.time())
    headers = official_headers(base64.b64decode(padded(secret)), now)
    for given_secret in (secret, "whsec_" + secret):
        assert verify(PAYLOAD, headers, given_secret, scheme=scheme).body == PAYLOAD


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
@pytest.mark.parametrize("secret", ["", "whsec_"], ids=["empty", "prefix-only"])
def test_an_empty_secret_is_refused(scheme: SignatureScheme, secret: str) -> None:
    with pytest.raises(InvalidSecretError):
        WebhookVerifier(secret, scheme=scheme)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
@pytest.mark.parametrize(
    "secret",
    ["not a secret!", "hostile-input-secret", "whsec_not*base64", "abcde", "MfKQ 9r8G"],
)
def test_a_secret_that_is_not_base64_raises_saying_so(
    scheme: SignatureScheme, secret: str
) -> None:
    with pytest.raises(InvalidSecretError, match="not valid base64") as caught:
        WebhookVerifier(secret, scheme=scheme)
    assert secret.removeprefix("whsec_") not in str(caught.value)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_bytes_stay_a_raw_key(scheme: SignatureScheme) -> None:
    # As the Python libraries take bytes: the key itself, never decoded.
    now = int(time.time())
    raw = b"a raw key, not base64 at all!"
    assert verify(PAYLOAD, official_headers(raw, now), raw, scheme=scheme).body == PAYLOAD


def test_other_schemes_still_use_text_as_it_is() -> None:
    text = "hostile-input-secret"
    signature = sign(PAYLOAD, text, scheme=providers.GITHUB)
    expected = hmac.new(text.encode(), PAYLOAD, hashlib.sha256).hexdigest()
    assert signature == "sha256=" + expected


_KEYS = st.binary(min_size=1, max_size=64)


@settings(max_examples=50, deadline=None)
@given(key=_KEYS, prefixed=st.booleans(), unpadded=st.booleans())
def test_both_official_python_libraries_agree_on_every_base64_secret(
    key: bytes, prefixed: bool, unpadded: bool
) -> None:
    encoded = base64.b64encode(key).decode()
    secret = ("whsec_" if prefixed else "") + (encoded.rstrip("=") if unpadded else encoded)
    timestamp = 1614265330
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    ours = sign(
        PAYLOAD, secret, scheme=providers.STANDARD_WEBHOOKS, webhook_id=MSG_ID, timestamp=timestamp
    )
    assert ours == standardwebhooks.Webhook(secret).sign(MSG_ID, when, PAYLOAD.decode())
    assert ours == svix.webhooks.Webhook(secret).sign(MSG_ID, when, PAYLOAD.decode())


def test_the_official_sign_vector_holds_with_and_without_the_prefix() -> None:
    # standard-webhooks and svix-webhooks test_sign_function: this key, id, time and payload.
    for secret in ("whsec_" + SECRET, SECRET):
        assert (
            sign(
                PAYLOAD,
                secret,
                scheme=providers.STANDARD_WEBHOOKS,
                webhook_id=MSG_ID,
                timestamp=1614265330,
            )
            == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        )
