"""Property-based tests with webhook-kit's Hypothesis strategies."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook_kit import (
    RetryPolicy,
    SecretOrSecrets,
    SignatureFormat,
    SignatureScheme,
    VerificationError,
    WebhookSubscription,
    verify,
)
from webhook_kit import strategies as wks
from webhook_kit.testing import FakeQueue, MockReceiver


def answer(
    body: bytes,
    headers: Mapping[str, str],
    secret: SecretOrSecrets,
    scheme: SignatureFormat | SignatureScheme,
    now: float | None = None,
) -> int:
    """Your receiver's code: the status it answers a delivery with."""
    try:
        verify(body, headers, secret, scheme=scheme, now=now)
    except VerificationError:
        return 400
    return 200


@given(wks.signed_deliveries())  # any scheme: webhook-kit's formats and every provider's
def test_signed_deliveries_are_accepted(delivery: wks.SignedDelivery) -> None:
    headers, secret = delivery.headers, delivery.secret
    assert answer(delivery.body, headers, secret, delivery.scheme, now=delivery.timestamp) == 200


@given(wks.schemes(), wks.hostile_headers(), st.binary(max_size=256))
def test_hostile_headers_get_a_400_not_a_crash(
    scheme: SignatureScheme, headers: dict[str, str], body: bytes
) -> None:
    assert answer(body, headers, "s3cret", scheme) == 400


@pytest.mark.anyio
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    signature_format=st.from_type(SignatureFormat),
    policy=st.from_type(RetryPolicy),
    payload=wks.json_payloads(),
)
async def test_every_attempt_of_any_delivery_is_signed(
    fake_queue: FakeQueue,
    webhook_receiver: MockReceiver,
    signature_format: SignatureFormat,
    policy: RetryPolicy,
    payload: object,
) -> None:
    webhook_receiver.reset()  # fixtures last for the whole test, not for one example
    webhook_receiver.expect_signature("s3cret", scheme=signature_format)
    webhook_receiver.script([503])  # down for good
    await WebhookSubscription.register(fake_queue)
    subscription = (
        WebhookSubscription(webhook_receiver.url, "s3cret")
        .signature_format(signature_format)
        .retry_policy(policy)
    )
    delivery_id = await subscription.dispatch(fake_queue, "order.created", payload)
    await fake_queue.run_until_idle()

    deliveries = webhook_receiver.deliveries
    assert len(deliveries) == policy.max_attempts
    assert all(d.verified and d.json() == payload for d in deliveries)
    assert fake_queue.dead_letters[-1].id == delivery_id
