"""What happens when a worker is killed in the middle of an attempt, on a virtual clock.

A claim is a lease: the job is the claiming worker's for the attempt's timeout plus the lease
grace. A worker that dies never reports back, so the lease runs out and any worker on the file
takes the job over: the same delivery, with the same ``X-Webhook-Id``.
"""

from __future__ import annotations

import os

import httpx

from webhook_kit import SQLiteQueue, VirtualClock, WebhookSubscription, Worker
from webhook_kit.testing import MockReceiver
from webhook_kit.worker import DEFAULT_LEASE_GRACE


async def main(path: str | os.PathLike[str]) -> None:
    clock = VirtualClock()
    receiver = MockReceiver(clock=clock)
    queue = SQLiteQueue(path, clock=clock)
    subscription = WebhookSubscription(receiver.url, "customer-secret").timeout(10)
    delivery_id = await subscription.dispatch(queue, "order.created", {"order_id": 42})

    # Worker A claims the delivery, then is killed (kill -9, out of memory, a lost machine).
    [claim] = await queue.claim(1, lease_grace=DEFAULT_LEASE_GRACE)
    lease = claim.lease_until - clock.now()
    print(f"worker A claims attempt {claim.attempt}; its lease ends in {lease:g} s")
    clock.advance(20)
    claims = await queue.claim(1, lease_grace=DEFAULT_LEASE_GRACE)
    print(f"20 s later, worker B can claim {len(claims)} deliveries")
    clock.advance(5)

    # The lease has run out: worker B takes the delivery over.
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await WebhookSubscription.register(queue, client=client)
        await Worker(queue).run_until_idle()
    [delivery] = receiver.deliveries
    print(f"25 s later, worker B delivers it: {delivery.status}")
    print(f"same X-Webhook-Id: {delivery.id == delivery_id}")
    history = await queue.history(delivery_id)
    print(f"attempts recorded: {[(attempt.attempt, attempt.status) for attempt in history]}")
    queue.close()
