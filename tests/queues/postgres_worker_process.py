"""A worker process for ``test_postgres_processes.py``: `ProcrastinateQueue.run_worker` on a
PostgreSQL database, delivering whatever is due.

Usage:

    python postgres_worker_process.py URL [--name NAME] [--concurrency N]
        [--poll-interval S] [--heartbeat-interval S] [--stalled-after S] [--sweep-interval S]

Logs to stderr (procrastinate's worker and webhook-kit at INFO), ending with a line
``ready pid=… name=…`` once the delivery handler is installed and the worker is about to start.
SIGTERM or SIGINT: cancel `run_worker` (attempts in flight finish), close the queue, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from webhook_kit import WebhookSubscription
from webhook_kit.queues.procrastinate import ProcrastinateQueue


async def run(arguments: argparse.Namespace) -> None:
    async with ProcrastinateQueue(arguments.url) as queue:
        await WebhookSubscription.register(queue)
        worker = asyncio.create_task(
            queue.run_worker(
                concurrency=arguments.concurrency,
                name=arguments.name,
                poll_interval=arguments.poll_interval,
                heartbeat_interval=arguments.heartbeat_interval,
                stalled_after=arguments.stalled_after,
                sweep_interval=arguments.sweep_interval,
            )
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.cancel)
        print(f"ready pid={os.getpid()} name={arguments.name}", file=sys.stderr, flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        print(f"stopped pid={os.getpid()} name={arguments.name}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--name", default="webhook-kit")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument("--heartbeat-interval", type=float, default=0.5)
    parser.add_argument("--stalled-after", type=float, default=3.0)
    parser.add_argument("--sweep-interval", type=float, default=1.0)
    arguments = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    # A line per attempt is too much for thousands of deliveries: warnings and errors only
    # (stalled-job recovery, failed database calls) beside the ready and stopped lines.
    logging.getLogger("procrastinate.worker").setLevel(logging.WARNING)
    logging.getLogger("webhook_kit.delivery").setLevel(logging.WARNING)
    asyncio.run(run(arguments))


if __name__ == "__main__":
    main()
