"""Scripts per path and per event, a second receiver, and ``then="fail"``."""

from __future__ import annotations

import pytest

from webhook_kit import WebhookSubscription
from webhook_kit.testing import FakeQueue, MockReceiver

pytestmark = pytest.mark.anyio


async def test_one_script_per_path_and_per_event(
    fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    host = webhook_receiver.host  # any path on this host reaches the receiver
    webhook_receiver.script([503, 200], path="/orders")
    webhook_receiver.script([410], path="/legacy")
    webhook_receiver.script([400], event="order.refunded")  # wherever it is sent
    await WebhookSubscription.register(fake_queue)
    orders = WebhookSubscription(f"http://{host}/orders", "s3cret")
    legacy = WebhookSubscription(f"http://{host}/legacy", "s3cret")

    await orders.dispatch(fake_queue, "order.created", {"order_id": 42})
    await orders.dispatch(fake_queue, "order.refunded", {"order_id": 42})
    await legacy.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    answered = {(d.path, d.event, d.status) for d in webhook_receiver.deliveries}
    assert answered == {
        ("/orders", "order.created", 503),
        ("/orders", "order.created", 200),
        ("/orders", "order.refunded", 400),
        ("/legacy", "order.created", 410),
    }


async def test_a_receiver_per_customer(fake_queue: FakeQueue) -> None:
    acme = fake_queue.receiver(name="acme").script([200])
    globex = fake_queue.receiver(name="globex").script([503, 200])
    await WebhookSubscription.register(fake_queue)
    for receiver in (acme, globex):
        subscription = WebhookSubscription(receiver.url, "s3cret")
        await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    assert acme.url == "http://acme.webhook-kit.test/hooks"
    assert [d.status for d in acme.deliveries] == [200]
    assert [d.status for d in globex.deliveries] == [503, 200]


async def test_exactly_one_delivery(fake_queue: FakeQueue, webhook_receiver: MockReceiver) -> None:
    # A second request would get a 500 and fail this test at teardown.
    webhook_receiver.script([200], then="fail")
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret")
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()

    webhook_receiver.assert_delivered(event="order.created", payload={"order_id": 42}, times=1)
