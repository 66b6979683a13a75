"""THE CRASH TEST on PostgreSQL: three worker processes, one of them SIGKILLed again and again.

2,000 deliveries are dispatched into a `ProcrastinateQueue`; three worker processes
(``postgres_worker_process.py``: `ProcrastinateQueue.run_worker`, each its own queue and pool)
deliver them to a real receiver on 127.0.0.1. Worker ``a`` is killed with SIGKILL at random
(seeded) moments, mid-delivery, several times, and restarted each time; the last kill lands
while it sends again a delivery an earlier kill interrupted. The jobs a killed worker held are
recovered by the sweep of the others once its heartbeat is ``STALLED_AFTER`` seconds old.

Afterwards: every delivery arrived at least once; every redelivery carried the same
``X-Webhook-Id``, body and signature; the receiver's unique ids are exactly the 2,000
dispatched; nothing is pending or in flight; and every worker stops on SIGTERM with exit 0.

The receiver answers after 0.2 s and the survivors run few deliveries at once, so that the
backlog outlasts the kills however slowly a loaded machine restarts the victim.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.queues import QueueCounts
from webhook_kit.testing import Delay, MockReceiver
from worker_processes import assert_every_delivery_arrived_intact, dispatch_orders, wait_for

HELPER = Path(__file__).with_name("postgres_worker_process.py")
SEED = 20_240_612
DELIVERIES = 2_000
KILLS = 4
# The last kill waits until the victim runs a job again that an earlier kill interrupted.
RECOVERING_KILL = KILLS - 1
SECRET = "postgres-crash-test-secret"
# Small timing knobs: a killed worker's jobs are due again 10-11 s after its last heartbeat,
# after its restart (however slow on a loaded machine): the restarted victim takes most of them.
HEARTBEAT_INTERVAL = 0.5
STALLED_AFTER = 10.0
SWEEP_INTERVAL = 1.0
POLL_INTERVAL = 0.2
# The victim runs more at once than the others, so it always holds jobs when it is killed
# and takes most of the recovered ones (they are due before the backlog: lower ids). The
# survivors alone deliver ~20 a second (2 x 2 at 0.2 s each): however slowly a loaded machine
# restarts the victim, they cannot drain the backlog before the kills are done.
VICTIM_CONCURRENCY = 16
SURVIVOR_CONCURRENCY = 2
RECEIVER_DELAY = 0.2  # 200 after 0.2 s
# Short, exact retries: a hiccup under load must not park a delivery for minutes.
RETRIES = RetryPolicy(max_attempts=50, base_delay=0.2, factor=1, max_delay=0.2, jitter=0)

pytestmark = pytest.mark.anyio


@dataclass
class WorkerProcess:
    """One helper worker process and its log (stdout and stderr)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def describe(self) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
        return f"worker {self.name} (pid {self.process.pid}, exit {self.process.poll()}):\n{text}"

    async def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await anyio.to_thread.run_sync(self.process.wait, 30)

    async def kill(self) -> int:
        self.process.kill()
        return await anyio.to_thread.run_sync(self.process.wait, 30)


@contextmanager
def worker_processes(url: str, directory: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """``start(name, concurrency=…)`` starts a helper worker; any left running are killed."""
    started: list[WorkerProcess] = []

    def start(name: str, *, concurrency: int) -> WorkerProcess:
        log = directory / f"{name}-{len(started) + 1}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    str(HELPER),
                    url,
                    "--name",
                    name,
                    "--concurrency",
                    str(concurrency),
                    "--poll-interval",
                    str(POLL_INTERVAL),
                    "--heartbeat-interval",
                    str(HEARTBEAT_INTERVAL),
                    "--stalled-after",
                    str(STALLED_AFTER),
                    "--sweep-interval",
                    str(SWEEP_INTERVAL),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd=directory,
            )
        worker = WorkerProcess(name, process, log)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(60)


class Database:
    """Direct reads of procrastinate's tables, on a connection of the test's own."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def value(self, query: str, *parameters: object) -> int:
        cursor = await self.connection.execute(query, parameters)
        row = await cursor.fetchone()
        return int(row[0] or 0)

    async def workers(self) -> int:
        return await self.value("SELECT count(*) FROM procrastinate_workers")

    async def newest_worker_id(self) -> int:
        return await self.value("SELECT max(id) FROM procrastinate_workers")

    async def jobs_held_by(self, worker_id: int, *, redeliveries_only: bool = False) -> int:
        """Jobs in ``doing`` on that worker (only those an earlier attempt ran, if asked)."""
        return await self.value(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'"
            " AND worker_id = %s AND attempts >= %s",
            worker_id,
            1 if redeliveries_only else 0,
        )


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    import psycopg  # after the postgres_url fixture: it skips (or fails) where it is missing

    connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        yield Database(connection)
    finally:
        await connection.close()


async def kill_at_a_random_moment(
    victim: WorkerProcess,
    victim_id: int,
    *,
    recovering: bool,
    rng: random.Random,
    db: Database,
    receiver: MockReceiver,
    everyone: list[WorkerProcess],
    what: str,
) -> None:
    """SIGKILL the victim mid-delivery; check it left jobs in ``doing`` behind."""
    if recovering:
        # Once it sends again a delivery that an earlier kill interrupted.
        async def ready_to_kill() -> bool:
            return await db.jobs_held_by(victim_id, redeliveries_only=True) > 0

        moment = rng.uniform(0, 0.05)
    else:
        # Once 40 to 200 more deliveries reached the receiver (from any worker).
        target = len(receiver.deliveries) + rng.randint(40, 200)

        async def ready_to_kill() -> bool:
            return len(receiver.deliveries) >= target and await db.jobs_held_by(victim_id) > 0

        moment = rng.uniform(0, 0.25)
    await wait_for(ready_to_kill, within=60, what=what, workers=everyone)
    await anyio.sleep(moment)  # a random moment mid-delivery
    assert await victim.kill() == -signal.SIGKILL
    # Mid-work: it left jobs in 'doing' for the others' sweeps to recover.
    assert await db.jobs_held_by(victim_id) > 0, victim.describe()
    if recovering:
        assert await db.jobs_held_by(victim_id, redeliveries_only=True) > 0


async def test_crash_three_workers_one_sigkilled_lose_nothing_and_resend_the_same_bytes(
    postgres_url: str, tmp_path: Path
) -> None:
    from webhook_kit.queues.procrastinate import ProcrastinateQueue

    rng = random.Random(SEED)
    receiver = MockReceiver()
    receiver.expect_signature(SECRET)
    receiver.script([Delay(RECEIVER_DELAY)])
    async with ProcrastinateQueue(postgres_url) as queue, database(postgres_url) as db:
        with receiver.serve_in_thread() as url, worker_processes(postgres_url, tmp_path) as start:
            sub = (
                WebhookSubscription(url, SECRET)
                .allow_private_targets(True)
                .timeout(5)
                .retry_policy(RETRIES)
            )
            payloads = await dispatch_orders(sub, queue, DELIVERIES)

            survivors = [start(name, concurrency=SURVIVOR_CONCURRENCY) for name in ("b", "c")]

            async def survivors_registered() -> bool:
                return await db.workers() == len(survivors)

            await wait_for(
                survivors_registered, within=60, what="workers b and c", workers=survivors
            )
            for kill in range(KILLS + 1):
                # b and c registered once; the newest worker row is a's after each start.
                known = await db.newest_worker_id()
                victim = start("a", concurrency=VICTIM_CONCURRENCY)
                everyone = [*survivors, victim]

                async def victim_registered(known: int = known) -> bool:
                    return await db.newest_worker_id() > known

                await wait_for(
                    victim_registered, within=60, what="worker a to start", workers=everyone
                )
                if kill == KILLS:
                    break  # a's last start: it stays, and is stopped with the others
                await kill_at_a_random_moment(
                    victim,
                    await db.newest_worker_id(),
                    recovering=kill == RECOVERING_KILL,
                    rng=rng,
                    db=db,
                    receiver=receiver,
                    everyone=everyone,
                    what=f"kill {kill + 1}",
                )

            async def drained() -> bool:
                counts = await queue.counts()
                return (counts.pending, counts.in_flight, counts.delivered) == (0, 0, DELIVERIES)

            await wait_for(drained, within=120, what="the queue to drain", workers=everyone)
            exits = {worker.name: await worker.terminate() for worker in everyone}
            assert exits == {"a": 0, "b": 0, "c": 0}, "\n".join(w.describe() for w in everyone)

        assert_every_delivery_arrived_intact(receiver, payloads)

        assert await queue.counts() == QueueCounts(
            pending=0, due=0, in_flight=0, delivered=DELIVERIES, dead=0
        )
        assert await queue.list_dead_letters() == []
        interrupted = 0
        for delivery_id in payloads:
            history = await queue.history(delivery_id)
            # Not necessarily the last record: two sweeps that overlap can both recover a job,
            # the later one after a live worker took it again, and log a stale interruption.
            assert "delivered" in {record.outcome for record in history}, history
            interrupted += sum(
                (record.error or "").startswith("interrupted") for record in history
            )
        # Every kill left jobs behind; each was recovered and logged as an interrupted attempt.
        assert interrupted >= KILLS
