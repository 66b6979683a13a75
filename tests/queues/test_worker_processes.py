"""Worker processes sharing one SQLite file or one PostgreSQL database: no job runs twice while
its lease is valid; and, on PostgreSQL, endpoint health one process learns, the others obey.

Each worker is a real process (``worker_process.py``: a `Worker` on the backend's queue,
logging every claim with its lease and every outcome it recorded) delivering to a
`MockReceiver` on 127.0.0.1. The claim logs are the evidence. (The crash test, workers
SIGKILLed again and again, is ``tests/test_crash.py``.)
"""

from __future__ import annotations

import itertools
import signal
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from webhook_kit import WebhookSubscription
from webhook_kit.health import endpoint_of
from webhook_kit.queues import QueueCounts, SQLiteQueue
from webhook_kit.testing import Delay, MockReceiver
from webhook_kit.worker import enable_endpoint
from worker_processes import WorkerProcess, WorkerProcesses, wait_for

SECRET = "worker-processes-secret"

pytestmark = pytest.mark.anyio


@dataclass
class Backend:
    """The queue the helper workers share, and the application's handle on it."""

    name: str  # as ``worker_process.py`` takes it
    target: str  # the file or the URL
    queue: Any  # the application's queue on it (dispatch, counts, history)
    # How far apart two workers' lease times may be and still be the same moment. SQLite:
    # floats computed in SQL and then taken apart again in the log, so the last bits.
    # PostgreSQL: times are the server's, each translated to its worker's clock at the moment
    # the worker read it, so they compare to within that moment (milliseconds on one
    # machine); the margin is far above it and far below the 3 s leases compared.
    margin: float

    def start(self, processes: WorkerProcesses, name: str, *options: str) -> WorkerProcess:
        """A helper worker on this queue."""
        return processes.start_helper(name, self.name, self.target, *options)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        db = tmp_path / "queue.sqlite3"
        sqlite = SQLiteQueue(db)
        try:
            yield Backend("sqlite", str(db), sqlite, margin=1e-6)
        finally:
            sqlite.close()
    else:
        from webhook_kit.queues.postgres import PostgresQueue

        url = request.getfixturevalue("postgres_url")
        async with PostgresQueue(url) as postgres:
            yield Backend("postgresql", url, postgres, margin=0.25)


def claims_by_id(workers: list[WorkerProcess]) -> dict[str, list[dict[str, Any]]]:
    """Every claim the workers logged, per delivery id, in the order of their attempts."""
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for worker in workers:
        for claim in worker.claims():
            by_id[claim["id"]].append(claim)
    for claims in by_id.values():
        claims.sort(key=lambda claim: claim["attempt"])
    return by_id


def assert_no_overlapping_leases(by_id: dict[str, list[dict[str, Any]]], margin: float) -> None:
    """Per id, each claim counted one more attempt and started after the previous lease ended."""
    for delivery_id, claims in by_id.items():
        assert claims[0]["attempt"] == 1, (delivery_id, claims)
        for earlier, later in itertools.pairwise(claims):
            assert later["attempt"] == earlier["attempt"] + 1, (delivery_id, claims)
            assert later["claimed_at"] >= earlier["lease_until"] - margin, (
                f"{delivery_id} was claimed by pid {later['pid']} at {later['claimed_at']} "
                f"while pid {earlier['pid']} held it until {earlier['lease_until']}"
            )


async def test_two_worker_processes_deliver_each_job_exactly_once(
    backend: Backend, tmp_path: Path
) -> None:
    queue = backend.queue
    receiver = MockReceiver()
    receiver.script([Delay(0.01)])  # 200 after 10 ms, always
    count = 600
    with receiver.serve_in_thread() as url, WorkerProcesses(tmp_path) as processes:
        workers = [backend.start(processes, name, "--concurrency", "8") for name in ("a", "b")]

        async def both_ready() -> bool:
            return all(worker.ready for worker in workers)

        await wait_for(both_ready, within=60, what="both workers", workers=workers)
        sub = WebhookSubscription(url, SECRET).allow_private_targets(True)
        dispatched = [await sub.dispatch(queue, "order.created", {"n": n}) for n in range(count)]

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
    backend: Backend, tmp_path: Path
) -> None:
    """Worker A is frozen (SIGSTOP) holding leases while B keeps claiming; B takes A's jobs
    over only once their leases expire; A, thawed, finishes its stale attempts and its
    outcomes change nothing."""
    queue = backend.queue
    receiver = MockReceiver()
    receiver.script([Delay(0.5)])  # 200 after half a second: A is frozen mid-attempt
    count = 48  # B alone needs 6 s for them: it is still claiming all through A's leases
    options = ("--concurrency", "4", "--lease-grace", "2")  # with a 1 s timeout: 3 s leases
    with receiver.serve_in_thread() as url, WorkerProcesses(tmp_path) as processes:
        sub = WebhookSubscription(url, SECRET).allow_private_targets(True).timeout(1)
        a, b = backend.start(processes, "a", *options), backend.start(processes, "b", *options)

        async def both_ready() -> bool:
            return a.ready and b.ready

        await wait_for(both_ready, within=60, what="both workers", workers=[a, b])
        dispatched = [await sub.dispatch(queue, "order.created", {"n": n}) for n in range(count)]

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
    assert_no_overlapping_leases(by_id, backend.margin)

    frozen_with = a.claims()
    assert frozen_with
    assert {claim["attempt"] for claim in frozen_with} == {1}
    # B was claiming while A's leases were valid, and took none of A's jobs then.
    window_start = max(claim["claimed_at"] for claim in frozen_with)
    window_end = min(claim["lease_until"] for claim in frozen_with) - backend.margin
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
    refused = [line for line in a.lines() if line["kind"] == "record"]
    assert refused
    assert not any(line["accepted"] for line in refused)
    assert "after its lease expired" in a.output.read_text(encoding="utf-8")
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
    """On PostgreSQL, A disables an endpoint that answered 410; B, another process started
    later, makes no request to it; an enable from a third (the app, or ``webhook-kit endpoints
    enable``) reaches the running B, and the redriven deliveries arrive."""
    from webhook_kit.queues.postgres import PostgresQueue

    receiver = MockReceiver()
    receiver.script([410, 200])  # 410 once, then 200
    options = ("--health", "--endpoint-sync-interval", "0.1")
    async with PostgresQueue(postgres_url) as queue:
        with receiver.serve_in_thread() as url, WorkerProcesses(tmp_path) as processes:
            endpoint = endpoint_of(url)
            sub = WebhookSubscription(url, SECRET).allow_private_targets(True)
            a = processes.start_helper("a", "postgresql", postgres_url, *options)
            gone = await sub.dispatch(queue, "order.created", {"n": 1})

            async def disabled() -> bool:
                records = {r.endpoint: r for r in await queue.endpoint_records()}
                return endpoint in records and records[endpoint].state == "disabled"

            await wait_for(disabled, within=60, what="a to disable the endpoint", workers=[a])
            assert await a.terminate() == 0

            b = processes.start_helper("b", "postgresql", postgres_url, *options)

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
