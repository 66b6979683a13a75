"""Checking signatures in tests: ``expect_signature``, and opting out of the teardown check."""

from __future__ import annotations

import pytest

from webhook_kit import SignatureFormat, WebhookSubscription
from webhook_kit.testing import FakeQueue, MockReceiver

pytestmark = pytest.mark.anyio


async def test_every_delivery_is_signed(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver, webhook_secret: str
) -> None:
    webhook_receiver.expect_signature(webhook_secret)
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, webhook_secret)
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    assert [d.verified for d in webhook_receiver.deliveries] == [True]


async def test_retries_hours_later_still_pass_the_timestamp_window(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver, webhook_secret: str
) -> None:
    scheme = SignatureFormat.STANDARD_WEBHOOKS
    webhook_receiver.expect_signature(webhook_secret, scheme=scheme)  # tolerance: 5 minutes
    webhook_receiver.script([503, 503, 503, 503, 200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, webhook_secret)
    subscription = subscription.signature_format(scheme)
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    deliveries = webhook_receiver.deliveries
    assert deliveries[-1].received_at - deliveries[0].received_at > 3600
    assert all(d.verified for d in deliveries)  # each attempt was signed when it was sent
    assert [int(d.headers["webhook-timestamp"]) for d in deliveries] == [
        int(d.received_at) for d in deliveries
    ]


@pytest.mark.webhook_kit(checks=False)  # this test sends a bad signature on purpose
async def test_a_sender_with_the_old_secret_is_caught(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.expect_signature("new-secret")
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "old-secret")
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    [delivery] = webhook_receiver.deliveries
    assert delivery.verified is False
    assert delivery.verification_error is not None
    assert delivery.verification_error.startswith("signature check failed (no_matching_signature)")
    assert len(webhook_receiver.problems) == 1
