"""A worker process for the multi-process and crash tests: webhook-kit's `Worker` on a
`SQLiteQueue` file or a `PostgresQueue`, logging every claim it gets and every outcome it
records.

Usage:

    python worker_process.py {sqlite,postgresql} TARGET LOG [--concurrency N]
        [--lease-grace SECONDS] [--health] [--endpoint-sync-interval SECONDS]

TARGET is the SQLite file or the PostgreSQL URL. Appends JSON lines to LOG:
``{"kind": "ready", "pid": …}`` once the worker is about to run;
``{"kind": "claim", "pid", "id", "attempt", "token", "claimed_at", "lease_until"}`` for every
claim, written and flushed as soon as the claim returns, before its attempt starts
(``claimed_at`` is the time the queue measured the lease from: ``lease_until`` less the
event's timeout and the grace); and ``{"kind": "record", "pid", "id", "token", "accepted"}``
once an outcome's commit returned. A PostgreSQL queue keeps time on the database server's
clock (the default). Endpoint health is off unless ``--health`` (its deferrals are claims too,
and some tests count claims). SIGTERM or SIGINT: finish what is in flight, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import webhook_kit.worker as worker_module
from webhook_kit import WebhookSubscription, Worker
from webhook_kit.outcomes import AttemptRecord, Outcome
from webhook_kit.queues import Claim, SQLiteQueue
from webhook_kit.queues.protocol import UNLIMITED, ClaimLimits


class ActivityLog:
    """Mixed into a queue class: appends every claim it hands out and every outcome it
    records to ``self.log``."""

    log: TextIO

    def write(self, line: dict[str, object]) -> None:
        self.log.write(json.dumps(line) + "\n")
        self.log.flush()

    async def claim(
        self, limit: int, *, lease_grace: float, limits: ClaimLimits = UNLIMITED
    ) -> Sequence[Claim]:
        claims: Sequence[Claim] = await super().claim(
            limit, lease_grace=lease_grace, limits=limits
        )
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
        accepted: bool = await super().record(claim, outcome, attempt)
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


class LoggingSQLiteQueue(ActivityLog, SQLiteQueue):
    """A `SQLiteQueue` that logs its claims and outcomes."""


@asynccontextmanager
async def logging_queue(backend: str, target: str, log: TextIO) -> AsyncIterator[Any]:
    """The backend's queue on ``target``, logging to ``log``, open for the block."""
    if backend == "sqlite":
        sqlite = LoggingSQLiteQueue(Path(target))
        sqlite.log = log
        try:
            yield sqlite
        finally:
            sqlite.close()
        return
    # Imported only here: psycopg is an extra, which the SQLite runs do without.
    from webhook_kit.queues.postgres import PostgresQueue

    class LoggingPostgresQueue(ActivityLog, PostgresQueue):
        """A `PostgresQueue` that logs its claims and outcomes."""

    postgres = LoggingPostgresQueue(target)
    postgres.log = log
    async with postgres:
        yield postgres


async def run(arguments: argparse.Namespace) -> None:
    with arguments.log.open("a", encoding="utf-8") as log:
        async with logging_queue(arguments.backend, arguments.target, log) as queue:
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
    parser.add_argument("backend", choices=["sqlite", "postgresql"])
    parser.add_argument("target")
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
