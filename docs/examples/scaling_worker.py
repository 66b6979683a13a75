"""A worker process on PostgreSQL: run as many as you like, on as many machines as you like."""

from __future__ import annotations

import httpx

from webhook_kit import WebhookEvent, WebhookSubscription
from webhook_kit.queues.procrastinate import ProcrastinateQueue

SECRETS = {"https://customer.example.com/hooks": "customer-secret"}


def secret_for(event: WebhookEvent) -> str:
    # Timestamped formats are signed at each attempt; the secret is never stored in the queue.
    return SECRETS[event.target_url]


async def run_worker(
    queue: ProcrastinateQueue,
    *,
    until_idle: bool = False,
    client: httpx.AsyncClient | None = None,  # tests pass an in-process one
) -> None:
    await WebhookSubscription.register(queue, secrets=secret_for, client=client)
    # procrastinate's worker runs the deliveries; webhook-kit adds the sweep that retries the
    # jobs of a worker that died (its heartbeat silent for 60 s). Cancel this task to stop.
    await queue.run_worker(concurrency=32, wait=not until_idle)
