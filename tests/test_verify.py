"""`verify`: header lookup, time, tolerance, bodies, limits, failure reasons, results, reprs,
and the agreement of `HmacHeaderScheme.bind`'s fast path with the general path."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from every_scheme import ALL_SCHEMES, resolved, scheme_id
from webhook_kit import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TOLERANCE,
    InvalidInputError,
    InvalidPayloadError,
    SignatureFormat,
    SignatureScheme,
    VerificationError,
    VerificationFailure,
    VerifiedWebhook,
    WebhookVerifier,
    providers,
    verify,
)
from webhook_kit.schemes import StandardWebhooksScheme
from webhook_kit.verification import VerificationSettings

BODY = b'{"order_id": 42, "status": "paid"}'
SECRET = "s3cret-for-tests-only"
WHSEC = "whsec_" + base64.b64encode(b"standard-webhooks-key-24b").decode()
WEBHOOK_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
EVENT = "order.paid"
NOW = 1_700_000_000

TIMESTAMPED: list[SignatureFormat | SignatureScheme] = [
    SignatureFormat.STANDARD_WEBHOOKS,
    SignatureFormat.STRIPE,
    providers.STRIPE,
    providers.SLACK,
    providers.STANDARD_WEBHOOKS,
    providers.SVIX,
]
BODY_ONLY: list[SignatureFormat | SignatureScheme] = [
    SignatureFormat.HEX_SHA256_WITH_PREFIX,
    SignatureFormat.HEX_SHA256,
    SignatureFormat.BASE64_SHA256,
    providers.GITHUB,
    providers.SHOPIFY,
]
FAST_PATH: list[SignatureFormat | SignatureScheme] = [
    SignatureFormat.HEX_SHA256_WITH_PREFIX,
    SignatureFormat.HEX_SHA256,
    providers.GITHUB,
]


def secret_for(scheme: SignatureFormat | SignatureScheme) -> str:
    return WHSEC if resolved(scheme).decodes_prefixed_keys else SECRET


def signed(
    scheme: SignatureFormat | SignatureScheme,
    *,
    body: bytes = BODY,
    timestamp: int = NOW,
    webhook_id: str = WEBHOOK_ID,
    event: str | None = EVENT,
    secret: str | None = None,
) -> dict[str, str]:
    """The headers a sender of ``scheme`` puts on ``body`` (plus the event header, if any)."""
    target = resolved(scheme)
    headers = target.signature_headers(
        body,
        target.keys(secret or secret_for(scheme)),
        webhook_id=webhook_id,
        timestamp=timestamp,
    )
    if event is not None and target.event_header is not None:
        headers[target.event_header] = event
    return headers


def signature_header(scheme: SignatureFormat | SignatureScheme) -> str:
    target = resolved(scheme)
    names = getattr(target, "signature_header_names", None)
    return names[-1] if names else target.signature_header  # type: ignore[attr-defined, no-any-return]


def check(
    scheme: SignatureFormat | SignatureScheme,
    headers: Mapping[str, Any],
    *,
    body: Any = BODY,
    **kwargs: Any,
) -> VerifiedWebhook:
    kwargs.setdefault("now", NOW)
    return verify(body, headers, secret_for(scheme), scheme=scheme, **kwargs)


def reason_of(call: Callable[[], object]) -> VerificationFailure:
    with pytest.raises(VerificationError) as caught:
        call()
    return caught.value.reason


# --- header lookup ---------------------------------------------------------------------------

CASINGS: dict[str, Callable[[str], str]] = {
    "exact": lambda name: name,
    "lower": str.lower,
    "upper": str.upper,
    "swapcase": str.swapcase,
    "title": str.title,
}


@pytest.mark.parametrize("casing", list(CASINGS))
@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_plain_dict_header_names_match_in_any_case(
    scheme: SignatureFormat | SignatureScheme, casing: str
) -> None:
    headers = {CASINGS[casing](name): value for name, value in signed(scheme).items()}
    webhook = check(scheme, headers)
    assert webhook.body == BODY
    if resolved(scheme).id_header is not None:
        assert webhook.id == WEBHOOK_ID


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_starlette_headers_and_plain_dict_give_the_same_result(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    headers = signed(scheme)
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    assert check(scheme, Headers(raw=raw)) == check(scheme, headers)


def test_lowercase_asgi_headers_reach_the_github_preset() -> None:
    headers = {name.lower(): value for name, value in signed(providers.GITHUB).items()}
    webhook = check(providers.GITHUB, headers)
    assert (webhook.id, webhook.event) == (WEBHOOK_ID, EVENT)


# --- now ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        NOW,
        float(NOW) + 0.25,
        datetime.fromtimestamp(NOW, tz=timezone.utc),
        datetime.fromtimestamp(NOW, tz=timezone(timedelta(hours=-7))),
        datetime.fromtimestamp(NOW + 30, tz=timezone(timedelta(hours=5, minutes=30))),
    ],
    ids=["int", "float", "utc", "minus-7h", "plus-5h30"],
)
@pytest.mark.parametrize("scheme", TIMESTAMPED, ids=scheme_id)
def test_now_accepts_int_float_and_aware_datetime(
    scheme: SignatureFormat | SignatureScheme, now: float | datetime
) -> None:
    assert check(scheme, signed(scheme), now=now).timestamp == NOW


@pytest.mark.parametrize("scheme", TIMESTAMPED, ids=scheme_id)
def test_aware_datetime_in_another_zone_is_compared_as_the_same_instant(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    later = datetime.fromtimestamp(NOW + 301, tz=timezone(timedelta(hours=9)))
    assert reason_of(lambda: check(scheme, signed(scheme), now=later)) is (
        VerificationFailure.TIMESTAMP_TOO_OLD
    )


@pytest.mark.parametrize(
    "now",
    [
        datetime(2023, 11, 14, 22, 13, 20),  # naive
        math.nan,
        "1700000000",
        True,
    ],
    ids=["naive-datetime", "nan", "str", "bool"],
)
@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_invalid_now_is_refused_for_every_scheme(
    scheme: SignatureFormat | SignatureScheme, now: object
) -> None:
    # Bad input gets a clear exception at the call, whatever the scheme and the signature.
    with pytest.raises(InvalidInputError):
        check(scheme, signed(scheme), now=now)


@pytest.mark.parametrize("scheme", BODY_ONLY, ids=scheme_id)
def test_body_only_schemes_do_not_depend_on_now(scheme: SignatureFormat | SignatureScheme) -> None:
    webhook = check(scheme, signed(scheme), now=0)
    assert webhook.timestamp is None
    assert check(scheme, signed(scheme), now=10**12) == webhook


def test_now_defaults_to_the_clock() -> None:
    import time

    scheme = providers.STANDARD_WEBHOOKS
    fresh = signed(scheme, timestamp=int(time.time()))
    assert verify(BODY, fresh, WHSEC, scheme=scheme).body == BODY
    stale = signed(scheme, timestamp=int(time.time()) - 3600)
    assert reason_of(lambda: verify(BODY, stale, WHSEC, scheme=scheme)) is (
        VerificationFailure.TIMESTAMP_TOO_OLD
    )


# --- tolerance ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tolerance", [60, 0.5, DEFAULT_TOLERANCE])
@pytest.mark.parametrize("scheme", TIMESTAMPED, ids=scheme_id)
def test_tolerance_boundary_is_inclusive_both_ways(
    scheme: SignatureFormat | SignatureScheme, tolerance: float
) -> None:
    headers = signed(scheme)
    assert check(scheme, headers, now=NOW + tolerance, tolerance=tolerance).timestamp == NOW
    assert check(scheme, headers, now=NOW - tolerance, tolerance=tolerance).timestamp == NOW


@pytest.mark.parametrize("beyond", [1, 0.001])
@pytest.mark.parametrize("tolerance", [60, DEFAULT_TOLERANCE])
@pytest.mark.parametrize("scheme", TIMESTAMPED, ids=scheme_id)
def test_just_outside_tolerance_is_rejected_with_the_direction(
    scheme: SignatureFormat | SignatureScheme, tolerance: float, beyond: float
) -> None:
    headers = signed(scheme)
    with pytest.raises(VerificationError) as old:
        check(scheme, headers, now=NOW + tolerance + beyond, tolerance=tolerance)
    assert old.value.reason is VerificationFailure.TIMESTAMP_TOO_OLD
    with pytest.raises(VerificationError) as future:
        check(scheme, headers, now=NOW - tolerance - beyond, tolerance=tolerance)
    assert future.value.reason is VerificationFailure.TIMESTAMP_IN_FUTURE
    assert old.value.header is not None
    assert old.value.header.lower() in {name.lower() for name in headers}


@pytest.mark.parametrize("scheme", TIMESTAMPED, ids=scheme_id)
def test_default_tolerance_is_five_minutes(scheme: SignatureFormat | SignatureScheme) -> None:
    assert DEFAULT_TOLERANCE == 300
    headers = signed(scheme)
    assert check(scheme, headers, now=NOW + 300).body == BODY
    assert reason_of(lambda: check(scheme, headers, now=NOW + 301)) is (
        VerificationFailure.TIMESTAMP_TOO_OLD
    )
    assert reason_of(lambda: check(scheme, headers, now=NOW - 301)) is (
        VerificationFailure.TIMESTAMP_IN_FUTURE
    )


@pytest.mark.parametrize("scheme", TIMESTAMPED, ids=scheme_id)
def test_zero_tolerance_accepts_only_the_exact_second(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    headers = signed(scheme)
    assert check(scheme, headers, now=NOW, tolerance=0).body == BODY
    assert reason_of(lambda: check(scheme, headers, now=NOW + 0.5, tolerance=0)) is (
        VerificationFailure.TIMESTAMP_TOO_OLD
    )


@pytest.mark.parametrize(
    "tolerance",
    [-1, -0.001, math.nan, math.inf, -math.inf, "300", None, True],
    ids=["-1", "-0.001", "nan", "inf", "-inf", "str", "none", "bool"],
)
@pytest.mark.parametrize(
    "scheme", [SignatureFormat.HEX_SHA256_WITH_PREFIX, providers.SVIX], ids=scheme_id
)
def test_invalid_tolerance_is_refused(
    scheme: SignatureFormat | SignatureScheme, tolerance: object
) -> None:
    with pytest.raises(InvalidInputError, match="tolerance"):
        check(scheme, signed(scheme), tolerance=tolerance)
    with pytest.raises(InvalidInputError, match="tolerance"):
        WebhookVerifier(secret_for(scheme), scheme=scheme, tolerance=tolerance)  # type: ignore[arg-type]


# --- bodies and the size cap ---------------------------------------------------------------------


@pytest.mark.parametrize("body", [BODY.decode(), None, 42, [BODY], {"order_id": 42}])
@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_body_that_is_not_bytes_is_refused(
    scheme: SignatureFormat | SignatureScheme, body: object
) -> None:
    with pytest.raises(InvalidInputError, match="bytes"):
        check(scheme, signed(scheme), body=body)


@pytest.mark.parametrize("kind", [bytearray, memoryview])
@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_bytearray_and_memoryview_bodies_are_accepted(
    scheme: SignatureFormat | SignatureScheme, kind: Callable[[bytes], Any]
) -> None:
    webhook = check(scheme, signed(scheme), body=kind(BODY))
    assert type(webhook.body) is bytes
    assert webhook.body == BODY


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_body_at_the_cap_is_verified_and_one_byte_over_is_too_large(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    headers = signed(scheme)
    assert check(scheme, headers, max_body_bytes=len(BODY)).body == BODY
    with pytest.raises(VerificationError) as caught:
        check(scheme, headers, max_body_bytes=len(BODY) - 1)
    assert caught.value.reason is VerificationFailure.BODY_TOO_LARGE
    assert str(len(BODY) - 1) in str(caught.value)


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_too_large_is_reported_before_any_header_is_looked_at(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    assert reason_of(lambda: check(scheme, {}, max_body_bytes=1)) is (
        VerificationFailure.BODY_TOO_LARGE
    )


def test_default_cap_is_five_mebibytes() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 5 * 1024 * 1024
    body = b"x" * (DEFAULT_MAX_BODY_BYTES + 1)
    headers = signed(SignatureFormat.HEX_SHA256_WITH_PREFIX, body=body)
    scheme = SignatureFormat.HEX_SHA256_WITH_PREFIX
    assert reason_of(lambda: check(scheme, headers, body=body)) is (
        VerificationFailure.BODY_TOO_LARGE
    )
    assert check(scheme, headers, body=body, max_body_bytes=len(body)).body == body


@pytest.mark.parametrize("cap", [-1, 1.5, True, "10", None])
def test_invalid_max_body_bytes_is_refused(cap: object) -> None:
    with pytest.raises(InvalidInputError, match="max_body_bytes"):
        check(SignatureFormat.HEX_SHA256, signed(SignatureFormat.HEX_SHA256), max_body_bytes=cap)
    with pytest.raises(InvalidInputError, match="max_body_bytes"):
        WebhookVerifier(SECRET, max_body_bytes=cap)  # type: ignore[arg-type]


def test_empty_body_with_zero_cap_verifies() -> None:
    scheme = SignatureFormat.BASE64_SHA256
    assert check(scheme, signed(scheme, body=b""), body=b"", max_body_bytes=0).body == b""


# --- how many signatures -------------------------------------------------------------------

STANDARD: list[SignatureFormat | SignatureScheme] = [
    SignatureFormat.STANDARD_WEBHOOKS,
    providers.STANDARD_WEBHOOKS,
    providers.SVIX,
]
STRIPES: list[SignatureFormat | SignatureScheme] = [SignatureFormat.STRIPE, providers.STRIPE]
DUMMY_V1 = "v1," + base64.b64encode(bytes(32)).decode()
DUMMY_HEX = "0" * 64


def _replace(
    scheme: SignatureFormat | SignatureScheme, headers: dict[str, str], value: str
) -> dict[str, str]:
    names = getattr(resolved(scheme), "signature_header_names", None) or (
        resolved(scheme).signature_header,  # type: ignore[attr-defined]
    )
    return {name: (value if name in names else item) for name, item in headers.items()}


@pytest.mark.parametrize("scheme", STANDARD, ids=scheme_id)
def test_standard_webhooks_accept_32_signatures(scheme: SignatureFormat | SignatureScheme) -> None:
    headers = signed(scheme)
    valid = headers[signature_header(scheme)]
    value = " ".join([DUMMY_V1] * 31 + [valid])
    assert check(scheme, _replace(scheme, headers, value)).body == BODY


@pytest.mark.parametrize("scheme", STANDARD, ids=scheme_id)
def test_standard_webhooks_refuse_33_signatures(scheme: SignatureFormat | SignatureScheme) -> None:
    headers = signed(scheme)
    valid = headers[signature_header(scheme)]
    value = " ".join([DUMMY_V1] * 32 + [valid])
    assert reason_of(lambda: check(scheme, _replace(scheme, headers, value))) is (
        VerificationFailure.TOO_MANY_SIGNATURES
    )


@pytest.mark.parametrize("with_v0", [False, True])
@pytest.mark.parametrize("scheme", STRIPES, ids=scheme_id)
def test_stripe_accepts_32_v1_signatures(
    scheme: SignatureFormat | SignatureScheme, with_v0: bool
) -> None:
    headers = signed(scheme)
    t_field, valid = headers[signature_header(scheme)].split(",")
    fields = [t_field] + (["v0=" + DUMMY_HEX] if with_v0 else []) + ["v1=" + DUMMY_HEX] * 31
    value = ",".join([*fields, valid])
    assert check(scheme, _replace(scheme, headers, value)).body == BODY


@pytest.mark.parametrize("scheme", STRIPES, ids=scheme_id)
def test_stripe_refuses_33_v1_signatures(scheme: SignatureFormat | SignatureScheme) -> None:
    headers = signed(scheme)
    t_field, _ = headers[signature_header(scheme)].split(",")
    value = ",".join([t_field] + ["v1=" + DUMMY_HEX] * 33)
    assert reason_of(lambda: check(scheme, _replace(scheme, headers, value))) is (
        VerificationFailure.TOO_MANY_SIGNATURES
    )


@pytest.mark.parametrize("scheme", STRIPES, ids=scheme_id)
def test_stripe_refuses_a_flood_of_fields(scheme: SignatureFormat | SignatureScheme) -> None:
    headers = signed(scheme)
    value = headers[signature_header(scheme)] + ",x=1" * 100
    assert reason_of(lambda: check(scheme, _replace(scheme, headers, value))) is (
        VerificationFailure.TOO_MANY_SIGNATURES
    )


# --- every failure reason ------------------------------------------------------------------------

Mutator = Callable[[dict[str, str]], dict[str, Any]]


def _without(*names: str) -> Mutator:
    lowered = {name.lower() for name in names}
    return lambda headers: {k: v for k, v in headers.items() if k.lower() not in lowered}


def _set(name: str, value: Any) -> Mutator:
    return lambda headers: {**headers, name: value}


def _edit(name: str, edit: Callable[[str], str]) -> Mutator:
    return lambda headers: {**headers, name: edit(headers[name])}


def _flip_last(value: str) -> str:
    return value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]


class Failure(NamedTuple):
    name: str
    scheme: SignatureFormat | SignatureScheme
    mutate: Mutator
    reason: VerificationFailure
    header: str


FAILURES: list[Failure] = [
    # MISSING_HEADER
    Failure(
        "no-signature",
        SignatureFormat.HEX_SHA256_WITH_PREFIX,
        _without("X-Webhook-Signature"),
        VerificationFailure.MISSING_HEADER,
        "X-Webhook-Signature",
    ),
    Failure(
        "github-no-signature",
        providers.GITHUB,
        _without("X-Hub-Signature-256"),
        VerificationFailure.MISSING_HEADER,
        "X-Hub-Signature-256",
    ),
    Failure(
        "shopify-no-signature",
        providers.SHOPIFY,
        _without("X-Shopify-Hmac-Sha256"),
        VerificationFailure.MISSING_HEADER,
        "X-Shopify-Hmac-Sha256",
    ),
    Failure(
        "stripe-no-signature",
        providers.STRIPE,
        _without("Stripe-Signature"),
        VerificationFailure.MISSING_HEADER,
        "Stripe-Signature",
    ),
    Failure(
        "slack-no-timestamp",
        providers.SLACK,
        _without("X-Slack-Request-Timestamp"),
        VerificationFailure.MISSING_HEADER,
        "X-Slack-Request-Timestamp",
    ),
    Failure(
        "sw-no-id",
        providers.STANDARD_WEBHOOKS,
        _without("webhook-id"),
        VerificationFailure.MISSING_HEADER,
        "webhook-id",
    ),
    Failure(
        "sw-no-timestamp",
        providers.STANDARD_WEBHOOKS,
        _without("webhook-timestamp"),
        VerificationFailure.MISSING_HEADER,
        "webhook-timestamp",
    ),
    Failure(
        "sw-no-signature",
        providers.STANDARD_WEBHOOKS,
        _without("webhook-signature"),
        VerificationFailure.MISSING_HEADER,
        "webhook-signature",
    ),
    Failure(
        "svix-no-signature",
        providers.SVIX,
        _without("svix-signature", "webhook-signature"),
        VerificationFailure.MISSING_HEADER,
        "svix-signature",
    ),
    # MALFORMED_HEADER
    Failure(
        "non-ascii-signature",
        providers.GITHUB,
        _edit("X-Hub-Signature-256", lambda v: v[:-1] + "é"),
        VerificationFailure.MALFORMED_HEADER,
        "X-Hub-Signature-256",
    ),
    Failure(
        "too-long-signature",
        SignatureFormat.HEX_SHA256,
        _set("X-Webhook-Signature", "a" * 8193),
        VerificationFailure.MALFORMED_HEADER,
        "X-Webhook-Signature",
    ),
    Failure(
        "wrong-prefix",
        providers.GITHUB,
        _edit("X-Hub-Signature-256", lambda v: "sha1=" + v[7:]),
        VerificationFailure.MALFORMED_HEADER,
        "X-Hub-Signature-256",
    ),
    Failure(
        "non-text-signature",
        SignatureFormat.HEX_SHA256,
        _set("X-Webhook-Signature", b"abc"),
        VerificationFailure.MALFORMED_HEADER,
        "X-Webhook-Signature",
    ),
    Failure(
        "sw-nan-timestamp",
        providers.STANDARD_WEBHOOKS,
        _set("webhook-timestamp", "nan"),
        VerificationFailure.MALFORMED_HEADER,
        "webhook-timestamp",
    ),
    Failure(
        "slack-bad-timestamp",
        providers.SLACK,
        _set("X-Slack-Request-Timestamp", "12:00"),
        VerificationFailure.MALFORMED_HEADER,
        "X-Slack-Request-Timestamp",
    ),
    Failure(
        "stripe-no-t",
        providers.STRIPE,
        _edit("Stripe-Signature", lambda v: v.split(",", 1)[1]),
        VerificationFailure.MALFORMED_HEADER,
        "Stripe-Signature",
    ),
    Failure(
        "stripe-two-t",
        providers.STRIPE,
        _edit("Stripe-Signature", lambda v: f"t=1,{v}"),
        VerificationFailure.MALFORMED_HEADER,
        "Stripe-Signature",
    ),
    Failure(
        "too-long-id",
        providers.GITHUB,
        _set("X-GitHub-Delivery", "d" * 8193),
        VerificationFailure.MALFORMED_HEADER,
        "X-GitHub-Delivery",
    ),
    # TOO_MANY_SIGNATURES
    Failure(
        "sw-33",
        providers.STANDARD_WEBHOOKS,
        _set("webhook-signature", " ".join([DUMMY_V1] * 33)),
        VerificationFailure.TOO_MANY_SIGNATURES,
        "webhook-signature",
    ),
    # NO_MATCHING_SIGNATURE
    Failure(
        "hex-wrong",
        SignatureFormat.HEX_SHA256_WITH_PREFIX,
        _edit("X-Webhook-Signature", _flip_last),
        VerificationFailure.NO_MATCHING_SIGNATURE,
        "X-Webhook-Signature",
    ),
    Failure(
        "base64-wrong",
        SignatureFormat.BASE64_SHA256,
        _edit("X-Webhook-Signature", _flip_last),
        VerificationFailure.NO_MATCHING_SIGNATURE,
        "X-Webhook-Signature",
    ),
    Failure(
        "sw-wrong",
        providers.STANDARD_WEBHOOKS,
        _edit("webhook-signature", _flip_last),
        VerificationFailure.NO_MATCHING_SIGNATURE,
        "webhook-signature",
    ),
    Failure(
        "stripe-only-v0",
        providers.STRIPE,
        _edit("Stripe-Signature", lambda v: v.replace("v1=", "v0=")),
        VerificationFailure.NO_MATCHING_SIGNATURE,
        "Stripe-Signature",
    ),
    Failure(
        "slack-wrong",
        providers.SLACK,
        _edit("X-Slack-Signature", _flip_last),
        VerificationFailure.NO_MATCHING_SIGNATURE,
        "X-Slack-Signature",
    ),
    Failure(
        "sw-other-id",
        providers.STANDARD_WEBHOOKS,
        _set("webhook-id", "msg_other"),
        VerificationFailure.NO_MATCHING_SIGNATURE,
        "webhook-signature",
    ),
    # TIMESTAMP_TOO_OLD / TIMESTAMP_IN_FUTURE
    Failure(
        "sw-old",
        providers.STANDARD_WEBHOOKS,
        _set("webhook-timestamp", str(NOW - 301)),
        VerificationFailure.TIMESTAMP_TOO_OLD,
        "webhook-timestamp",
    ),
    Failure(
        "sw-future",
        providers.STANDARD_WEBHOOKS,
        _set("webhook-timestamp", str(NOW + 301)),
        VerificationFailure.TIMESTAMP_IN_FUTURE,
        "webhook-timestamp",
    ),
    Failure(
        "slack-old",
        providers.SLACK,
        _set("X-Slack-Request-Timestamp", str(NOW - 3600)),
        VerificationFailure.TIMESTAMP_TOO_OLD,
        "X-Slack-Request-Timestamp",
    ),
    Failure(
        "stripe-future",
        providers.STRIPE,
        _edit("Stripe-Signature", lambda v: v.replace(f"t={NOW}", f"t={NOW + 3600}")),
        VerificationFailure.TIMESTAMP_IN_FUTURE,
        "Stripe-Signature",
    ),
]


@pytest.mark.parametrize(
    ("scheme", "mutate", "reason", "header"),
    [case[1:] for case in FAILURES],
    ids=[case.name for case in FAILURES],
)
def test_failure_reason_and_header(
    scheme: SignatureFormat | SignatureScheme,
    mutate: Mutator,
    reason: VerificationFailure,
    header: str,
) -> None:
    with pytest.raises(VerificationError) as caught:
        check(scheme, mutate(signed(scheme)))
    assert caught.value.reason is reason
    assert caught.value.header == header


def test_body_too_large_has_no_header() -> None:
    with pytest.raises(VerificationError) as caught:
        check(providers.GITHUB, signed(providers.GITHUB), max_body_bytes=0)
    assert caught.value.reason is VerificationFailure.BODY_TOO_LARGE
    assert caught.value.header is None


def test_every_failure_reason_is_reached_by_the_table() -> None:
    reached = {case.reason for case in FAILURES} | {VerificationFailure.BODY_TOO_LARGE}
    assert reached == set(VerificationFailure)


def test_failure_reason_is_a_loggable_string() -> None:
    assert [str(reason) for reason in VerificationFailure] == [
        "missing_header",
        "malformed_header",
        "too_many_signatures",
        "no_matching_signature",
        "timestamp_too_old",
        "timestamp_in_future",
        "body_too_large",
    ]
    assert VerificationFailure.NO_MATCHING_SIGNATURE == "no_matching_signature"


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_changed_body_is_no_matching_signature(scheme: SignatureFormat | SignatureScheme) -> None:
    assert reason_of(lambda: check(scheme, signed(scheme), body=BODY + b" ")) is (
        VerificationFailure.NO_MATCHING_SIGNATURE
    )


@pytest.mark.parametrize("scheme", FAST_PATH, ids=scheme_id)
def test_uppercase_hex_signature_is_accepted(scheme: SignatureFormat | SignatureScheme) -> None:
    headers = signed(scheme)
    name = signature_header(scheme)
    prefix = resolved(scheme).prefix  # type: ignore[attr-defined]
    upper = {**headers, name: prefix + headers[name][len(prefix) :].upper()}
    assert check(scheme, upper).body == BODY


# --- the VerifiedWebhook -----------------------------------------------------------------------

FIELDS: list[tuple[SignatureFormat | SignatureScheme, str | None, str | None, int | None, str]] = [
    (
        SignatureFormat.HEX_SHA256_WITH_PREFIX,
        WEBHOOK_ID,
        EVENT,
        None,
        "webhook-kit/hex_sha256_with_prefix",
    ),
    (SignatureFormat.HEX_SHA256, WEBHOOK_ID, EVENT, None, "webhook-kit/hex_sha256"),
    (SignatureFormat.BASE64_SHA256, WEBHOOK_ID, EVENT, None, "webhook-kit/base64_sha256"),
    (SignatureFormat.STANDARD_WEBHOOKS, WEBHOOK_ID, EVENT, NOW, "webhook-kit/standard_webhooks"),
    (SignatureFormat.STRIPE, WEBHOOK_ID, EVENT, NOW, "webhook-kit/stripe"),
    (providers.GITHUB, WEBHOOK_ID, EVENT, None, "github"),
    (providers.SHOPIFY, WEBHOOK_ID, EVENT, None, "shopify"),
    (providers.SLACK, None, None, NOW, "slack"),
    (providers.STRIPE, None, None, NOW, "stripe"),
    (providers.STANDARD_WEBHOOKS, WEBHOOK_ID, None, NOW, "standard-webhooks"),
    (providers.SVIX, WEBHOOK_ID, None, NOW, "svix"),
]


@pytest.mark.parametrize(
    ("scheme", "webhook_id", "event", "timestamp", "name"),
    FIELDS,
    ids=[scheme_id(f[0]) for f in FIELDS],
)
def test_verified_webhook_fields(
    scheme: SignatureFormat | SignatureScheme,
    webhook_id: str | None,
    event: str | None,
    timestamp: int | None,
    name: str,
) -> None:
    webhook = check(scheme, signed(scheme))
    assert isinstance(webhook, VerifiedWebhook)
    assert webhook.body == BODY
    assert webhook.id == webhook_id
    assert webhook.event == event
    assert webhook.timestamp == timestamp
    assert webhook.scheme == name == resolved(scheme).name


@pytest.mark.parametrize(
    "scheme",
    [SignatureFormat.HEX_SHA256_WITH_PREFIX, providers.GITHUB, providers.SHOPIFY],
    ids=scheme_id,
)
def test_absent_id_and_event_headers_give_none(scheme: SignatureFormat | SignatureScheme) -> None:
    target = resolved(scheme)
    headers = _without(target.id_header or "", target.event_header or "")(signed(scheme))
    webhook = check(scheme, headers)
    assert (webhook.id, webhook.event) == (None, None)


def test_svix_prefers_svix_headers_over_webhook_headers() -> None:
    svix = signed(providers.SVIX, webhook_id="msg_svix")
    generic = signed(providers.STANDARD_WEBHOOKS, webhook_id="msg_generic")
    headers = {k: v for k, v in svix.items() if k.startswith("svix-")} | generic
    assert check(providers.SVIX, headers).id == "msg_svix"


def test_svix_accepts_unbranded_webhook_headers() -> None:
    generic = signed(providers.STANDARD_WEBHOOKS)
    assert check(providers.SVIX, generic).id == WEBHOOK_ID


def test_standard_webhooks_preset_ignores_svix_headers() -> None:
    svix_only = {k: v for k, v in signed(providers.SVIX).items() if k.startswith("svix-")}
    assert reason_of(lambda: check(providers.STANDARD_WEBHOOKS, svix_only)) is (
        VerificationFailure.MISSING_HEADER
    )


def test_own_standard_webhooks_format_accepts_spec_headers_alone() -> None:
    scheme = SignatureFormat.STANDARD_WEBHOOKS
    spec_only = {k: v for k, v in signed(scheme).items() if k.startswith("webhook-")}
    assert check(scheme, spec_only).id == WEBHOOK_ID


def test_json_decodes_the_body() -> None:
    webhook = check(providers.GITHUB, signed(providers.GITHUB))
    assert webhook.json() == {"order_id": 42, "status": "paid"}


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe{}", b"", b'{"a": 1'])
def test_json_of_a_non_json_body_is_invalid_payload(body: bytes) -> None:
    scheme = providers.GITHUB
    webhook = check(scheme, signed(scheme, body=body), body=body)
    with pytest.raises(InvalidPayloadError) as caught:
        webhook.json()
    assert isinstance(caught.value, InvalidInputError)
    assert isinstance(caught.value, ValueError)


# --- nothing secret in reprs or messages ---------------------------------------------------------


def _correct_signatures(scheme: SignatureFormat | SignatureScheme) -> list[str]:
    """Every signature value (and each of its parts) a correct sender would send."""
    values: list[str] = []
    for name, value in signed(scheme).items():
        if "sig" in name.lower() or "hmac" in name.lower():
            values.append(value)
            for part in value.replace(",", " ").replace("=", " ").split():
                if len(part) >= 32:
                    values.append(part)
    return values


@pytest.mark.parametrize(
    ("scheme", "mutate"),
    [(case.scheme, case.mutate) for case in FAILURES],
    ids=[case.name for case in FAILURES],
)
def test_verification_error_never_shows_the_secret_or_any_signature(
    scheme: SignatureFormat | SignatureScheme, mutate: Mutator
) -> None:
    headers = mutate(signed(scheme))
    sent = [v for k, v in headers.items() if isinstance(v, str) and "sig" in k.lower()]
    with pytest.raises(VerificationError) as caught:
        check(scheme, headers)
    shown = f"{caught.value!s} {caught.value!r} {caught.value.args!r}"
    secret = secret_for(scheme)
    assert secret not in shown
    assert secret.removeprefix("whsec_") not in shown
    for value in _correct_signatures(scheme) + [s for s in sent if len(s) >= 32]:
        assert value not in shown


def test_verification_error_repr_names_the_reason() -> None:
    with pytest.raises(VerificationError) as caught:
        check(providers.GITHUB, {})
    assert repr(caught.value).startswith("VerificationError(reason='missing_header'")


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_verified_webhook_repr_shows_no_body_secret_or_signature(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    headers = signed(scheme)
    webhook = check(scheme, headers)
    shown = f"{webhook!r} {webhook!s}"
    assert BODY.decode() not in shown
    assert f"body=<{len(BODY)} bytes>" in shown
    assert secret_for(scheme) not in shown
    for value in _correct_signatures(scheme):
        assert value not in shown


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_webhook_verifier_and_settings_reprs_show_no_secret(
    scheme: SignatureFormat | SignatureScheme,
) -> None:
    secret = secret_for(scheme)
    verifier = WebhookVerifier([secret, "anotherSecretValue"], scheme=scheme)
    settings_ = VerificationSettings(secret, scheme, 300, 10)
    for shown in (repr(verifier), str(verifier), repr(settings_)):
        assert secret not in shown
        assert secret.removeprefix("whsec_") not in shown
        assert "anotherSecretValue" not in shown
        assert resolved(scheme).name in shown


# --- WebhookVerifier.verify is verify() -------------------------------------------------------


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_webhook_verifier_verify_matches_verify(scheme: SignatureFormat | SignatureScheme) -> None:
    verifier = WebhookVerifier(secret_for(scheme), scheme=scheme)
    headers = signed(scheme)
    assert verifier.verify(BODY, headers, NOW) == check(scheme, headers)
    assert verifier.scheme is resolved(scheme)
    assert reason_of(lambda: verifier.verify(BODY + b"!", headers, NOW)) is (
        VerificationFailure.NO_MATCHING_SIGNATURE
    )


# --- the fast path agrees with the general path ------------------------------------------------


def outcome(call: Callable[[], VerifiedWebhook]) -> tuple[object, ...]:
    try:
        result = call()
    except VerificationError as exc:
        return ("error", VerificationError, exc.reason, exc.header)
    except Exception as exc:  # any other exception type is part of the outcome
        return ("error", type(exc))
    return ("ok", type(result), tuple(result))


def test_fast_path_is_used_exactly_for_hex_one_key_body_only_schemes() -> None:
    # (Standard Webhooks schemes have their own, for HMAC keys: test_standard_webhooks_fast_path)
    for scheme in ALL_SCHEMES:
        if isinstance(resolved(scheme), StandardWebhooksScheme):
            continue
        for secret in (secret_for(scheme), [secret_for(scheme), "second"]):
            built = VerificationSettings(secret, scheme, DEFAULT_TOLERANCE, 100)
            fast = built.verify != built._verify
            assert fast is (scheme in FAST_PATH and isinstance(secret, str)), scheme


def _signature_values(valid: str, prefix: str) -> st.SearchStrategy[object]:
    digest = valid[len(prefix) :]
    return st.one_of(
        st.just(valid),
        st.just(valid),  # listed thrice: a third of the examples carry a correct signature
        st.just(valid),
        st.just(prefix + digest.upper()),
        st.just(digest),  # prefix missing
        st.just(valid + "0"),
        st.just(valid[:-1]),
        st.just(prefix + "g" * 64),
        st.just(prefix + digest[:-1] + "é"),
        st.just("x" * 8193),
        st.just(prefix + digest + " "),
        st.integers(0, len(digest) - 1).map(
            lambda i: prefix + digest[:i] + ("0" if digest[i] != "0" else "1") + digest[i + 1 :]
        ),
        st.text(max_size=80).map(lambda t: prefix + t),
        st.text(max_size=80),
        st.sampled_from([None, b"bytes", 7, ["list"]]),
    )


_OPTIONAL_VALUES = st.one_of(
    st.text(max_size=30),
    st.just("i" * 8193),
    st.sampled_from([None, b"raw", 12]),
)
_NOW_VALUES = st.one_of(
    st.none(),
    st.integers(0, 2 * NOW),
    st.floats(0, 2 * NOW, allow_nan=False),
    st.just(datetime.fromtimestamp(NOW, tz=timezone.utc)),
)


@st.composite
def _requests(
    draw: st.DrawFn, scheme: SignatureFormat | SignatureScheme
) -> tuple[Any, dict[Any, Any], Any, int]:
    target = resolved(scheme)
    body = draw(st.binary(max_size=64))
    headers = signed(scheme, body=body)
    name = signature_header(scheme)
    value = draw(_signature_values(headers[name], target.prefix))  # type: ignore[attr-defined]
    casing = draw(st.sampled_from(list(CASINGS.values())))
    result: dict[Any, Any] = {}
    if draw(st.integers(0, 4)):  # one in five requests lacks the signature header
        result[casing(name)] = value
    for optional in (target.id_header, target.event_header):
        assert optional is not None
        if draw(st.booleans()):
            result[draw(st.sampled_from(list(CASINGS.values())))(optional)] = draw(
                _OPTIONAL_VALUES
            )
    if draw(st.booleans()):
        result[draw(st.text(max_size=20))] = draw(st.text(max_size=20))
    kind = draw(st.sampled_from([bytes, bytearray, memoryview]))
    cap = draw(
        st.sampled_from(
            [len(body), max(len(body) - 1, 0), DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES]
        )
    )
    return kind(body), result, draw(_NOW_VALUES), cap


@pytest.mark.parametrize("scheme", FAST_PATH, ids=scheme_id)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_and_general_path_agree_on_random_inputs(
    scheme: SignatureFormat | SignatureScheme, data: st.DataObject
) -> None:
    body, headers, now, cap = data.draw(_requests(scheme))
    built = VerificationSettings(SECRET, scheme, DEFAULT_TOLERANCE, cap)
    assert built.verify != built._verify  # the fast path is really under test
    general = outcome(lambda: built._verify(body, headers, now))
    assert outcome(lambda: built.verify(body, headers, now)) == general
    if cap == DEFAULT_MAX_BODY_BYTES:
        # The cached one-shot verify() uses the same fast path.
        one_shot = outcome(lambda: verify(body, headers, SECRET, scheme=scheme, now=now))
        assert one_shot == general
        verifier = WebhookVerifier(SECRET, scheme=scheme)
        assert outcome(lambda: verifier.verify(body, headers, now)) == general


@pytest.mark.parametrize(
    ("now", "headers"),
    [
        (datetime(2023, 11, 14, 22, 13, 20), None),
        (math.nan, None),
        ("1700000000", None),
        (None, "list"),
        (None, "none"),
    ],
    ids=["naive-now", "nan-now", "str-now", "list-headers", "none-headers"],
)
@pytest.mark.parametrize("scheme", FAST_PATH, ids=scheme_id)
def test_fast_path_and_general_path_agree_on_invalid_arguments(
    scheme: SignatureFormat | SignatureScheme, now: object, headers: str | None
) -> None:
    valid = signed(scheme)
    given_headers: Any = valid
    if headers == "list":
        given_headers = list(valid.items())
    elif headers == "none":
        given_headers = None
    built = VerificationSettings(SECRET, scheme, DEFAULT_TOLERANCE, DEFAULT_MAX_BODY_BYTES)
    general = outcome(lambda: built._verify(BODY, given_headers, now))  # type: ignore[arg-type]
    assert general == ("error", InvalidInputError)
    assert outcome(lambda: built.verify(BODY, given_headers, now)) == general  # type: ignore[arg-type]
    one_shot = outcome(lambda: verify(BODY, given_headers, SECRET, scheme=scheme, now=now))  # type: ignore[arg-type]
    assert one_shot == general


@pytest.mark.parametrize("headers", [[("X-Webhook-Signature", "sha256=00")], None, "headers", 42])
@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=scheme_id)
def test_headers_that_are_not_a_mapping_are_invalid_input(
    scheme: SignatureFormat | SignatureScheme, headers: object
) -> None:
    with pytest.raises(InvalidInputError, match="mapping"):
        check(scheme, headers)  # type: ignore[arg-type]
