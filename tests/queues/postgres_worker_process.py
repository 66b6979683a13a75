"""A worker process for the PostgreSQL multi-process tests: webhook-kit's `Worker` on a
`PostgresQueue`, logging every claim it gets and every outcome it records.

Usage:

    python postgres_worker_process.py URL LOG [--concurrency N] [--lease-grace SECONDS]
        [--health] [--endpoint-sync-interval SECONDS]

Appends JSON lines to LOG: ``{"kind": "ready", "pid": …}`` once the worker is about to run;
``{"kind": "claim", "pid", "id", "attempt", "token", "claimed_at", "lease_until"}`` for every
claim, written and flushed as soon as the claim returns, before its attempt starts
(``claimed_at`` is ``lease_until`` less the event's timeout and the grace); and
``{"kind": "record", "pid", "id", "token", "accepted"}`` once an outcome's commit returned.
The queue keeps time on the database server's clock (the default). Endpoint health is off
unless ``--health`` (its deferrals are claims too, and some tests count claims). SIGTERM or
SIGINT: finish what is in flight, exit 0.
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

import webhook_kit.worker as worker_module
from webhook_kit import WebhookSubscription, Worker
from webhook_kit.outcomes import AttemptRecord, Outcome
from webhook_kit.queues import Claim
from webhook_kit.queues.postgres import PostgresQueue
from webhook_kit.queues.protocol import UNLIMITED, ClaimLimits


class LoggingQueue(PostgresQueue):
    """A `PostgresQueue` that appends every claim it hands out and every outcome it records
    to a log."""

    def __init__(self, url: str, log: TextIO) -> None:
        super().__init__(url)
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

    async def record(self, claim: Claim, outcome: Outcome, attempt: AttemptRecord) -> bool:
        accepted = await super().record(claim, outcome, attempt)
        self.write(
            {
                "kind": "record",
                "pid": os.getpid(),
                "id": claim.event.id,
                "token": claim.token,
                "accepted": accepted,
            }
        )
        return accepted


async def run(arguments: argparse.Namespace) -> None:
    with arguments.log.open("a", encoding="utf-8") as log:
        async with LoggingQueue(arguments.url, log) as queue:
            await WebhookSubscription.register(queue)
            worker = Worker(
                queue,
                concurrency=arguments.concurrency,
                lease_grace=arguments.lease_grace,
                health=arguments.health,
            )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("log", type=Path)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lease-grace", type=float, default=15.0)
    parser.add_argument("--health", action="store_true")
    parser.add_argument("--endpoint-sync-interval", type=float)
    arguments = parser.parse_args()
    if arguments.endpoint_sync_interval is not None:
        # How often a running worker reads the endpoint records others saved (5 s by
        # default): shortened so a test sees another process's enable soon.
        worker_module._ENDPOINT_SYNC_INTERVAL = arguments.endpoint_sync_interval
    asyncio.run(run(arguments))


if __name__ == "__main__":
    main()
