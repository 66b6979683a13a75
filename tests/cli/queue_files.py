"""Real SQLite queue files with dead letters in them, for ``dlq`` and ``status``.

`build_queue` delivers one webhook of each kind through a `Worker` to a `MockReceiver` served on
127.0.0.1: one is delivered, and the others end as dead letters — a 400, a 410, and a 503 that
was retried once (two attempts in all).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from webhook_kit import (
    AttemptRecord,
    DeadLetter,
    RetryPolicy,
    SignatureFormat,
    SQLiteQueue,
    WebhookEvent,
    WebhookSubscription,
    Worker,
)
from webhook_kit.testing import MockReceiver, Reply
from webhook_kit.testing.scripts import Step

if TYPE_CHECKING:
    from webhook_kit.queues.protocol import LeaseQueue

SECRET = "dlq-command-secret-of-32-bytes!!"
HOSTILE_BODY = "bad payload \x1b[2J\x1b]0;pwned\x07\nsecond line"
"""What the receiver answers the 400 with: escape sequences a terminal would obey."""

SCRIPTS: dict[str, list[Step]] = {
    "order.created": [200],
    "order.refunded": [Reply(400, body=HOSTILE_BODY)],
    "customer.deleted": [410],
    "payment.failed": [503],
}
"""What the receiver answers each event; dispatched in this order."""

DEAD = ["order.refunded", "customer.deleted", "payment.failed"]
"""The events that end as dead letters, in the order they do."""

RETRY_POLICY = RetryPolicy(max_attempts=2, base_delay=0.01, jitter=0)


@dataclass(frozen=True)
class BuiltQueue:
    """A queue file and what was put through it.

    Attributes:
        path: the file.
        ids: the delivery id of each event.
        url: where the deliveries went (the receiver is gone now).
    """

    path: Path
    ids: dict[str, str]
    url: str

    def copy_to(self, directory: Path) -> BuiltQueue:
        """The same queue in another file (so a test may change it)."""
        path = directory / self.path.name
        shutil.copyfile(self.path, path)
        return BuiltQueue(path, self.ids, self.url)


async def deliver_each_script(queue: LeaseQueue) -> tuple[dict[str, str], str]:
    """Deliver one webhook of each event in `SCRIPTS` through ``queue`` by a `Worker` to a
    `MockReceiver` on 127.0.0.1; the delivery id of each event, and where they went (the
    receiver is gone now)."""
    receiver = MockReceiver()
    for event, steps in SCRIPTS.items():
        receiver.script(steps, event=event)
    async with receiver.serve() as url, await WebhookSubscription.register(queue):
        subscription = (
            WebhookSubscription(url, SECRET)
            .allow_private_targets(True)  # the receiver is on loopback
            .retry_policy(RETRY_POLICY)
        )
        ids = {
            event: await subscription.dispatch(queue, event, {"event": event}) for event in SCRIPTS
        }
        # One at a time, so that the dead letters' order is the dispatch order.
        await Worker(queue, concurrency=1, health=False).run_until_idle()
    counts = await queue.counts()
    assert (counts.delivered, counts.dead, counts.pending) == (1, 3, 0), counts
    return ids, url


def build_queue(path: Path) -> BuiltQueue:
    """Deliver one webhook of each event in `SCRIPTS` into a new queue at ``path``."""

    async def build() -> BuiltQueue:
        queue = SQLiteQueue(path)
        try:
            ids, url = await deliver_each_script(queue)
        finally:
            queue.close()
        return BuiltQueue(path, ids, url)

    built = anyio.run(build)
    assert not Path(f"{path}-wal").exists()  # everything is in the one file
    return built


def add_dead_letter(
    path: Path, delivery_id: str, *, reason: str = "the receiver answered 400", excerpt: str = ""
) -> None:
    """Put a dead letter with a chosen id into the queue at ``path`` (which has nothing due)."""

    async def add() -> None:
        queue = SQLiteQueue(path)
        try:
            now = queue.clock.now()
            queue.enqueue_sync(
                WebhookEvent(
                    id=delivery_id,
                    event="order.created",
                    target_url="https://customer.example/hooks",
                    body="{}",
                    signature_format=SignatureFormat.HEX_SHA256_WITH_PREFIX,
                    signature="sha256=" + "0" * 64,
                    created_at=now,
                )
            )
            (claim,) = await queue.claim(1, lease_grace=0)
            assert claim.event.id == delivery_id
            attempt = AttemptRecord(delivery_id, 1, now, 400, None, 0.005, excerpt, "dead")
            await queue.record(claim, DeadLetter(reason), attempt)
        finally:
            queue.close()

    anyio.run(add)
