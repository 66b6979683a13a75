"""Testing endpoint health on fake_queue: off unless the test turns it on."""

from __future__ import annotations

import pytest

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.health import HealthPolicy
from webhook_kit.testing import FakeQueue, MockReceiver
from webhook_kit.worker import enable_endpoint

pytestmark = pytest.mark.anyio

EVERY_MINUTE = RetryPolicy(base_delay=60, factor=1, max_delay=60, jitter=0)


async def test_retries_follow_the_policy_alone(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([503, 503, 503, 200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(EVERY_MINUTE)
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()  # health off: no pause, whatever fails

    assert webhook_receiver.gaps() == [60.0, 60.0, 60.0]


async def test_a_failing_endpoint_is_paused_then_probed(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([503, 503, 503, 200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(EVERY_MINUTE)
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle(health=HealthPolicy(pause_after=3, first_pause=300))

    # Three failures a minute apart pause the endpoint for five minutes: the retry due in the
    # pause waits for the probe, which succeeds. The wait cost the delivery no attempt.
    assert webhook_receiver.gaps() == [60.0, 60.0, 300.0]
    assert [attempt.attempt for attempt in fake_queue.attempts] == [1, 2, 3, 4]
    webhook_receiver.assert_delivered(times=1)


async def test_410_disables_the_endpoint_until_it_is_enabled(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([410, 200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret")
    gone = await subscription.dispatch(fake_queue, "order.created", {"order_id": 1})
    await fake_queue.run_until_idle(health=True)
    later = await subscription.dispatch(fake_queue, "order.created", {"order_id": 2})
    await fake_queue.run_until_idle(health=True)

    # No request for the second: the endpoint is disabled, for every worker on the queue.
    assert len(webhook_receiver.deliveries) == 1
    [record] = await fake_queue.endpoint_records()
    assert (record.state, record.reason) == ("disabled", "the endpoint answered 410 Gone")
    reasons = {dead.id: dead.reason for dead in await fake_queue.list_dead_letters()}
    assert reasons[later].startswith("the endpoint is disabled")

    await enable_endpoint(fake_queue, webhook_receiver.url)
    for delivery_id in (gone, later):
        await fake_queue.redrive(delivery_id)
    await fake_queue.run_until_idle(health=True)
    assert len(webhook_receiver.assert_delivered()) == 2
