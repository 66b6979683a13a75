"""Resident memory over 100,000 deliveries: through fake_queue, and through SQLiteQueue.

Target (issue #8): once warm, resident memory grows by less than 20 MiB over the run.

- fake_queue: a `FakeQueue` and its in-process `MockReceiver`, in batches of 1,000; the
  receiver is `reset()` after each batch (as a Hypothesis test would), the queue keeps its
  default `keep_delivered`.
- SQLiteQueue: a `Worker` delivering in-process to a `MockReceiver` (reset per batch), with
  `retention=0` and `prune()` after each batch, as a long-running worker prunes.

Each run is warmed with 10,000 deliveries first (imports, caches, SQLite's page cache), then
resident memory (VmRSS) is read before and after the 100,000.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
from pathlib import Path

import httpx

from webhook_kit import RetryPolicy, WebhookSubscription, Worker
from webhook_kit.queues import SQLiteQueue
from webhook_kit.testing import FakeQueue, MockReceiver

TOTAL = 100_000
WARM = 10_000
BATCH = 1_000
TARGET_MIB = 20.0
PAYLOAD = {"order_id": 42, "items": [{"sku": "A-1", "qty": 2}], "note": "x" * 200}


def resident_mib() -> float:
    """This process's resident set size, in MiB (Linux: /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def through_fake_queue() -> tuple[float, float]:
    queue = FakeQueue()
    receiver = queue.receiver()
    await WebhookSubscription.register(queue)
    subscription = WebhookSubscription(receiver.url, "bench-secret")

    async def batches(count: int) -> None:
        for _ in range(count // BATCH):
            for _ in range(BATCH):
                await subscription.dispatch(queue, "order.created", PAYLOAD)
            await queue.run_until_idle()
            assert len(receiver.deliveries) == BATCH
            receiver.reset()

    await batches(WARM)
    gc.collect()
    start = resident_mib()
    await batches(TOTAL)
    gc.collect()
    return start, resident_mib()


async def through_sqlite(directory: Path) -> tuple[float, float]:
    queue = SQLiteQueue(directory / "memory.sqlite3", retention=0)
    receiver = MockReceiver()
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await WebhookSubscription.register(queue, client=client)
        subscription = WebhookSubscription(receiver.url, "bench-secret").retry_policy(
            RetryPolicy(max_attempts=1)
        )

        async def batches(count: int) -> None:
            for _ in range(count // BATCH):
                for _ in range(BATCH):
                    await subscription.dispatch(queue, "order.created", PAYLOAD)
                await Worker(queue, concurrency=64).run_until_idle()
                assert len(receiver.deliveries) == BATCH
                receiver.reset()
                await queue.prune()

        await batches(WARM)
        gc.collect()
        start = resident_mib()
        await batches(TOTAL)
        gc.collect()
        end = resident_mib()
    counts = await queue.counts()
    queue.close()
    assert (counts.pending, counts.in_flight) == (0, 0), counts
    return start, end


def main() -> None:
    fake_start, fake_end = asyncio.run(through_fake_queue())
    with tempfile.TemporaryDirectory() as directory:
        sqlite_start, sqlite_end = asyncio.run(through_sqlite(Path(directory)))
    print(f"\n== resident memory over {TOTAL:,} deliveries, warmed with {WARM:,} ==")
    for label, start, end in (
        ("fake_queue + in-process receiver (reset per batch)", fake_start, fake_end),
        ("SQLiteQueue + Worker, pruned per batch", sqlite_start, sqlite_end),
    ):
        growth = end - start
        verdict = "meets" if growth < TARGET_MIB else "MISSES"
        print(
            f"{label}: {start:.1f} MiB -> {end:.1f} MiB, growth {growth:+.1f} MiB "
            f"(target < {TARGET_MIB:.0f} MiB: {verdict})"
        )


if __name__ == "__main__":
    main()
