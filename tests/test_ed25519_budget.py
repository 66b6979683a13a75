"""Forged ``v1a`` entries cannot buy CPU time: a request costs at most `MAX_ED25519_CHECKS`
Ed25519 verifications, counted here at the call into the public-key verify."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_kit import (
    InvalidSecretError,
    VerificationError,
    VerificationFailure,
    WebhookVerifier,
    ed25519,
    providers,
    verify,
)
from webhook_kit.header_parsing import MAX_SIGNATURES
from webhook_kit.schemes import MAX_ED25519_CHECKS, MAX_ED25519_KEYS

NOW = 1_700_000_000
BODY = b'{"type": "invoice.paid"}'
SCHEME = providers.STANDARD_WEBHOOKS
OLD_SEED, NEW_SEED, OTHER_SEED = bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96))


def whsk(seed: bytes) -> str:
    return "whsk_" + base64.b64encode(seed).decode()


def whpk(seed: bytes) -> str:
    return "whpk_" + base64.b64encode(ed25519.public_key_of(seed)).decode()


class Counter:
    calls = 0


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Count every Ed25519 public-key verification webhook-kit makes."""
    counter = Counter()
    real = ed25519.verify

    def counting(public_key: bytes, signature: bytes, message: bytes) -> bool:
        counter.calls += 1
        return real(public_key, signature, message)

    monkeypatch.setattr(ed25519, "verify", counting)
    return counter


def signed_headers(*seeds: bytes) -> dict[str, str]:
    return SCHEME.signature_headers(
        BODY, SCHEME.keys([whsk(seed) for seed in seeds]), webhook_id="msg_1", timestamp=NOW
    )


def forged(entries: list[str]) -> dict[str, str]:
    headers = signed_headers(OTHER_SEED)
    headers["webhook-signature"] = " ".join(entries)
    return headers


def random_entry(number: int) -> str:
    # Canonical, well-formed 64-byte signatures: each one is worth a real verification.
    raw = number.to_bytes(2, "big") * 32
    return "v1a," + base64.b64encode(raw).decode()


def test_a_header_full_of_forged_v1a_entries_costs_a_bounded_number_of_checks(
    checks: Counter,
) -> None:
    keys = [whpk(OLD_SEED), whpk(NEW_SEED)]
    headers = forged([random_entry(n) for n in range(MAX_SIGNATURES)])
    with pytest.raises(VerificationError) as caught:
        verify(BODY, headers, keys, scheme=SCHEME, now=NOW)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE
    # Before the budget: every entry against every key, 32 x 2 = 64 verifications.
    assert checks.calls == MAX_ED25519_CHECKS


def test_entries_that_cannot_be_signatures_cost_no_check(checks: Counter) -> None:
    short = "v1a," + base64.b64encode(bytes(63)).decode()
    long = "v1a," + base64.b64encode(bytes(66)).decode()
    unpadded = "v1a," + base64.b64encode(bytes(64)).decode().rstrip("=")
    with pytest.raises(VerificationError):
        verify(
            BODY,
            forged([short, long, unpadded, "v1a,", "v1a"]),
            whpk(OLD_SEED),
            scheme=SCHEME,
            now=NOW,
        )
    assert checks.calls == 0


@settings(max_examples=60, deadline=None)
@given(entries=st.lists(st.integers(0, 2**16 - 1), max_size=MAX_SIGNATURES))
def test_no_header_costs_more_than_the_budget(entries: list[int]) -> None:
    calls = 0
    real = ed25519.verify

    def counting(public_key: bytes, signature: bytes, message: bytes) -> bool:
        nonlocal calls
        calls += 1
        return real(public_key, signature, message)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ed25519, "verify", counting)
        with pytest.raises(VerificationError):
            verify(
                BODY,
                forged([random_entry(n) for n in entries]),
                [whpk(OLD_SEED), whpk(NEW_SEED)],
                scheme=SCHEME,
                now=NOW,
            )
    assert calls <= MAX_ED25519_CHECKS


@pytest.mark.parametrize(
    ("signing", "verifying"),
    [
        ((NEW_SEED, OLD_SEED), (OLD_SEED,)),  # sender rotated first: its match comes second
        ((NEW_SEED, OLD_SEED), (OLD_SEED, NEW_SEED)),
        ((OLD_SEED,), (NEW_SEED, OLD_SEED)),  # receiver rotated first
        ((OTHER_SEED, OLD_SEED), (NEW_SEED, OLD_SEED)),  # the worst honest order: 4 checks
    ],
)
def test_an_honest_rotation_still_verifies_within_the_budget(
    signing: tuple[bytes, ...], verifying: tuple[bytes, ...], checks: Counter
) -> None:
    headers = signed_headers(*signing)
    webhook = verify(BODY, headers, [whpk(seed) for seed in verifying], scheme=SCHEME, now=NOW)
    assert webhook.body == BODY
    assert checks.calls <= MAX_ED25519_CHECKS


def test_a_v1_match_after_forged_v1a_entries_still_verifies(checks: Counter) -> None:
    whsec = "whsec_" + base64.b64encode(b"hmac-key-during-migration").decode()
    real = SCHEME.signature_headers(BODY, SCHEME.keys(whsec), webhook_id="msg_1", timestamp=NOW)
    entries = [random_entry(n) for n in range(8)] + [real["webhook-signature"]]
    headers = forged(entries)
    assert verify(BODY, headers, [whsec, whpk(OLD_SEED)], scheme=SCHEME, now=NOW).body == BODY
    assert checks.calls == MAX_ED25519_CHECKS  # one key: the first four entries, then v1


def test_more_ed25519_keys_than_a_rotation_needs_are_refused_at_construction() -> None:
    keys = [whpk(OLD_SEED), whpk(NEW_SEED), whpk(OTHER_SEED)]
    assert len(keys) > MAX_ED25519_KEYS
    with pytest.raises(InvalidSecretError, match="at most 2"):
        WebhookVerifier(keys, scheme=SCHEME)
    with pytest.raises(InvalidSecretError, match="at most 2"):
        verify(BODY, signed_headers(OLD_SEED), keys, scheme=providers.SVIX, now=NOW)


def test_signing_with_more_keys_is_still_allowed() -> None:
    headers = signed_headers(OLD_SEED, NEW_SEED, OTHER_SEED)
    assert headers["webhook-signature"].count("v1a,") == 3
    assert verify(BODY, headers, whpk(OTHER_SEED), scheme=SCHEME, now=NOW).body == BODY
