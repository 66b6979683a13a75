"""THE CRASH TEST: what operators fear, done on purpose, on every durable queue.

2,000 deliveries are dispatched into the queue; worker processes deliver them to a real
receiver on 127.0.0.1. One worker, the victim, is killed with SIGKILL at random (seeded)
moments, mid-delivery, four times, and restarted each time; the last kill lands while a
delivery an earlier kill interrupted is sent again. Afterwards: every delivery arrived at least
once, every redelivery carried the same ``X-Webhook-Id``, body and signature, the receiver's
unique ids are exactly the 2,000 dispatched, nothing is left pending or in flight, and every
worker stops on SIGTERM with exit code 0.

- SQLite: ``webhook-kit worker --db FILE`` alone (one machine, one file).
- PostgreSQL: three worker processes on one database (``queues/worker_process.py``:
  `Worker` on a `PostgresQueue`, logging its claims and outcomes); the victim runs more at
  once than the two others, so it always holds leases when it is killed and takes most of the
  interrupted deliveries again once their leases expire.

A killed worker's leases expire 3 s after its claim (a 2 s attempt timeout plus a lease grace
of 1 s), and its jobs come back then. Run it alone with ``pytest tests/test_crash.py``; each
backend takes ~15-25 s.
"""

from __future__ import annotations

import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
import pytest

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.queues import QueueCounts, SQLiteQueue
from webhook_kit.testing import Delay, MockReceiver
from worker_processes import (
    WorkerProcess,
    WorkerProcesses,
    assert_every_delivery_arrived_intact,
    dispatch_orders,
    wait_for,
)

SEED = 20_240_611
DELIVERIES = 2_000
KILLS = 4
# The last kill waits until the victim sends again deliveries the earlier kills interrupted.
# (Those are due again when their leases expire, so they come after the backlog due before.)
RECOVERING_KILL = KILLS - 1
TIMEOUT = 2.0  # seconds per attempt …
LEASE_GRACE = 1.0  # … so a killed worker's leases expire 3 s after it claimed
SECRET = "crash-test-secret"
# Short, exact retries: a hiccup under load must not park a delivery for minutes.
RETRIES = RetryPolicy(max_attempts=50, base_delay=0.2, factor=1, max_delay=0.2, jitter=0)

pytestmark = pytest.mark.anyio


class CrashBackend(Protocol):
    """How the crash test runs workers on one kind of queue, and looks at what they hold."""

    queue: Any
    survivors: int  # workers beside the victim, never killed
    victim_concurrency: int
    survivor_concurrency: int
    receiver_delay: float  # each answer (200) comes this late: kills find attempts in flight

    def start(self, name: str, concurrency: int) -> WorkerProcess:
        """Start a worker process on the queue."""
        ...

    def ready(self, worker: WorkerProcess) -> bool:
        """Whether the worker is about to claim."""
        ...

    async def victim_holds_leases(self, victim: WorkerProcess, *, redeliveries: bool) -> bool:
        """Whether the victim holds leases (on deliveries sent before, if ``redeliveries``)."""
        ...


class SQLiteCrash:
    """``webhook-kit worker --db FILE``, the victim alone on the file."""

    survivors = 0
    victim_concurrency = 32
    survivor_concurrency = 0
    receiver_delay = 0.05

    def __init__(self, directory: Path) -> None:
        self.processes = WorkerProcesses(directory)
        self.db = directory / "queue.sqlite3"
        self.queue = SQLiteQueue(self.db)

    def start(self, name: str, concurrency: int) -> WorkerProcess:
        script = Path(sys.executable).with_name("webhook-kit")
        if script.is_file():  # the installed console script, on this interpreter
            command = [sys.executable, str(script)]
        else:  # not installed as a script here: the same entry point
            command = [sys.executable, "-c", "from webhook_kit.cli import main; main()"]
        options = ["--concurrency", str(concurrency), "--lease-grace", str(LEASE_GRACE)]
        return self.processes.start(name, [*command, "worker", "--db", str(self.db), *options])

    def ready(self, worker: WorkerProcess) -> bool:
        return "worker started" in worker.output.read_text(encoding="utf-8", errors="replace")

    async def victim_holds_leases(self, victim: WorkerProcess, *, redeliveries: bool) -> bool:
        del victim, redeliveries  # the only worker: whatever is in flight is its
        return (await self.queue.counts()).in_flight > 0


class PostgresCrash:
    """Three `Worker` processes on one database: the victim and two slower survivors."""

    survivors = 2
    # The survivors alone deliver ~40 a second (2 x 2 at 0.1 s each): however slowly a loaded
    # machine restarts the victim, they cannot drain the backlog before the kills are done.
    victim_concurrency = 16
    survivor_concurrency = 2
    receiver_delay = 0.1

    def __init__(self, directory: Path, url: str) -> None:
        from webhook_kit.queues.postgres import PostgresQueue

        self.processes = WorkerProcesses(directory)
        self.url = url
        self.queue = PostgresQueue(url)

    def start(self, name: str, concurrency: int) -> WorkerProcess:
        options = ["--concurrency", str(concurrency), "--lease-grace", str(LEASE_GRACE)]
        return self.processes.start_helper(name, "postgresql", self.url, *options)

    def ready(self, worker: WorkerProcess) -> bool:
        return worker.ready

    async def victim_holds_leases(self, victim: WorkerProcess, *, redeliveries: bool) -> bool:
        held = victim.unrecorded_claims()
        return any(claim["attempt"] >= 2 for claim in held) if redeliveries else bool(held)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CrashBackend]:
    if request.param == "sqlite":
        sqlite = SQLiteCrash(tmp_path)
        try:
            yield sqlite
        finally:
            sqlite.processes.kill_all()
            sqlite.queue.close()
    else:
        postgres = PostgresCrash(tmp_path, request.getfixturevalue("postgres_url"))
        try:
            async with postgres.queue:
                yield postgres
        finally:
            postgres.processes.kill_all()


async def test_crash_sigkilled_workers_lose_nothing_and_redeliver_the_same_bytes(
    backend: CrashBackend,
) -> None:
    rng = random.Random(SEED)
    receiver = MockReceiver()
    receiver.expect_signature(SECRET)
    receiver.script([Delay(backend.receiver_delay)])  # then 200
    with receiver.serve_in_thread() as url:
        sub = (
            WebhookSubscription(url, SECRET)
            .allow_private_targets(True)
            .timeout(TIMEOUT)
            .retry_policy(RETRIES)
        )
        payloads = await dispatch_orders(sub, backend.queue, DELIVERIES)
        survivors = [
            backend.start(name, backend.survivor_concurrency)
            for name in ("b", "c")[: backend.survivors]
        ]

        def received() -> int:
            return len(receiver.deliveries)

        def redeliveries() -> int:
            return len(receiver.deliveries) - len(receiver.unique_ids())

        for kill in range(KILLS):
            victim = backend.start("a", backend.victim_concurrency)
            everyone = [*survivors, victim]
            recovering = kill == RECOVERING_KILL
            progress: Callable[[], int]
            if recovering:
                # Kill it while it sends interrupted jobs again: they must recover twice.
                progress, target = redeliveries, redeliveries() + 1
                moment = rng.uniform(0, 0.05)  # a few rounds of redeliveries are left
            else:
                progress, target = received, received() + rng.randint(40, 200)
                moment = rng.uniform(0, 0.25)

            async def ready_to_kill(
                progress: Callable[[], int] = progress,
                target: int = target,
                victim: WorkerProcess = victim,
                recovering: bool = recovering,
            ) -> bool:
                return progress() >= target and await backend.victim_holds_leases(
                    victim, redeliveries=recovering
                )

            await wait_for(ready_to_kill, within=60, what=f"kill {kill + 1}", workers=everyone)
            await anyio.sleep(moment)  # a random moment mid-delivery
            assert await victim.kill() == -signal.SIGKILL
            # Mid-work: it left leases behind.
            assert await backend.victim_holds_leases(victim, redeliveries=recovering), (
                victim.describe()
            )

        victim = backend.start("a", backend.victim_concurrency)
        everyone = [*survivors, victim]

        async def started() -> bool:
            return all(backend.ready(worker) for worker in everyone)

        await wait_for(started, within=60, what="the last workers to start", workers=everyone)

        async def drained() -> bool:
            counts = await backend.queue.counts()
            return (counts.pending, counts.in_flight, counts.delivered) == (0, 0, DELIVERIES)

        await wait_for(drained, within=120, what="the queue to drain", workers=everyone)
        exits = {worker.name: await worker.terminate() for worker in everyone}
        assert set(exits.values()) == {0}, "\n".join(worker.describe() for worker in everyone)

    assert_every_delivery_arrived_intact(receiver, payloads)
    assert await backend.queue.counts() == QueueCounts(
        pending=0, due=0, in_flight=0, delivered=DELIVERIES, dead=0
    )
    assert await backend.queue.list_dead_letters() == []
    for delivery_id in payloads:
        history = await backend.queue.history(delivery_id)
        assert history[-1].outcome == "delivered"
