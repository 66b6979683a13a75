"""PostgresQueue: delivery, dispatch and wake-up latency, side by side with bare loops.

Targets (issue #14): delivery through `PostgresQueue` + `Worker` with one worker process
>= 0.5x the raw aiohttp loop, with two >= 0.6x; durable ``dispatch`` >= 0.5x a bare psycopg
INSERT + COMMIT loop of the same row. Printed beside them: dispatch-to-first-attempt latency on
an idle worker (LISTEN/NOTIFY), with SQLite's polling latency for contrast.

- Delivery: deliveries per second (``max_attempts=1``, the aiohttp stack, the same receiver,
  body and concurrency as the other delivery benchmarks). The jobs are dispatched first (not
  timed) into a schema of their own; each worker process runs
  ``Worker(PostgresQueue(url), concurrency=64).run_until_idle()`` with endpoint health on, as
  ``webhook-kit worker`` would. The workers start, connect and install the delivery handler,
  then wait for a go signal: timed from the go to the last worker idle.
- The raw loop: `delivery_bench.raw_aiohttp`, the same POSTs from 64 coroutines, no queue.
- Dispatch: ``subscription.dispatch(queue, …)`` in a loop, each stored and committed before it
  returns, against a loop of psycopg ``INSERT`` + ``COMMIT`` of the same row (its column values
  copied from a job the queue stored) into a copy of the jobs table with the same indexes,
  autocommitted (one round trip, as the queue's own statement) and prepared.
- Latency: a `Worker` waiting for work in this process, on its own `PostgresQueue`; another
  `PostgresQueue` (another pool: the wake-up comes through the server's NOTIFY) dispatches one
  delivery at a time, the next once the one before has arrived. Latency is from the dispatch
  call to the arrival at the receiver, on the system-wide monotonic clock. SQLite, for
  contrast: the same with two `SQLiteQueue` objects on one file (a worker that learns of
  another process's work by polling, every second), and with one (woken in process).

Each figure is its best over several interleaved rounds. The benchmark creates a database of
its own on ``WEBHOOK_KIT_POSTGRES_URL`` (default: the local server, user ``postgres``) and drops
it at the end. Where PostgreSQL is unreachable (or the ``postgres`` extra is missing) it prints
one line saying so and skips.

Worker mode (used by the benchmark itself): ``python postgres_bench.py --worker URL SCHEMA``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from backends import dispatch_many, fresh_schema, postgres_database, postgres_unavailable
from delivery_bench import BODY, CONCURRENCY, raw_aiohttp
from receiver import running_receiver
from tracking import TrackingStack, arrivals

from webhook_kit import RetryPolicy, SQLiteQueue, WebhookSubscription, Worker
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
from webhook_kit.queues import WebhookQueue

DELIVERIES = 5000
DISPATCHES = 3000
LATENCY_DISPATCHES = 300  # sequential, on PostgreSQL and on SQLite woken in process
POLLING_DISPATCHES = 10  # SQLite by polling: each up to a second, spread over the poll
ROUNDS = 5
PROCESS_COUNTS = (1, 2)
SECRET = "bench-secret-0123456789abcdef0123"
PAYLOAD = json.loads(BODY)
WORKER_SCRIPT = str(Path(__file__).resolve())

Latency = tuple[float, float, float]  # p50, p99, max (seconds)


# -- worker mode (a subprocess) ----------------------------------------------------------------


async def _worker(url: str, schema: str) -> None:
    """Connect, install the handler, say ``ready``; on ``go`` deliver until idle, say ``done``."""
    from webhook_kit.queues.postgres import PostgresQueue

    async with PostgresQueue(url, schema=schema) as queue:
        await queue.counts()  # the pool is open and the schema found before the go
        await WebhookSubscription.register(queue, stack=AiohttpStack())
        loop = asyncio.get_running_loop()
        print("ready", flush=True)
        go = await loop.run_in_executor(None, sys.stdin.readline)
        if go.strip() != "go":
            return
        await Worker(queue, concurrency=CONCURRENCY).run_until_idle()
    print("done", flush=True)


# -- setup ---------------------------------------------------------------------------------------


def _subscription(target: str) -> WebhookSubscription:
    return (
        WebhookSubscription(target, SECRET)
        .allow_private_targets(True)  # the receiver is on loopback
        .retry_policy(RetryPolicy(max_attempts=1))
    )


# -- delivery ------------------------------------------------------------------------------------


async def _start_worker(url: str, schema: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        WORKER_SCRIPT,
        "--worker",
        url,
        schema,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await process.stdout.readline()
    if line.strip() != b"ready":
        await process.wait()
        raise RuntimeError(f"a benchmark worker did not start (exit {process.returncode})")
    return process


async def postgres_deliveries(url: str, target: str, processes: int) -> float:
    """Deliveries per second through ``processes`` worker processes, from go to all idle."""
    from webhook_kit.queues.postgres import PostgresQueue

    schema = fresh_schema()
    async with PostgresQueue(url, schema=schema) as queue:
        await queue.apply_schema()
        await dispatch_many(_subscription(target), queue, DELIVERIES, PAYLOAD)
        workers = [await _start_worker(url, schema) for _ in range(processes)]
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


# -- dispatch ------------------------------------------------------------------------------------


async def queue_dispatches(url: str) -> float:
    """Durable dispatches per second into a fresh schema, one after another."""
    from webhook_kit.queues.postgres import PostgresQueue

    async with PostgresQueue(url, schema=fresh_schema()) as queue:
        await queue.apply_schema()
        subscription = WebhookSubscription("https://receiver.example/hooks", SECRET)
        await subscription.dispatch(queue, "order.created", PAYLOAD)  # the pool is warm
        started = time.perf_counter()
        for _ in range(DISPATCHES):
            await subscription.dispatch(queue, "order.created", PAYLOAD)
        return DISPATCHES / (time.perf_counter() - started)


async def _job_row(url: str) -> tuple[str, dict[str, object]]:
    """A schema holding one stored job, and that job's row (columns the INSERT writes)."""
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    from webhook_kit.queues.postgres import PostgresQueue

    schema = fresh_schema()
    async with PostgresQueue(url, schema=schema) as queue:
        await queue.apply_schema()
        subscription = WebhookSubscription("https://receiver.example/hooks", SECRET)
        await subscription.dispatch(queue, "order.created", PAYLOAD)
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as connection:
        cursor = await connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name = 'jobs' AND is_identity = 'NO'"
            " AND coalesce(column_default, '') NOT LIKE 'nextval(%%'",
            (schema,),
        )
        columns = [str(row["column_name"]) for row in await cursor.fetchall()]
        cursor = await connection.execute(
            sql.SQL("SELECT * FROM {}.jobs").format(sql.Identifier(schema))
        )
        job = await cursor.fetchone()
        assert job is not None
    return schema, {column: job[column] for column in columns}


async def bare_inserts(url: str, schema: str, row: dict[str, object]) -> float:
    """INSERT + COMMIT per row into a copy of the jobs table (same columns and indexes),
    the statement prepared (psycopg prepares it from its fifth run)."""
    import psycopg
    from psycopg import sql

    table = sql.Identifier(schema, f"bare_{uuid.uuid4().hex[:10]}")
    columns = list(row)
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        table,
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    values = [row[column] for column in columns]
    at = columns.index("id")
    # Autocommit: the INSERT and its COMMIT in one round trip, as the queue's own statement is.
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await connection.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                table, sql.Identifier(schema, "jobs")
            )
        )
        query = statement.as_string(connection)

        async def insert() -> None:
            values[at] = str(uuid.uuid4())
            await connection.execute(query, values)

        await insert()
        started = time.perf_counter()
        for _ in range(DISPATCHES):
            await insert()
        return DISPATCHES / (time.perf_counter() - started)


# -- latency ------------------------------------------------------------------------------------


async def wake_up_latencies(
    worker_queue: WebhookQueue,
    dispatch_queue: WebhookQueue,
    base: str,
    count: int,
    *,
    spread: bool = False,
) -> Latency:
    """p50, p99 and max seconds from dispatch to arrival, one delivery at a time, with a
    `Worker` on ``worker_queue`` waiting for work and dispatches into ``dispatch_queue``."""
    stack = TrackingStack()
    await WebhookSubscription.register(worker_queue, stack=stack)
    subscription = _subscription(f"{base}/timed")
    worker = Worker(worker_queue, concurrency=CONCURRENCY)
    sent: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        await arrivals(session, base)
        task = asyncio.create_task(worker.run())
        try:
            await subscription.dispatch(dispatch_queue, "order.created", PAYLOAD)  # warm
            await stack.answered_at_least(1)
            for n in range(count):
                # The worker is back to waiting for work; and a polling worker is caught at
                # every tenth of its poll interval in turn, not always just after its poll.
                await asyncio.sleep(0.01 + (n % 10) / 10 if spread else 0.01)
                started = time.monotonic()
                sent[await subscription.dispatch(dispatch_queue, "order.created", PAYLOAD)] = (
                    started
                )
                await stack.answered_at_least(n + 2)
        finally:
            await worker.stop()
            await task
            await stack.aclose()
        noted = await arrivals(session, base)
    latencies = [noted[delivery] - started for delivery, started in sent.items()]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[98], max(latencies)


async def postgres_latencies(url: str, base: str) -> Latency:
    from webhook_kit.queues.postgres import PostgresQueue

    schema = fresh_schema()
    async with (
        PostgresQueue(url, schema=schema) as worker_queue,
        PostgresQueue(url, schema=schema) as dispatch_queue,
    ):
        await worker_queue.apply_schema()
        return await wake_up_latencies(worker_queue, dispatch_queue, base, LATENCY_DISPATCHES)


async def sqlite_latencies(directory: Path, base: str, *, polling: bool) -> Latency:
    path = directory / f"latency-{uuid.uuid4().hex}.sqlite3"
    worker_queue = SQLiteQueue(path)
    dispatch_queue = SQLiteQueue(path) if polling else worker_queue
    try:
        count = POLLING_DISPATCHES if polling else LATENCY_DISPATCHES
        return await wake_up_latencies(worker_queue, dispatch_queue, base, count, spread=polling)
    finally:
        if dispatch_queue is not worker_queue:
            dispatch_queue.close()
        worker_queue.close()


# -- the benchmark -------------------------------------------------------------------------------


def _best_latency(best: Latency | None, run: Latency) -> Latency:
    if best is None:
        return run
    return (min(best[0], run[0]), min(best[1], run[1]), min(best[2], run[2]))


async def _measure(
    url: str, directory: Path, target: str
) -> tuple[dict[str, float], dict[str, Latency]]:
    base = target.rpartition("/hooks")[0]
    rates = {"raw": 0.0, "dispatch": 0.0, "bare": 0.0, **{f"pg{n}": 0.0 for n in PROCESS_COUNTS}}
    latency: dict[str, Latency] = {}
    schema, row = await _job_row(url)
    await raw_aiohttp(target, 500)  # warm the receiver
    for round_number in range(ROUNDS):
        rates["raw"] = max(rates["raw"], await raw_aiohttp(target, DELIVERIES))
        for processes in PROCESS_COUNTS:
            rate = await postgres_deliveries(url, target, processes)
            rates[f"pg{processes}"] = max(rates[f"pg{processes}"], rate)
        rates["bare"] = max(rates["bare"], await bare_inserts(url, schema, row))
        rates["dispatch"] = max(rates["dispatch"], await queue_dispatches(url))
        for name, measured in (
            ("postgres", await postgres_latencies(url, base)),
            ("sqlite in process", await sqlite_latencies(directory, base, polling=False)),
        ):
            latency[name] = _best_latency(latency.get(name), measured)
        if round_number == 0:  # seconds a round; one is enough for a contrast
            latency["sqlite polling"] = await sqlite_latencies(directory, base, polling=True)
    return rates, latency


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def main() -> None:
    reason = postgres_unavailable()
    if reason is not None:
        print(f"\n== PostgreSQL queue: skipped: {reason}")
        return
    with (
        postgres_database() as url,
        tempfile.TemporaryDirectory() as directory,
        running_receiver(Path(directory)) as target,
    ):
        rates, latency = asyncio.run(_measure(url, Path(directory), target))
    print(
        f"\n== PostgresQueue: {DELIVERIES:,} deliveries, max_attempts=1, aiohttp stack, "
        f"{CONCURRENCY} concurrent per worker process, {len(BODY)}-byte body, uvicorn on "
        f"127.0.0.1 in another process; {DISPATCHES:,} dispatches; best of {ROUNDS} "
        "interleaved rounds =="
    )
    print(f"{'contender':<58} {'per second':>11} {'ratio':>7} {'target':>7}")
    rows = [
        ("raw aiohttp loop", rates["raw"], None, None),
        *(
            (
                f"PostgresQueue + Worker, {n} worker process{'es' if n > 1 else ''}",
                rates[f"pg{n}"],
                rates[f"pg{n}"] / rates["raw"],
                0.5 if n == 1 else 0.6,
            )
            for n in PROCESS_COUNTS
        ),
        ("bare psycopg INSERT + COMMIT loop, the same row", rates["bare"], None, None),
        (
            "durable dispatch into PostgresQueue",
            rates["dispatch"],
            rates["dispatch"] / rates["bare"],
            0.5,
        ),
    ]
    for name, rate, ratio, goal in rows:
        shown = "" if ratio is None else f"{ratio:.2f}x"
        wanted = "" if goal is None else f">={goal}x"
        print(f"{name:<58} {rate:>11,.0f} {shown:>7} {wanted:>7}")
    for name, _, ratio, goal in rows:
        if ratio is not None and goal is not None:
            verdict = "meets" if ratio >= goal else "MISSES"
            print(f"target: {name} >= {goal}x: {ratio:.2f}x, {verdict}")
    print(
        "dispatch to first attempt on an idle worker (dispatch call to arrival at the receiver, "
        "one delivery at a time):"
    )
    print(f"{'queue':<64} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, label, count in (
        ("postgres", "PostgresQueue, dispatched from another pool (NOTIFY)", LATENCY_DISPATCHES),
        ("sqlite polling", "SQLiteQueue, dispatched by another queue object (polling)", None),
        ("sqlite in process", "SQLiteQueue, dispatched by the worker's own queue object", None),
    ):
        p50, p99, worst = latency[name]
        dispatches = count or (POLLING_DISPATCHES if "polling" in name else LATENCY_DISPATCHES)
        print(f"{label + f' ({dispatches})':<64} {_ms(p50):>8} {_ms(p99):>8} {_ms(worst):>8}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"] and len(sys.argv) == 4:
        asyncio.run(_worker(sys.argv[2], sys.argv[3]))
    else:
        main()
