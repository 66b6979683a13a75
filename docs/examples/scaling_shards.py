"""Past one primary: N queues on N databases, each tenant's deliveries on one of them.

The shard of a delivery is a stable hash of its tenant id (or of its endpoint), so one tenant's
deliveries, and so its endpoints' health, always live on one shard. Each shard has workers of
its own: ``webhook-kit worker --queue postgresql://…/webhooks_0`` and so on.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from webhook_kit import PostgresQueue, WebhookSubscription
from webhook_kit.queues import DeliveryState, QueueCounts


class Shards:
    """One `PostgresQueue` per database, in a fixed order: the order is part of the routing."""

    def __init__(self, conninfos: Sequence[str]) -> None:
        self.queues = [PostgresQueue(conninfo) for conninfo in conninfos]

    def queue_for(self, tenant_id: str) -> PostgresQueue:
        # Not hash(): Python salts it per process. A digest is the same in every process.
        digest = hashlib.blake2b(tenant_id.encode(), digest_size=8).digest()
        return self.queues[int.from_bytes(digest, "big") % len(self.queues)]

    async def dispatch(
        self, subscription: WebhookSubscription, tenant_id: str, event: str, payload: Any
    ) -> str:
        return await subscription.dispatch(self.queue_for(tenant_id), event, payload)

    async def counts(self) -> QueueCounts:
        """Every shard's counts, added up: no database sees the others' deliveries."""
        totals = [dataclasses.astuple(await queue.counts()) for queue in self.queues]
        return QueueCounts(*(sum(column) for column in zip(*totals, strict=True)))

    async def find(self, delivery_id: str) -> list[DeliveryState]:
        """A delivery id does not say its shard: ask each one."""
        found: list[DeliveryState] = []
        for queue in self.queues:
            found.extend(await queue.find_deliveries(delivery_id))
        return found

    async def __aenter__(self) -> Shards:
        for queue in self.queues:
            await queue.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for queue in self.queues:
            await queue.close()
