"""Deduplication: one delivery id per dispatch, however many requests the receiver sees."""

from __future__ import annotations

import pytest

from webhook_kit import WebhookSubscription
from webhook_kit.testing import Delay, FakeQueue, MockReceiver

pytestmark = pytest.mark.anyio


async def test_each_dispatch_is_one_delivery_id(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([503, 200])  # then 200 for good
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret")
    first = await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()
    second = await subscription.dispatch(fake_queue, "order.created", {"order_id": 43})
    await fake_queue.run_until_idle()

    assert len(webhook_receiver.deliveries) == 3  # the first delivery was tried twice
    assert webhook_receiver.unique_ids() == [first, second]
    assert list(webhook_receiver.duplicates()) == [first]


async def test_a_late_answer_means_the_receiver_sees_the_delivery_twice(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    # The receiver did the work, but its answer came after the sender's 10-second timeout.
    webhook_receiver.script([Delay(15), 200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret").timeout(10)
    delivery_id = await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    [(duplicate_id, requests)] = webhook_receiver.duplicates().items()
    assert duplicate_id == delivery_id
    assert [r.timed_out for r in requests] == [True, False]
    assert requests[0].body == requests[1].body  # the same bytes: handle them once
    assert requests[0].headers["X-Webhook-Id"] == requests[1].headers["X-Webhook-Id"]
