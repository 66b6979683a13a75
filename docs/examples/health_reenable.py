"""Re-enable an endpoint, and send again what was dead-lettered for it, in one go.

For an admin view or a script; `webhook-kit endpoints enable URL` and `webhook-kit dlq
redrive` do the same from a shell.
"""

from __future__ import annotations

from webhook_kit import WebhookQueue
from webhook_kit.health import endpoint_of
from webhook_kit.worker import enable_endpoint


async def reenable(queue: WebhookQueue, url: str) -> list[str]:
    """Record the endpoint of ``url`` healthy; redrive its dead letters; return their ids."""
    # Every worker on the queue takes it in within a few seconds; and a worker reads the
    # records again before it dead-letters a delivery to an endpoint it has as disabled.
    await enable_endpoint(queue, url)
    endpoint = endpoint_of(url)  # the URL without its query: the unit of health
    redriven = []
    for dead in await queue.list_dead_letters():
        if endpoint_of(dead.event.target_url) == endpoint:
            await queue.redrive(dead.id)  # same id and body, a fresh set of attempts
            redriven.append(dead.id)
    return redriven
