"""Worker processes sharing one PostgreSQL database: no job runs twice while its lease is valid,
and endpoint health one process learns, the others obey.

Each worker is a real process (``postgres_worker_process.py``: a `Worker` on a `PostgresQueue`,
logging every claim with its lease and every outcome it recorded) delivering to a
`MockReceiver` on 127.0.0.1. The claim logs are the evidence. (The crash test, three processes
and one SIGKILLed again and again, is ``tests/test_crash.py``.)
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
from webhook_kit.health import endpoint_of
from webhook_kit.queues import QueueCounts
from webhook_kit.testing import Delay, MockReceiver
from webhook_kit.worker import enable_endpoint
from worker_processes import wait_for

HELPER = Path(__file__).with_name("postgres_worker_process.py")
SECRET = "postgres-processes-secret"
# Lease times are the database server's, each translated to its worker's clock at the moment
# the worker read it: times from two workers compare to within that moment (milliseconds on
# one machine); this margin is far above it and far below the 3 s leases compared.
MARGIN = 0.25

pytestmark = [pytest.mark.anyio, pytest.mark.postgresql]


@dataclass
class WorkerProcess:
    """One helper worker process, its claim log and its output."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    output: Path

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
        text = self.output.read_text(encoding="utf-8", errors="replace")[-3000:]
        return (
            f"worker {self.name} (pid {self.process.pid}, exit {self.process.poll()}): "
            f"{len(self.claims())} claims; output:\n{text}"
        )

    async def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await anyio.to_thread.run_sync(self.process.wait, 60)


@asynccontextmanager
async def worker_processes(
    url: str, directory: Path
) -> AsyncIterator[Callable[..., WorkerProcess]]:
    """Start helper workers with ``start(name, *options)``; any left running are killed."""
    started: list[WorkerProcess] = []

    def start(name: str, *options: str) -> WorkerProcess:
        log, output = directory / f"{name}.claims.jsonl", directory / f"{name}.log"
        with output.open("wb") as stream:
            process = subprocess.Popen(
                [sys.executable, str(HELPER), url, str(log), *options],
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=stream,
                cwd=directory,
            )
        worker = WorkerProcess(name, process, log, output)
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


@asynccontextmanager
async def postgres_queue(url: str) -> AsyncIterator[Any]:
    """The application's queue on the database (dispatch, counts, history)."""
    from webhook_kit.queues.postgres import PostgresQueue

    async with PostgresQueue(url) as queue:
        yield queue


def claims_by_id(workers: list[WorkerProcess]) -> dict[str, list[dict[str, Any]]]:
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for worker in workers:
        for claim in worker.claims():
            by_id[claim["id"]].append(claim)
    for claims in by_id.values():
        claims.sort(key=lambda claim: claim["attempt"])
    return by_id


async def test_two_worker_processes_deliver_each_job_exactly_once(
    postgres_url: str, tmp_path: Path
) -> None:
    receiver = MockReceiver()
    receiver.script([Delay(0.01)])  # 200 after 10 ms, always
    count = 600
    async with postgres_queue(postgres_url) as queue:
        with receiver.serve_in_thread() as url:
            async with worker_processes(postgres_url, tmp_path) as start:
                workers = [start(name, "--concurrency", "8") for name in ("a", "b")]

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


async def test_a_frozen_workers_leases_are_taken_over_only_when_they_expire(
    postgres_url: str, tmp_path: Path
) -> None:
    """Worker A is frozen (SIGSTOP) holding leases while B keeps claiming; B takes A's jobs
    over only once their leases expire; A, thawed, finishes its stale attempts and its
    outcomes change nothing."""
    receiver = MockReceiver()
    receiver.script([Delay(0.5)])  # 200 after half a second: A is frozen mid-attempt
    count = 48  # B alone needs 6 s for them: it is still claiming all through A's leases
    options = ("--concurrency", "4", "--lease-grace", "2")  # with a 1 s timeout: 3 s leases
    async with postgres_queue(postgres_url) as queue:
        with receiver.serve_in_thread() as url:
            sub = WebhookSubscription(url, SECRET).allow_private_targets(True).timeout(1)
            async with worker_processes(postgres_url, tmp_path) as start:
                a, b = start("a", *options), start("b", *options)

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
        for delivery_id, claims in by_id.items():
            assert claims[0]["attempt"] == 1
            for earlier, later in itertools.pairwise(claims):
                assert later["attempt"] == earlier["attempt"] + 1, (delivery_id, claims)

        frozen_with = a.claims()
        assert frozen_with
        assert {claim["attempt"] for claim in frozen_with} == {1}
        # B was claiming while A's leases were valid, and took none of A's jobs then.
        window_start = max(claim["claimed_at"] for claim in frozen_with)
        window_end = min(claim["lease_until"] for claim in frozen_with)
        during = [
            claim
            for claim in b.claims()
            if window_start < claim["claimed_at"] < window_end - MARGIN
        ]
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
        for delivery_id in taken_over:
            frozen, later = by_id[delivery_id]
            assert later["claimed_at"] >= frozen["lease_until"] - MARGIN, (frozen, later)

        # Only live leases' outcomes were recorded: A's late outcomes changed nothing.
        refused = [line for line in a.lines() if line["kind"] == "record"]
        assert refused
        assert not any(line["accepted"] for line in refused)
        assert await queue.counts() == QueueCounts(0, 0, 0, count, 0)
        for delivery_id, claims in by_id.items():
            (attempt,) = await queue.history(delivery_id)
            assert (attempt.attempt, attempt.status) == (claims[-1]["attempt"], 200)
        assert sorted(receiver.unique_ids()) == sorted(dispatched)
        for deliveries in receiver.duplicates().values():
            assert len({delivery.body for delivery in deliveries}) == 1


async def test_endpoint_health_one_worker_process_learns_the_others_obey(
    postgres_url: str, tmp_path: Path
) -> None:
    """A disables an endpoint that answered 410; B, another process started later, makes no
    request to it; an enable from a third (the app, or ``webhook-kit endpoints enable``)
    reaches the running B, and the redriven deliveries arrive."""
    receiver = MockReceiver()
    receiver.script([410, 200])  # 410 once, then 200
    options = ("--health", "--endpoint-sync-interval", "0.1")
    async with postgres_queue(postgres_url) as queue:
        with receiver.serve_in_thread() as url:
            endpoint = endpoint_of(url)
            sub = WebhookSubscription(url, SECRET).allow_private_targets(True)
            async with worker_processes(postgres_url, tmp_path) as start:
                a = start("a", *options)
                gone = await sub.dispatch(queue, "order.created", {"n": 1})

                async def disabled() -> bool:
                    records = {r.endpoint: r for r in await queue.endpoint_records()}
                    return endpoint in records and records[endpoint].state == "disabled"

                await wait_for(disabled, within=60, what="a to disable the endpoint", workers=[a])
                assert await a.terminate() == 0

                b = start("b", *options)

                async def b_ready() -> bool:
                    return b.ready

                await wait_for(b_ready, within=60, what="worker b", workers=[b])
                held = await sub.dispatch(queue, "order.created", {"n": 2})

                async def both_dead() -> bool:
                    return (await queue.counts()).dead == 2

                await wait_for(both_dead, within=60, what="b to hold the delivery", workers=[b])
                assert [d.id for d in receiver.deliveries] == [gone]  # b sent nothing
                letters = {letter.id: letter for letter in await queue.list_dead_letters()}
                assert letters[gone].gone
                assert "endpoint is disabled" in letters[held].reason

                await enable_endpoint(queue, url)
                for delivery_id in (gone, held):
                    await queue.redrive(delivery_id)

                async def delivered() -> bool:
                    return (await queue.counts()).delivered == 2

                await wait_for(delivered, within=60, what="the redriven deliveries", workers=[b])
                assert await b.terminate() == 0

        assert sorted(d.id or "" for d in receiver.deliveries if d.delivered) == sorted(
            [gone, held]
        )
        assert await queue.list_dead_letters() == []
        assert [(r.endpoint, r.state) for r in await queue.endpoint_records()] == [
            (endpoint, "healthy")
        ]
        claimed = {claim["id"] for claim in b.claims()}
        assert claimed == {gone, held}  # b made every claim after the disable
