"""The first test: a receiver that is down twice, retries on a virtual clock, one delivery id.

Save as a test module (``tests/test_webhooks.py``) and run ``pytest``: the fixtures come from
the plugin that ``pip install "webhook-kit[test]"`` installs.
"""

from __future__ import annotations

import pytest

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.testing import FakeQueue, MockReceiver

pytestmark = pytest.mark.anyio  # every test in this module runs on anyio's plugin (asyncio)


async def test_retries_then_delivers(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    webhook_receiver.script([503, 503, 200])
    await WebhookSubscription.register(fake_queue)
    sub = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(
        RetryPolicy(base_delay=1, factor=2, jitter=0)
    )
    delivery_id = await sub.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()
    assert [d.id for d in webhook_receiver.deliveries] == [delivery_id] * 3
    assert webhook_receiver.gaps() == [1.0, 2.0]  # on the virtual clock
    assert webhook_receiver.unique_ids() == [delivery_id]
