"""A worker process of your own: what ``webhook-kit worker`` does, with secrets from your store.

Run it as ``python production_worker.py``; SIGTERM or SIGINT (Ctrl-C) stops it gracefully.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path

from webhook_kit import SecretResolver, SQLiteQueue, WebhookEvent, WebhookSubscription, Worker


def secrets_from_file(path: str | os.PathLike[str]) -> SecretResolver:
    """Stands in for your secret store: a JSON object of secrets by subscription id."""
    secrets: dict[str, str] = json.loads(Path(path).read_text())

    def secret_for(event: WebhookEvent) -> str | None:
        # None dead-letters the delivery: nothing is sent without its secret.
        return secrets.get(event.subscription_id or "")

    return secret_for


async def run_worker(
    path: str | os.PathLike[str], secrets: SecretResolver, *, concurrency: int = 32
) -> None:
    queue = SQLiteQueue(path)
    await WebhookSubscription.register(queue, secrets=secrets)
    worker = Worker(queue, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Stop claiming; attempts in flight finish, then run() returns.
        loop.add_signal_handler(signum, lambda: stopping.append(loop.create_task(worker.stop())))
    try:
        await worker.run()
    finally:
        queue.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(
        run_worker(
            os.environ.get("WEBHOOK_KIT_DB", "webhook-kit.sqlite3"),
            secrets_from_file(os.environ["WEBHOOK_SECRETS_FILE"]),
        )
    )
