"""Delivery through ProcrastinateQueue on PostgreSQL, beside SQLiteQueue and a bare POST loop.

No target in the issue: the figures and their ratios are printed as measured. Each figure is
deliveries per second (``max_attempts=1``, the aiohttp stack, the same receiver and body as the
other delivery benchmarks), best of several interleaved rounds:

- PostgreSQL, 1 and 3 worker processes: each a real subprocess running
  `ProcrastinateQueue.run_worker(concurrency=64, wait=False)` on its own pool. The jobs are
  dispatched first; the workers start, connect and install the delivery handler, then wait
  for a go signal. Timed from the go to the last worker idle (``wait=False`` returns once no
  job is left and its attempts in flight have ended).
  The jobs table is ANALYZEd after the dispatch (untimed), as autovacuum would have done on a
  live database.
- SQLiteQueue + Worker(concurrency=64) in this process (``sqlite_bench.queue_deliveries``).
- the raw aiohttp POST loop at the same concurrency (``delivery_bench.raw_aiohttp``).

The benchmark creates a database of its own on ``WEBHOOK_KIT_POSTGRES_URL`` (default: the local
server, user ``postgres``), applies the schema, and drops it at the end. Where PostgreSQL is
unreachable (or the ``postgres`` extra is missing) it prints one line saying so and skips.

Worker mode (used by the benchmark itself): ``python postgres_bench.py --worker URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from delivery_bench import BODY, CONCURRENCY, raw_aiohttp
from receiver import running_receiver
from sqlite_bench import queue_deliveries

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack

if TYPE_CHECKING:  # imported where used: without the postgres extra, this module still loads
    from webhook_kit.queues.procrastinate import ProcrastinateQueue

DELIVERIES = 3000
ROUNDS = 3
PROCESS_COUNTS = (1, 3)
SECRET = "bench-secret-0123456789abcdef0123"
PAYLOAD = json.loads(BODY)
ADMIN_URL = os.environ.get(
    "WEBHOOK_KIT_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
WORKER_SCRIPT = str(Path(__file__).resolve())
DISPATCHERS = 16  # dispatches in flight while the jobs are stored (not timed)
TABLES = (
    "procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,"
    " procrastinate_workers, webhook_kit_attempts, webhook_kit_dead_letters"
)


# -- worker mode (a subprocess) ----------------------------------------------------------------


async def _worker(url: str) -> None:
    """Connect, install the handler, say ``ready``; on ``go`` deliver until idle, say ``done``."""
    from webhook_kit.queues.procrastinate import ProcrastinateQueue

    async with ProcrastinateQueue(url) as queue:
        stack = AiohttpStack()
        await WebhookSubscription.register(queue, stack=stack)
        loop = asyncio.get_running_loop()
        print("ready", flush=True)
        go = await loop.run_in_executor(None, sys.stdin.readline)
        if go.strip() != "go":
            return
        await queue.run_worker(concurrency=CONCURRENCY, wait=False)
        print("done", flush=True)


# -- the benchmark -----------------------------------------------------------------------------


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


def _unavailable() -> str | None:
    """Why the benchmark cannot run here, or ``None``."""
    try:
        import psycopg

        import webhook_kit.queues.procrastinate  # noqa: F401 (the extra is installed)
    except ImportError as exc:
        return f"the postgres extra is missing ({exc}): pip install 'webhook-kit[postgres]'"
    try:
        psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        return f"PostgreSQL is not reachable at {ADMIN_URL}: {reason}"
    return None


@contextlib.contextmanager
def _database() -> Iterator[str]:
    """A new database with webhook-kit's schema; yields its URL and drops it after."""
    import psycopg

    from webhook_kit.queues.procrastinate import ProcrastinateQueue

    name = f"webhook_kit_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = _with_database(ADMIN_URL, name)

            async def apply() -> None:
                async with ProcrastinateQueue(url) as queue:
                    await queue.apply_schema()

            asyncio.run(apply())
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _start_worker(url: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        WORKER_SCRIPT,
        "--worker",
        url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await process.stdout.readline()
    if line.strip() != b"ready":
        await process.wait()
        raise RuntimeError(f"a benchmark worker did not start (exit {process.returncode})")
    return process


async def _postgres_deliveries(
    queue: ProcrastinateQueue, url: str, target: str, processes: int
) -> float:
    """Deliveries per second through ``processes`` worker processes, from go to all idle."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await connection.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    subscription = (
        WebhookSubscription(target, SECRET)
        .allow_private_targets(True)
        .retry_policy(RetryPolicy(max_attempts=1))
    )

    async def dispatch(count: int) -> None:
        for _ in range(count):
            await subscription.dispatch(queue, "order.created", PAYLOAD)

    share, extra = divmod(DELIVERIES, DISPATCHERS)
    await asyncio.gather(*(dispatch(share + (n < extra)) for n in range(DISPATCHERS)))
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        # Fresh statistics, as autovacuum keeps them on a live database: planned for an empty
        # table, procrastinate's fetch sorts the whole backlog for every job (~3x slower here).
        await connection.execute("ANALYZE procrastinate_jobs")
    workers = [await _start_worker(url) for _ in range(processes)]
    try:
        started = time.perf_counter()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        for worker in workers:
            assert worker.stdout is not None
            line = await worker.stdout.readline()
            assert line.strip() == b"done", f"a benchmark worker failed: {line!r}"
        elapsed = time.perf_counter() - started
    finally:
        for worker in workers:
            if worker.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.kill()
            await worker.wait()
    counts = await queue.counts()
    assert (counts.delivered, counts.pending, counts.in_flight) == (DELIVERIES, 0, 0), counts
    return DELIVERIES / elapsed


async def _measure(url: str, directory: Path, target: str) -> dict[str, float]:
    from webhook_kit.queues.procrastinate import ProcrastinateQueue

    best = {"raw": 0.0, "sqlite": 0.0, **{f"pg{n}": 0.0 for n in PROCESS_COUNTS}}
    async with ProcrastinateQueue(url) as queue:
        await raw_aiohttp(target, 500)  # warm the receiver
        for round_number in range(ROUNDS):
            best["raw"] = max(best["raw"], await raw_aiohttp(target, DELIVERIES))
            best["sqlite"] = max(
                best["sqlite"],
                await queue_deliveries(directory / f"q{round_number}", target, DELIVERIES),
            )
            for processes in PROCESS_COUNTS:
                rate = await _postgres_deliveries(queue, url, target, processes)
                best[f"pg{processes}"] = max(best[f"pg{processes}"], rate)
    return best


def main() -> None:
    reason = _unavailable()
    if reason is not None:
        print(f"\n== PostgreSQL queue: skipped: {reason}")
        return
    with (
        _database() as url,
        tempfile.TemporaryDirectory() as directory,
        running_receiver(Path(directory)) as target,
    ):
        best = asyncio.run(_measure(url, Path(directory), target))
    print(
        f"\n== PostgreSQL queue (procrastinate): {DELIVERIES} deliveries, max_attempts=1, "
        f"aiohttp stack, {CONCURRENCY} concurrent per worker; best of {ROUNDS} "
        "interleaved rounds =="
    )
    contenders = {
        "raw aiohttp loop": best["raw"],
        "SQLiteQueue + Worker, in process": best["sqlite"],
        **{
            f"ProcrastinateQueue, {n} worker process{'es' if n > 1 else ''}": best[f"pg{n}"]
            for n in PROCESS_COUNTS
        },
    }
    print(
        "PostgreSQL: worker subprocesses on the same database, timed from the go signal to the "
        "last worker idle; jobs table ANALYZEd after the (untimed) dispatch"
    )
    print(f"{'contender':<45} {'deliveries/s':>13}")
    for name, rate in contenders.items():
        print(f"{name:<45} {rate:>13,.0f}")
    for n in PROCESS_COUNTS:
        label = f"PG {n} proc{'s' if n > 1 else ''}"
        print(f"{label} / raw aiohttp loop: {best[f'pg{n}'] / best['raw']:.2f}x")
    for n in PROCESS_COUNTS:
        label = f"PG {n} proc{'s' if n > 1 else ''}"
        print(f"{label} / SQLiteQueue + Worker: {best[f'pg{n}'] / best['sqlite']:.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"] and len(sys.argv) == 3:
        asyncio.run(_worker(sys.argv[2]))
    else:
        main()
