"""Backoff timing: the gaps between attempts, the attempt records, and ``Retry-After``."""

from __future__ import annotations

import pytest

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.testing import FakeQueue, MockReceiver, Reply

pytestmark = pytest.mark.anyio

HOUR = 3600.0


async def test_gaps_follow_the_retry_policy(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=60, factor=2, jitter=0)
    webhook_receiver.script([503, 503, 503, 503, 200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(policy)
    delivery_id = await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    assert policy.schedule() == [60.0, 120.0, 240.0, 480.0]
    assert webhook_receiver.gaps() == policy.schedule()
    # The queue's side of the story: one record per attempt, on the same virtual clock.
    attempts = fake_queue.attempts
    assert [a.attempt for a in attempts] == [1, 2, 3, 4, 5]
    assert [a.status for a in attempts] == [503, 503, 503, 503, 200]
    assert [a.outcome for a in attempts] == ["retry"] * 4 + ["delivered"]
    assert {a.delivery_id for a in attempts} == {delivery_id}
    assert attempts[-1].started_at - attempts[0].started_at == 900.0  # 15 virtual minutes


async def test_the_default_jitter_spreads_each_gap_by_ten_percent(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([503] * 7 + [200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret")  # RetryPolicy()
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    # 5, 10, 20, 40, 80, 160 and 320 minutes: 10.6 hours, each delay ±10%.
    assert webhook_receiver.gaps() == pytest.approx(RetryPolicy().schedule(), rel=0.1)


async def test_a_27_hour_schedule_runs_in_milliseconds(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    # Svix-like: minutes apart at first, then hours, the last retries 10 hours apart.
    policy = RetryPolicy(max_attempts=7, base_delay=300, factor=4, max_delay=10 * HOUR, jitter=0)
    webhook_receiver.script([503] * 6 + [200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(policy)
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    started = fake_queue.clock.now()
    await fake_queue.run_until_idle()

    # 5 min, 20 min, 80 min, 5 h 20 min, 10 h, 10 h
    assert webhook_receiver.gaps() == [300.0, 1200.0, 4800.0, 19200.0, 10 * HOUR, 10 * HOUR]
    assert fake_queue.clock.now() - started == 27 * HOUR + 5 * 60
    webhook_receiver.assert_delivered(event="order.created", times=1)


async def test_retry_after_replaces_the_backoff(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([Reply(429, headers={"Retry-After": "120"}), 200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret")
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    assert webhook_receiver.gaps() == [120.0]  # not the policy's 5 minutes ±10%


async def test_retry_after_is_capped_at_max_delay(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    policy = RetryPolicy(max_delay=HOUR)
    webhook_receiver.script([Reply(503, headers={"Retry-After": "86400"}), 200])
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(policy)
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    assert webhook_receiver.gaps() == [HOUR]  # a day asked for, an hour granted
