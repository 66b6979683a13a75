"""A worker process for ``test_sqlite_processes.py``: a `Worker` on a `SQLiteQueue` file that
logs every claim it gets.

Usage:

    python sqlite_worker_process.py DB LOG [--concurrency N] [--lease-grace SECONDS]

Appends JSON lines to LOG: ``{"kind": "ready", "pid": …}`` once the worker is about to run,
then ``{"kind": "claim", "pid", "id", "attempt", "token", "claimed_at", "lease_until"}`` for
every claim, written and flushed as soon as the claim returns, before its attempt starts.
``claimed_at`` is the time the queue measured the lease from (``lease_until`` minus the
event's timeout and the grace). SIGTERM or SIGINT: finish what is in flight, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from webhook_kit import WebhookSubscription, Worker
from webhook_kit.queues import Claim, SQLiteQueue
from webhook_kit.queues.protocol import UNLIMITED, ClaimLimits


class ClaimLoggingQueue(SQLiteQueue):
    """A `SQLiteQueue` that appends every claim it hands out to a log."""

    def __init__(self, path: Path, log: TextIO) -> None:
        super().__init__(path)
        self.log = log

    def write(self, line: dict[str, object]) -> None:
        self.log.write(json.dumps(line) + "\n")
        self.log.flush()

    async def claim(
        self, limit: int, *, lease_grace: float, limits: ClaimLimits = UNLIMITED
    ) -> Sequence[Claim]:
        claims = await super().claim(limit, lease_grace=lease_grace, limits=limits)
        for claim in claims:
            self.write(
                {
                    "kind": "claim",
                    "pid": os.getpid(),
                    "id": claim.event.id,
                    "attempt": claim.attempt,
                    "token": claim.token,
                    "claimed_at": claim.lease_until - claim.event.timeout - lease_grace,
                    "lease_until": claim.lease_until,
                }
            )
        return claims


async def run(db: Path, log_path: Path, concurrency: int, lease_grace: float) -> None:
    with log_path.open("a", encoding="utf-8") as log:
        queue = ClaimLoggingQueue(db, log)
        try:
            await WebhookSubscription.register(queue)
            # Endpoint health off: its deferrals are claims too, and these tests count claims.
            worker = Worker(queue, concurrency=concurrency, lease_grace=lease_grace, health=False)
            loop = asyncio.get_running_loop()
            stopping: set[asyncio.Task[None]] = set()

            def stop() -> None:
                task = loop.create_task(worker.stop())
                stopping.add(task)
                task.add_done_callback(stopping.discard)

            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop)
            queue.write({"kind": "ready", "pid": os.getpid()})
            await worker.run()
        finally:
            queue.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lease-grace", type=float, default=15.0)
    arguments = parser.parse_args()
    asyncio.run(run(arguments.db, arguments.log, arguments.concurrency, arguments.lease_grace))


if __name__ == "__main__":
    main()
