"""`StandardWebhooksScheme.bind`'s fast path: used for HMAC-only keys, and it always gives the
general path's answer (result, or error type, reason and header), on any input."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from every_scheme import resolved, scheme_id
from webhook_kit import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TOLERANCE,
    InvalidInputError,
    SignatureFormat,
    SignatureScheme,
    VerificationError,
    VerificationFailure,
    WebhookVerifier,
    providers,
    verify,
)
from webhook_kit.verification import VerificationSettings

KEY = b"standard-webhooks-key-24b"
WHSEC = "whsec_" + base64.b64encode(KEY).decode()
OTHER_WHSEC = "whsec_" + base64.b64encode(b"the-key-rotated-out-of-use").decode()
WHPK = "whpk_" + base64.b64encode(bytes(range(32))).decode()
WEBHOOK_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
NOW = 1_700_000_000

SCHEMES: list[SignatureFormat | SignatureScheme] = [
    providers.STANDARD_WEBHOOKS,
    providers.SVIX,
    SignatureFormat.STANDARD_WEBHOOKS,
]


def entry(body: bytes, webhook_id: str, timestamp: str, key: bytes = KEY) -> str:
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, content, hashlib.sha256)).decode()


def outcome(call: Any) -> tuple[object, ...]:
    try:
        result = call()
    except VerificationError as exc:
        return ("error", VerificationError, exc.reason, exc.header)
    except Exception as exc:  # any other exception type is part of the outcome
        return ("error", type(exc))
    return ("ok", type(result), tuple(result))


@pytest.mark.parametrize("scheme", SCHEMES, ids=scheme_id)
def test_the_fast_path_is_used_for_hmac_keys_only(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    for secret, fast in [
        (WHSEC, True),
        ([WHSEC, OTHER_WHSEC], True),  # a rotation
        ([WHSEC, WHPK], False),  # Ed25519 entries need the general path
        (WHPK, False),
    ]:
        built = VerificationSettings(secret, scheme, DEFAULT_TOLERANCE, 100)
        assert (built.verify != built._verify) is fast, secret


def test_a_rotated_key_verifies_on_the_fast_path() -> None:
    body = b'{"rotated": true}'
    headers = {
        "webhook-id": WEBHOOK_ID,
        "webhook-timestamp": str(NOW),
        "webhook-signature": entry(body, WEBHOOK_ID, str(NOW), b"the-key-rotated-out-of-use"),
    }
    verifier = WebhookVerifier([WHSEC, OTHER_WHSEC], scheme=providers.STANDARD_WEBHOOKS)
    assert verifier.verify(body, headers, NOW).id == WEBHOOK_ID


def test_a_forged_signature_fails_on_the_fast_path_with_the_signature_header() -> None:
    headers = {
        "webhook-id": WEBHOOK_ID,
        "webhook-timestamp": str(NOW),
        "webhook-signature": entry(b"other body", WEBHOOK_ID, str(NOW)),
    }
    verifier = WebhookVerifier(WHSEC, scheme=providers.STANDARD_WEBHOOKS)
    with pytest.raises(VerificationError) as caught:
        verifier.verify(b"body", headers, NOW)
    assert caught.value.reason is VerificationFailure.NO_MATCHING_SIGNATURE
    assert caught.value.header == "webhook-signature"


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_outside_the_window_fails_on_the_fast_path(offset: int) -> None:
    timestamp = str(NOW + offset)
    body = b"{}"
    headers = {
        "webhook-id": WEBHOOK_ID,
        "webhook-timestamp": timestamp,
        "webhook-signature": entry(body, WEBHOOK_ID, timestamp),
    }
    verifier = WebhookVerifier(WHSEC, scheme=providers.STANDARD_WEBHOOKS)
    expected = (
        VerificationFailure.TIMESTAMP_TOO_OLD
        if offset < 0
        else VerificationFailure.TIMESTAMP_IN_FUTURE
    )
    with pytest.raises(VerificationError) as caught:
        verifier.verify(body, headers, NOW)
    assert caught.value.reason is expected


# --- agreement on random inputs ----------------------------------------------------------------

_NAMES = {
    "id": ("webhook-id", "svix-id"),
    "timestamp": ("webhook-timestamp", "svix-timestamp"),
    "signature": ("webhook-signature", "svix-signature"),
}
_CASINGS = st.sampled_from([str, str.lower, str.upper, str.title, str.swapcase])
_NOW_VALUES = st.one_of(
    st.none(),
    st.just(NOW),
    st.integers(NOW - 400, NOW + 400),
    st.floats(NOW - 400, NOW + 400, allow_nan=False),
    st.just(datetime.fromtimestamp(NOW, tz=timezone.utc)),
    st.sampled_from([float("nan"), "1700000000", datetime(2023, 11, 14)]),
)


@st.composite
def _timestamps(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.integers(NOW - 400, NOW + 400).map(str),
            st.just(str(NOW)),
            st.just(str(NOW - 301)),
            st.just(str(NOW + 301)),
            st.just("0" + str(NOW)),  # a leading zero: the same instant
            st.just(str(NOW) + ".0"),
            st.just(" " + str(NOW)),
            st.just("-1"),
            st.just("9" * 16),
            st.just("\u0661\u0667" + "\u0660" * 8),  # Arabic-Indic digits: isdigit(), not ASCII
            st.text(max_size=12),
        )
    )


@st.composite
def _signature_values(draw: st.DrawFn, valid: str) -> object:
    other = "v1," + base64.b64encode(b"x" * 32).decode()
    v1a = "v1a," + base64.b64encode(b"y" * 64).decode()
    single = st.one_of(
        st.just(valid),
        st.just(other),
        st.just(v1a),
        st.just(valid.upper()),
        st.just(valid[3:]),  # no version
        st.just("v2" + valid[2:]),
        st.just(valid + "="),
        st.just(valid[:-2] + "é="),
        st.text(max_size=60),
    )
    value: object = " ".join(draw(st.lists(single, min_size=1, max_size=4)))
    return draw(
        st.one_of(
            st.just(value),
            st.just(value),
            st.just(" ".join([other] * 33 + [valid])),  # too many entries
            st.just(valid + " "),
            st.just("x" * 8193),
            st.sampled_from([None, b"bytes", 7]),
        )
    )


@st.composite
def _requests(
    draw: st.DrawFn, scheme: SignatureFormat | SignatureScheme
) -> tuple[Any, dict[Any, Any], Any, int]:
    """A correctly signed request, then none to three things about it changed."""
    target = resolved(scheme)
    body = draw(st.binary(max_size=64))
    values: dict[str, object] = {"id": WEBHOOK_ID, "timestamp": str(NOW)}
    now: object = NOW
    kind: type = bytes
    cap = DEFAULT_MAX_BODY_BYTES
    names = {role: _names_of(target, role)[0] for role in _NAMES}
    extra: dict[Any, Any] = {}
    changes = draw(st.lists(st.integers(0, 9), min_size=1, max_size=3))
    if draw(st.integers(0, 2)) == 0:
        changes = []  # a third of the requests are exactly as a sender makes them
    for change in changes:
        if change == 0:
            values["id"] = draw(st.one_of(st.text(max_size=20), st.just("i" * 8193), st.none()))
        elif change == 1:
            values["timestamp"] = draw(
                st.one_of(_timestamps(), st.sampled_from([None, 1700000000]))
            )
        elif change == 2:
            now = draw(_NOW_VALUES)
        elif change == 3:
            values["signature"] = "pending"  # drawn below, from the (changed) id and time
        elif change == 4:
            role = draw(st.sampled_from(list(_NAMES)))
            names[role] = draw(st.sampled_from(_names_of(target, role)))
        elif change == 5:
            names[draw(st.sampled_from(list(_NAMES)))] = None  # type: ignore[assignment]
        elif change == 6:
            kind = draw(st.sampled_from([bytearray, memoryview]))
        elif change == 7:
            cap = max(len(body) - draw(st.integers(0, 1)), 0)
        elif change == 8:
            extra[draw(st.text(max_size=20))] = draw(st.text(max_size=20))
        else:
            role = draw(st.sampled_from(list(_NAMES)))
            if names[role] is not None:
                names[role] = draw(_CASINGS)(names[role])
    webhook_id, timestamp = values["id"], values["timestamp"]
    signed_id = webhook_id if isinstance(webhook_id, str) else WEBHOOK_ID
    signed_time = timestamp if isinstance(timestamp, str) else str(NOW)
    signed_time = signed_time.lstrip("0") if signed_time.isdigit() else signed_time
    try:
        valid = entry(body, signed_id, signed_time)
    except UnicodeEncodeError:  # a lone surrogate: no sender could have signed it
        valid = entry(body, WEBHOOK_ID, str(NOW))
    if values.get("signature") == "pending":
        values["signature"] = draw(_signature_values(valid))
    else:
        values["signature"] = valid
    headers: dict[Any, Any] = {
        name: values[role] for role, name in names.items() if name is not None
    }
    headers.update(extra)
    return kind(body), headers, now, cap


def _names_of(target: Any, role: str) -> tuple[str, ...]:
    names: tuple[str, ...] = {
        "id": target.id_headers,
        "timestamp": target.timestamp_headers,
        "signature": target.signature_header_names,
    }[role]
    return names


@pytest.mark.parametrize("scheme", SCHEMES, ids=scheme_id)
@pytest.mark.parametrize("secret", [WHSEC, [OTHER_WHSEC, WHSEC]], ids=["one-key", "rotation"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_and_general_path_agree_on_random_inputs(
    scheme: SignatureFormat | SignatureScheme, secret: str | list[str], data: st.DataObject
) -> None:
    body, headers, now, cap = data.draw(_requests(scheme))
    built = VerificationSettings(secret, scheme, DEFAULT_TOLERANCE, cap)
    assert built.verify != built._verify  # the fast path is really under test
    general = outcome(lambda: built._verify(body, headers, now))
    assert outcome(lambda: built.verify(body, headers, now)) == general
    if cap == DEFAULT_MAX_BODY_BYTES:
        one_shot = outcome(lambda: verify(body, headers, secret, scheme=scheme, now=now))
        assert one_shot == general
        verifier = WebhookVerifier(secret, scheme=scheme)
        assert outcome(lambda: verifier.verify(body, headers, now)) == general


def _outcome_of(request: tuple[Any, ...]) -> object:
    body, headers, now, cap = request
    built = VerificationSettings(WHSEC, providers.STANDARD_WEBHOOKS, DEFAULT_TOLERANCE, cap)
    result = outcome(lambda: built.verify(body, headers, now))
    return result[0] if result[0] == "ok" else result[1:3]


@pytest.mark.parametrize(
    "expected",
    [
        "ok",
        (VerificationError, VerificationFailure.NO_MATCHING_SIGNATURE),
        (VerificationError, VerificationFailure.MISSING_HEADER),
        (VerificationError, VerificationFailure.MALFORMED_HEADER),
        (VerificationError, VerificationFailure.BODY_TOO_LARGE),
        (VerificationError, VerificationFailure.TIMESTAMP_TOO_OLD),
        (VerificationError, VerificationFailure.TIMESTAMP_IN_FUTURE),
    ],
    ids=lambda expected: expected if isinstance(expected, str) else expected[1].value,
)
def test_the_random_requests_reach_every_outcome(expected: object) -> None:
    """The agreement test is only worth something if its inputs verify, and fail, every way:
    for each outcome, Hypothesis searches the request strategy for one input that reaches it
    (a search per outcome, not a hope that one run of random draws covers them all)."""
    found = find(
        _requests(providers.STANDARD_WEBHOOKS),
        lambda request: _outcome_of(request) == expected,
        settings=settings(max_examples=20_000, deadline=None, database=None, derandomize=True),
    )
    assert _outcome_of(found) == expected


@pytest.mark.parametrize(
    ("now", "headers"),
    [
        (datetime(2023, 11, 14), "valid"),  # naive, on purpose
        (float("nan"), "valid"),
        ("1700000000", "valid"),
        (NOW, "list"),
        (NOW, "none"),
    ],
    ids=["naive-now", "nan-now", "str-now", "list-headers", "none-headers"],
)
@pytest.mark.parametrize("scheme", SCHEMES, ids=scheme_id)
def test_fast_path_and_general_path_agree_on_invalid_arguments(
    scheme: SignatureFormat | SignatureScheme, now: object, headers: str
) -> None:
    body = b"{}"
    names = resolved(scheme)
    valid = {
        names.id_headers[0]: WEBHOOK_ID,
        names.timestamp_headers[0]: str(NOW),
        names.signature_header_names[0]: entry(body, WEBHOOK_ID, str(NOW)),
    }
    given: Any = {"valid": valid, "list": list(valid.items()), "none": None}[headers]
    built = VerificationSettings(WHSEC, scheme, DEFAULT_TOLERANCE, DEFAULT_MAX_BODY_BYTES)
    assert built.verify != built._verify
    general = outcome(lambda: built._verify(body, given, now))
    assert general == ("error", InvalidInputError)
    assert outcome(lambda: built.verify(body, given, now)) == general
    assert outcome(lambda: verify(body, given, WHSEC, scheme=scheme, now=now)) == general
