"""Every HMAC scheme decides through a constant-time comparison (`hmac.compare_digest`)."""

from __future__ import annotations

import hmac
from collections.abc import Callable

import pytest

from webhook_kit import SignatureFormat, VerificationError, schemes, verify
from webhook_kit.providers import GITHUB, SHOPIFY, SLACK, STANDARD_WEBHOOKS, STRIPE, SVIX
from webhook_kit.schemes import SignatureScheme
from webhook_kit.signing import FORMAT_SCHEMES

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_700_000_000
ALL = [*(FORMAT_SCHEMES[f] for f in SignatureFormat), GITHUB, STRIPE, SHOPIFY, SLACK, SVIX]
ALL.append(STANDARD_WEBHOOKS)


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, object]]:
    calls: list[tuple[object, object]] = []
    real: Callable[..., bool] = hmac.compare_digest

    def spy(a: object, b: object) -> bool:
        calls.append((a, b))
        return real(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(hmac, "compare_digest", spy)
    monkeypatch.setattr(schemes, "_compare", spy)
    return calls


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.name)
def test_a_genuine_and_a_wrong_signature_are_both_compared_in_constant_time(
    scheme: SignatureScheme, comparisons: list[tuple[object, object]]
) -> None:
    body = b'{"n":1}'
    headers = scheme.signature_headers(
        body, scheme.keys(SECRET), webhook_id="msg_1", timestamp=NOW
    )
    verify(body, headers, SECRET, scheme=scheme, now=NOW)
    assert comparisons, "the genuine signature was accepted without compare_digest"
    comparisons.clear()
    with pytest.raises(VerificationError):
        verify(body + b" ", headers, SECRET, scheme=scheme, now=NOW)
    assert comparisons, "the wrong signature was rejected without compare_digest"
