"""A receiver on a real socket: deliveries through the real network stack, over loopback."""

from __future__ import annotations

import pytest

from webhook_kit import MemoryQueue, VirtualClock, WebhookSubscription, Worker
from webhook_kit.testing import MockReceiver

pytestmark = pytest.mark.anyio


async def test_delivers_over_a_real_socket(webhook_receiver_server: MockReceiver) -> None:
    receiver = webhook_receiver_server  # uvicorn on 127.0.0.1 and a free port
    receiver.script([503, 200])
    queue = MemoryQueue(clock=VirtualClock())  # real requests, virtual backoff
    handler = await WebhookSubscription.register(queue)  # aiohttp, or httpx without it
    subscription = WebhookSubscription(receiver.url, "s3cret").allow_private_targets(True)
    try:
        delivery_id = await subscription.dispatch(queue, "order.created", {"order_id": 42})
        await Worker(queue).run_until_idle()
    finally:
        await handler.aclose()

    assert receiver.url.startswith("http://127.0.0.1:")
    assert [a.status for a in await queue.history(delivery_id)] == [503, 200]
    [delivered] = receiver.assert_delivered(id=delivery_id, times=1)
    assert delivered.headers["Content-Length"] == str(len(delivered.body))
