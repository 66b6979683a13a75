"""A worker process on PostgreSQL: run as many as you like, on as many machines as you like."""

from __future__ import annotations

import httpx

from webhook_kit import PostgresQueue, WebhookEvent, WebhookSubscription, Worker

SECRETS = {"https://customer.example.com/hooks": "customer-secret"}


def secret_for(event: WebhookEvent) -> str:
    # Timestamped formats are signed at each attempt; the secret is never stored in the queue.
    return SECRETS[event.target_url]


async def run_worker(
    conninfo: str,
    *,
    until_idle: bool = False,
    client: httpx.AsyncClient | None = None,  # tests pass an in-process one
) -> None:
    async with PostgresQueue(conninfo) as queue:
        await WebhookSubscription.register(queue, secrets=secret_for, client=client)
        # Workers on other machines claim from the same tables: a claim locks the rows it
        # takes (SKIP LOCKED), so no delivery goes to two workers while its lease lasts.
        worker = Worker(queue, concurrency=32)
        await (worker.run_until_idle() if until_idle else worker.run())
