"""`webhook_kit.strategies` and the Hypothesis entry point that registers them."""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from every_scheme import PROVIDERS
from webhook_kit import (
    RetryPolicy,
    SignatureFormat,
    VerificationError,
    WebhookEvent,
    WebhookSubscription,
    strategies,
    verify,
)
from webhook_kit.schemes import SignatureScheme
from webhook_kit.signing import FORMAT_SCHEMES
from webhook_kit.testing import FakeQueue

ALL_SCHEMES: list[SignatureScheme] = [*FORMAT_SCHEMES.values(), *PROVIDERS]
SCHEME_IDS = [scheme.name for scheme in ALL_SCHEMES]
HOSTILE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SAMPLED_URLS = {"https://example.com/hooks", "http://receiver.webhook-kit.test/x"}


# -- signed deliveries ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=SCHEME_IDS)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_signed_deliveries_verify_for_every_scheme(
    scheme: SignatureScheme, data: st.DataObject
) -> None:
    delivery = data.draw(strategies.signed_deliveries(scheme))
    assert delivery.scheme is scheme
    webhook = verify(
        delivery.body,
        delivery.headers,
        delivery.secret,
        scheme=scheme,
        now=delivery.timestamp,
        tolerance=0,  # signed at exactly that time
    )
    assert webhook.body == delivery.body
    if scheme.id_header is not None:
        assert webhook.id == delivery.webhook_id
    if scheme.timestamped:
        assert webhook.timestamp == delivery.timestamp


@settings(max_examples=30, deadline=None)
@given(strategies.signed_deliveries())
def test_signed_deliveries_of_any_scheme_verify(delivery: strategies.SignedDelivery) -> None:
    verify(
        delivery.body,
        delivery.headers,
        delivery.secret,
        scheme=delivery.scheme,
        now=delivery.timestamp,
    )


@settings(max_examples=15, deadline=None)
@given(strategies.signed_deliveries(SignatureFormat.STRIPE.scheme, timestamp=1_750_000_000))
def test_a_fixed_timestamp_is_used_for_signing(delivery: strategies.SignedDelivery) -> None:
    assert delivery.timestamp == 1_750_000_000
    verify(
        delivery.body,
        delivery.headers,
        delivery.secret,
        scheme=delivery.scheme,
        now=1_750_000_000,
    )
    with pytest.raises(VerificationError):  # and really signed: an hour later is stale
        verify(
            delivery.body,
            delivery.headers,
            delivery.secret,
            scheme=delivery.scheme,
            now=1_750_003_600,
        )


@pytest.mark.parametrize(
    "scheme",
    [s for s in ALL_SCHEMES if s.decodes_prefixed_keys],
    ids=[s.name for s in ALL_SCHEMES if s.decodes_prefixed_keys],
)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_secrets_for_prefixed_key_schemes_are_accepted(
    scheme: SignatureScheme, data: st.DataObject
) -> None:
    secret = data.draw(strategies.secrets(scheme))
    scheme.keys(secret)  # decodes: no InvalidSecretError


# -- hostile headers ------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=SCHEME_IDS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers=strategies.hostile_headers(), body=st.binary(max_size=64))
def test_hostile_headers_only_ever_raise_verification_error(
    scheme: SignatureScheme, headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(VerificationError):
        verify(body, headers, HOSTILE_SECRET, scheme=scheme, now=1_700_000_000)


def test_hostile_headers_aim_at_the_signature_headers_webhook_kit_knows() -> None:
    names: set[str] = set()

    @settings(max_examples=100, deadline=None, database=None)
    @given(strategies.hostile_headers())
    def collect(headers: dict[str, str]) -> None:
        names.update(headers)

    collect()
    known = {"X-Webhook-Signature", "webhook-signature", "Stripe-Signature"}
    assert known & names, sorted(names)[:20]


# -- payloads -------------------------------------------------------------------------------


@pytest.mark.anyio
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=strategies.json_payloads())
async def test_json_payloads_round_trip_through_dispatch(payload: Any) -> None:
    queue = FakeQueue()
    receiver = queue.receiver()
    await WebhookSubscription.register(queue)
    delivery_id = await WebhookSubscription(receiver.url, "s3cret").dispatch(
        queue, "payload.check", payload
    )
    await queue.run_until_idle()
    (delivery,) = receiver.deliveries
    assert delivery.id == delivery_id
    assert delivery.json() == payload
    assert json.loads(delivery.body.decode("utf-8")) == payload


@settings(max_examples=50, deadline=None)
@given(strategies.event_names())
def test_event_names_are_accepted_by_dispatch(name: str) -> None:
    WebhookSubscription("https://example.com/hooks", "s3cret").build_event(name, {}, now=0)


# -- the Hypothesis entry point -------------------------------------------------------------


def test_the_hypothesis_entry_point_is_registered() -> None:
    points = importlib.metadata.entry_points(group="hypothesis")
    (point,) = [p for p in points if p.name == "webhook_kit"]
    assert point.value == "webhook_kit._hypothesis_hook:setup"
    setup = point.load()
    assert callable(setup)
    setup()  # idempotent: registering again is harmless


@settings(max_examples=30)
@given(st.from_type(SignatureFormat))
def test_from_type_signature_format(value: SignatureFormat) -> None:
    assert isinstance(value, SignatureFormat)


@settings(max_examples=100)
@given(st.from_type(RetryPolicy))
def test_from_type_retry_policy_gives_valid_policies(policy: RetryPolicy) -> None:
    assert isinstance(policy, RetryPolicy)
    assert RetryPolicy.from_json(policy.to_json()) == policy
    assert len(policy.schedule()) == policy.max_attempts - 1
    assert all(0 <= delay <= policy.max_delay for delay in policy.schedule())


@settings(max_examples=40, deadline=None)
@given(st.from_type(WebhookEvent))
def test_from_type_webhook_event_round_trips_through_json(event: WebhookEvent) -> None:
    # Only the registered strategy draws from these two URLs (inference would draw any text).
    assert event.target_url in SAMPLED_URLS
    assert WebhookEvent.from_json(event.to_json()) == event
    assert WebhookEvent.from_json(event.to_json().encode("utf-8")) == event
    json.loads(event.body)
