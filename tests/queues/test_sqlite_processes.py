"""Two worker processes on one SQLite file: no job is claimed twice while its lease is valid.

Each worker is a real process (``sqlite_worker_process.py``: a `Worker` on the file, logging
every claim with its lease) delivering to a `MockReceiver` on 127.0.0.1. The claim logs are
the evidence: per delivery id, no claim starts before the previous claim's lease ended.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from webhook_kit import WebhookSubscription
from webhook_kit.queues import QueueCounts, SQLiteQueue
from webhook_kit.testing import Delay, MockReceiver
from worker_processes import wait_for

HELPER = Path(__file__).with_name("sqlite_worker_process.py")
SECRET = "two-processes-secret"
# Floats computed in SQL and then taken apart again in the log: allow for the last bits.
EPSILON = 1e-6

pytestmark = pytest.mark.anyio


@dataclass
class WorkerProcess:
    """One helper worker process, its claim log and its stderr."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    stderr: Path

    def lines(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        text = self.log.read_text(encoding="utf-8")
        # The last line may be half-written while the process runs.
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def claims(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["kind"] == "claim"]

    @property
    def ready(self) -> bool:
        return any(line["kind"] == "ready" for line in self.lines())

    def describe(self) -> str:
        errors = self.stderr.read_text(encoding="utf-8", errors="replace")[-3000:]
        return (
            f"worker {self.name} (pid {self.process.pid}, exit {self.process.poll()}): "
            f"{len(self.claims())} claims; stderr:\n{errors}"
        )

    async def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await anyio.to_thread.run_sync(self.process.wait, 60)


@asynccontextmanager
async def worker_processes(tmp_path: Path) -> AsyncIterator[Callable[..., WorkerProcess]]:
    """Start helper workers with ``start(name, db, ...)``; any left running are killed."""
    started: list[WorkerProcess] = []

    def start(
        name: str, db: Path, *, concurrency: int = 8, lease_grace: float = 15.0
    ) -> WorkerProcess:
        log, stderr = tmp_path / f"{name}.claims.jsonl", tmp_path / f"{name}.stderr"
        with stderr.open("wb") as errors:
            process = subprocess.Popen(
                [
                    sys.executable,
                    str(HELPER),
                    str(db),
                    str(log),
                    "--concurrency",
                    str(concurrency),
                    "--lease-grace",
                    str(lease_grace),
                ],
                stdin=subprocess.DEVNULL,
                stdout=errors,
                stderr=errors,
                cwd=tmp_path,
            )
        worker = WorkerProcess(name, process, log, stderr)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGCONT)  # in case a test froze it
                worker.process.kill()
                worker.process.wait(60)


def claims_by_id(workers: list[WorkerProcess]) -> dict[str, list[dict[str, Any]]]:
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for worker in workers:
        for claim in worker.claims():
            by_id[claim["id"]].append(claim)
    for claims in by_id.values():
        claims.sort(key=lambda claim: claim["claimed_at"])
    return by_id


def assert_no_overlapping_leases(by_id: dict[str, list[dict[str, Any]]]) -> None:
    """Per id, each claim started after the previous lease ended, and counted one more."""
    for delivery_id, claims in by_id.items():
        for earlier, later in itertools.pairwise(claims):
            assert later["claimed_at"] >= earlier["lease_until"] - EPSILON, (
                f"{delivery_id} was claimed by pid {later['pid']} at {later['claimed_at']} "
                f"while pid {earlier['pid']} held it until {earlier['lease_until']}"
            )
            assert later["attempt"] == earlier["attempt"] + 1
        assert claims[0]["attempt"] == 1


async def test_two_worker_processes_deliver_each_job_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    queue = SQLiteQueue(db)
    receiver = MockReceiver()
    receiver.script([Delay(0.01)])  # 200 after 10 ms, always
    count = 600
    try:
        with receiver.serve_in_thread() as url:
            async with worker_processes(tmp_path) as start:
                workers = [start("a", db), start("b", db)]

                async def both_ready() -> bool:
                    return all(worker.ready for worker in workers)

                await wait_for(both_ready, within=60, what="both workers", workers=workers)
                sub = WebhookSubscription(url, SECRET).allow_private_targets(True)
                dispatched = [
                    await sub.dispatch(queue, "order.created", {"n": n}) for n in range(count)
                ]

                async def all_delivered() -> bool:
                    return (await queue.counts()).delivered == count

                await wait_for(all_delivered, within=120, what="the deliveries", workers=workers)
                assert [await worker.terminate() for worker in workers] == [0, 0]

        by_id = claims_by_id(workers)
        assert sorted(by_id) == sorted(dispatched)
        claimed_twice = {delivery_id for delivery_id, claims in by_id.items() if len(claims) > 1}
        assert claimed_twice == set()
        per_worker = Counter(claim["pid"] for claims in by_id.values() for claim in claims)
        assert sorted(per_worker) == sorted(worker.process.pid for worker in workers)
        assert all(claims > 0 for claims in per_worker.values()), per_worker  # both worked

        assert sorted(receiver.unique_ids()) == sorted(dispatched)
        assert receiver.duplicates() == {}
        assert await queue.counts() == QueueCounts(0, 0, 0, count, 0)
        for delivery_id in dispatched:
            (attempt,) = await queue.history(delivery_id)
            assert (attempt.attempt, attempt.status) == (1, 200)
    finally:
        queue.close()


async def test_a_frozen_workers_leases_are_taken_over_only_when_they_expire(
    tmp_path: Path,
) -> None:
    """Worker A is frozen (SIGSTOP) holding leases while B keeps claiming; B takes A's jobs
    over only once their leases expire; A, thawed, finishes its stale attempts and its
    outcomes change nothing."""
    db = tmp_path / "queue.sqlite3"
    queue = SQLiteQueue(db)
    receiver = MockReceiver()
    receiver.script([Delay(0.5)])  # 200 after half a second: A is frozen mid-attempt
    count = 48  # B alone needs 6 s for them: it is still claiming all through A's leases
    lease_grace = 2.0  # with the 1 s timeout below, a lease lasts 3 s
    try:
        with receiver.serve_in_thread() as url:
            sub = WebhookSubscription(url, SECRET).allow_private_targets(True).timeout(1)
            async with worker_processes(tmp_path) as start:
                a = start("a", db, concurrency=4, lease_grace=lease_grace)
                b = start("b", db, concurrency=4, lease_grace=lease_grace)

                async def both_ready() -> bool:
                    return a.ready and b.ready

                await wait_for(both_ready, within=60, what="both workers", workers=[a, b])
                dispatched = [
                    await sub.dispatch(queue, "order.created", {"n": n}) for n in range(count)
                ]

                async def a_claimed() -> bool:
                    return bool(a.claims())

                await wait_for(a_claimed, within=60, what="a's first claims", workers=[a, b])
                a.process.send_signal(signal.SIGSTOP)

                async def all_delivered() -> bool:
                    return (await queue.counts()).delivered == count

                await wait_for(all_delivered, within=120, what="b's deliveries", workers=[a, b])
                a.process.send_signal(signal.SIGCONT)
                assert await a.terminate() == 0  # after its stale attempts finished
                assert await b.terminate() == 0

        by_id = claims_by_id([a, b])
        assert sorted(by_id) == sorted(dispatched)
        assert_no_overlapping_leases(by_id)

        frozen_with = a.claims()
        assert frozen_with
        assert {claim["attempt"] for claim in frozen_with} == {1}
        # B was claiming while A's leases were valid, and took none of A's jobs then.
        window_start = max(claim["claimed_at"] for claim in frozen_with)
        window_end = min(claim["lease_until"] for claim in frozen_with)
        during = [claim for claim in b.claims() if window_start < claim["claimed_at"] < window_end]
        assert during, "b made no claim while a's leases were valid"
        assert {claim["id"] for claim in during}.isdisjoint(c["id"] for c in frozen_with)
        # Afterwards B took over exactly A's jobs, each counting A's lost attempt.
        taken_over = {
            delivery_id
            for delivery_id, claims in by_id.items()
            if [claim["pid"] for claim in claims] == [a.process.pid, b.process.pid]
        }
        assert taken_over == {claim["id"] for claim in frozen_with}
        assert all(len(claims) == 1 for i, claims in by_id.items() if i not in taken_over)

        # Only live leases' outcomes were recorded: A's late outcomes changed nothing.
        assert await queue.counts() == QueueCounts(0, 0, 0, count, 0)
        for delivery_id, claims in by_id.items():
            (attempt,) = await queue.history(delivery_id)
            assert (attempt.attempt, attempt.status) == (claims[-1]["attempt"], 200)
        assert sorted(receiver.unique_ids()) == sorted(dispatched)
        for deliveries in receiver.duplicates().values():
            assert len({delivery.body for delivery in deliveries}) == 1
        assert "after its lease expired" in a.stderr.read_text(encoding="utf-8")
    finally:
        queue.close()
