"""Sending a webhook: a queue, its delivery handler, a subscription, one dispatch, a worker."""

from __future__ import annotations

import httpx

from webhook_kit import MemoryQueue, WebhookSubscription, Worker


async def main(client: httpx.AsyncClient | None = None) -> str:
    queue = MemoryQueue()
    # Once per process that runs a worker: installs what makes the HTTP requests. Tests pass
    # `client`, an in-process receiver; without it, requests go out through the network guard.
    handler = await WebhookSubscription.register(queue, client=client)
    try:
        subscription = WebhookSubscription("https://customer.example.com/hooks", "customer-secret")
        delivery_id = await subscription.dispatch(
            queue, "order.created", {"order_id": 42, "total": "19.99"}
        )
        # Deliver (and retry, sleeping between attempts) until nothing is pending.
        await Worker(queue).run_until_idle()
    finally:
        await handler.aclose()  # close the connections it opened
    return delivery_id  # the X-Webhook-Id of every attempt
