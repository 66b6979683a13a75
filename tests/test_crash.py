"""THE CRASH TEST: what operators fear, done on purpose.

2,000 deliveries are dispatched into a SQLite queue file; ``webhook-kit worker`` delivers them
to a real receiver on 127.0.0.1 and is killed with SIGKILL at random (seeded) moments, several
times, mid-delivery, and restarted each time. Afterwards: every delivery arrived at least once,
every redelivery carried the same ``X-Webhook-Id``, body and signature, the receiver's unique
ids are exactly the 2,000 dispatched, nothing is left pending or in flight, and the last worker
stops on SIGTERM with exit code 0.

Run it alone with ``pytest tests/test_crash.py`` (or ``-k crash``). It takes ~15-25 s: a worker
process starts five times and the killed workers' leases must expire (a 2 s attempt timeout
plus ``--lease-grace 1``) before their jobs are claimed again.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.queues import QueueCounts, SQLiteQueue
from webhook_kit.testing import Delay, MockReceiver
from worker_processes import assert_every_delivery_arrived_intact, dispatch_orders, wait_for

SEED = 20_240_611
DELIVERIES = 2_000
KILLS = 4
# The last kill waits until its worker redelivers jobs the earlier kills interrupted. (Those
# are due again when their leases expire, so they come after the backlog due before then.)
RECOVERING_KILL = KILLS - 1
CONCURRENCY = 32
TIMEOUT = 2.0  # seconds per attempt …
LEASE_GRACE = 1.0  # … so a killed worker's leases expire 3 s after it claimed
SECRET = "crash-test-secret"
# Short, exact retries: a hiccup under load must not park a delivery for minutes.
RETRIES = RetryPolicy(max_attempts=50, base_delay=0.2, factor=1, max_delay=0.2, jitter=0)


def worker_command(db: Path) -> list[str]:
    """``webhook-kit worker`` through the installed console script, on this interpreter."""
    script = Path(sys.executable).with_name("webhook-kit")
    if script.is_file():
        command = [sys.executable, str(script)]
    else:  # not installed as a script here: the same entry point
        command = [sys.executable, "-c", "from webhook_kit.cli import main; main()"]
    return [
        *command,
        "worker",
        "--db",
        str(db),
        "--concurrency",
        str(CONCURRENCY),
        "--lease-grace",
        str(LEASE_GRACE),
    ]


class WorkerRuns:
    """Starts ``webhook-kit worker`` processes, one at a time, each with its own log file."""

    def __init__(self, db: Path, directory: Path) -> None:
        self.db = db
        self.directory = directory
        self.runs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self.directory / f"worker-{len(self.runs) + 1}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                worker_command(self.db),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd=self.directory,
            )
        self.runs.append((process, log))
        return process

    name = "worker"

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The latest run (the one a wait watches)."""
        return self.runs[-1][0]

    def describe(self) -> str:
        return self.log()

    def log(self) -> str:
        process, log = self.runs[-1]
        text = log.read_text(encoding="utf-8", errors="replace")
        return f"worker run {len(self.runs)} (exit {process.poll()}), log tail:\n{text[-3000:]}"

    def kill_all(self) -> None:
        for process, _ in self.runs:
            if process.poll() is None:
                process.kill()
                process.wait(60)


@pytest.mark.anyio
async def test_crash_sigkilled_workers_lose_nothing_and_redeliver_the_same_bytes(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "queue.sqlite3"
    queue = SQLiteQueue(db)
    receiver = MockReceiver()
    receiver.expect_signature(SECRET)
    # 200 after 50 ms: a kill always finds attempts in flight, some already answered.
    receiver.script([Delay(0.05)])
    workers = WorkerRuns(db, tmp_path)
    try:
        with receiver.serve_in_thread() as url:
            sub = (
                WebhookSubscription(url, SECRET)
                .allow_private_targets(True)
                .timeout(TIMEOUT)
                .retry_policy(RETRIES)
            )
            payloads = await dispatch_orders(sub, queue, DELIVERIES)

            def received() -> int:
                return len(receiver.deliveries)

            def redeliveries() -> int:
                return len(receiver.deliveries) - len(receiver.unique_ids())

            for kill in range(KILLS):
                process = workers.start()
                progress: Callable[[], int]
                if kill == RECOVERING_KILL:
                    # Kill it while it sends interrupted jobs again: they must recover twice.
                    progress, target = redeliveries, redeliveries() + 1
                    moment = rng.uniform(0, 0.05)  # a few rounds of redeliveries are left
                else:
                    progress, target = received, received() + rng.randint(40, 200)
                    moment = rng.uniform(0, 0.25)

                async def ready_to_kill(
                    progress: Callable[[], int] = progress, target: int = target
                ) -> bool:
                    return progress() >= target

                await wait_for(
                    ready_to_kill, within=60, what=f"kill {kill + 1}", workers=[workers]
                )
                await anyio.sleep(moment)  # a random moment mid-delivery
                process.kill()
                assert await anyio.to_thread.run_sync(process.wait, 60) == -signal.SIGKILL
                counts = await queue.counts()
                assert counts.in_flight > 0, counts  # mid-work: it left leases behind

            process = workers.start()

            async def started() -> bool:
                return "worker started" in workers.log()

            await wait_for(started, within=60, what="the last worker to start", workers=[workers])

            async def drained() -> bool:
                counts = await queue.counts()
                return (counts.pending, counts.in_flight, counts.delivered) == (
                    0,
                    0,
                    DELIVERIES,
                )

            await wait_for(drained, within=120, what="the queue to drain", workers=[workers])
            process.send_signal(signal.SIGTERM)
            assert await anyio.to_thread.run_sync(process.wait, 60) == 0, workers.log()

        assert_every_delivery_arrived_intact(receiver, payloads)

        assert await queue.counts() == QueueCounts(
            pending=0, due=0, in_flight=0, delivered=DELIVERIES, dead=0
        )
        assert await queue.list_dead_letters() == []
        for delivery_id in payloads:
            history = await queue.history(delivery_id)
            assert history[-1].outcome == "delivered"
    finally:
        workers.kill_all()
        queue.close()
