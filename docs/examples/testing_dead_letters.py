"""Dead letters: fatal answers, redriving, and timeouts from a scripted delay."""

from __future__ import annotations

import pytest

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.testing import Delay, FakeQueue, MockReceiver, Reply

pytestmark = pytest.mark.anyio


async def test_410_gone_is_dead_at_once(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([410])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret")
    delivery_id = await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    [dead] = fake_queue.dead_letters
    assert dead.id == delivery_id
    assert dead.gone  # time to disable the subscription
    assert (dead.attempts, dead.last_status) == (1, 410)
    assert dead.reason == "the receiver answered 410 Gone: the endpoint is gone"


async def test_400_is_dead_at_once_with_the_answer_kept(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([Reply(400, body='{"error": "unknown order"}')])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret")
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    [dead] = fake_queue.dead_letters
    assert not dead.gone
    assert (dead.attempts, dead.last_status) == (1, 400)
    assert dead.reason == "the receiver answered 400, a client error: not retried"
    assert dead.response_excerpt == '{"error": "unknown order"}'


async def test_redrive_after_an_outage(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([503])  # down for good: 503 on every request
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(
        RetryPolicy(max_attempts=3)
    )
    delivery_id = await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()
    [dead] = fake_queue.dead_letters
    assert (dead.attempts, dead.last_status) == (3, 503)
    assert dead.reason == "gave up after 3 attempts; the last: status 503"

    webhook_receiver.script([200])  # the receiver is back
    await fake_queue.redrive(delivery_id)
    await fake_queue.run_until_idle()

    assert fake_queue.dead_letters == []
    webhook_receiver.assert_delivered(id=delivery_id, times=1)
    assert [d.status for d in webhook_receiver.deliveries] == [503, 503, 503, 200]


async def test_a_slow_receiver_times_out(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([Delay(30)])  # answers 200, 30 seconds too late, every time
    await WebhookSubscription.register(fake_queue)
    subscription = (
        WebhookSubscription(webhook_receiver.url, "s3cret")
        .timeout(10)
        .retry_policy(RetryPolicy(max_attempts=2))
    )
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()  # no real second is slept

    assert all(d.timed_out for d in webhook_receiver.deliveries)
    assert [a.error for a in fake_queue.attempts] == [
        "timeout: the scripted delay of 30s passed the sender's 10s timeout"
    ] * 2
    [dead] = fake_queue.dead_letters
    assert (dead.attempts, dead.last_status) == (2, None)
    assert dead.last_error == "timeout: the scripted delay of 30s passed the sender's 10s timeout"
