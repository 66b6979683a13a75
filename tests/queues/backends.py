"""The queues the conformance suite runs on, each behind one small harness.

A harness knows how its backend's workers run, how time passes for it, and what a worker that
dies holding a job leaves behind; the tests know none of that. Memory and SQLite are worked by
webhook-kit's own `Worker` on a `VirtualClock` (time jumps); PostgreSQL by procrastinate's
worker on real time, so its retry delays in these tests are fractions of a second.

To put a new backend through the suite, write a harness with these methods and add its maker
to `BACKENDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from webhook_kit import WebhookSubscription, Worker
from webhook_kit.clock import Clock, SystemClock, VirtualClock
from webhook_kit.outcomes import AttemptRecord, DeadLetterRecord
from webhook_kit.queues import MemoryQueue, QueueCounts, SQLiteQueue
from webhook_kit.testing import MockReceiver

START = 1_700_000_000.0
LEASE_GRACE = 5.0
IDLE_DEADLINE = 60.0  # real seconds a run until idle may take before the test fails


class Inspectable(Protocol):
    """What the suite reads back from a queue besides dispatching to it."""

    @property
    def clock(self) -> Clock: ...

    async def counts(self) -> QueueCounts: ...

    async def list_dead_letters(self) -> list[DeadLetterRecord]: ...

    async def redrive(self, delivery_id: str) -> None: ...

    async def history(self, delivery_id: str) -> list[AttemptRecord]: ...

    async def enqueue(self, event: Any, *, not_before: float | None = None) -> None: ...

    def enqueue_sync(self, event: Any, *, not_before: float | None = None) -> None: ...


class Backend(Protocol):
    name: str
    queue: Inspectable
    clock: Clock
    real_time: bool
    transactions: bool

    async def register(self, receiver: MockReceiver) -> None:
        """Deliver this queue's jobs to ``receiver``, in-process."""

    async def run_until_idle(self) -> None:
        """Work the queue until nothing is pending or in flight (dead letters stay)."""

    async def run_workers(self, count: int) -> None:
        """``count`` workers on handles of their own, at once, until nothing is left."""

    async def interrupt_one(self) -> str:
        """A worker takes one due job and dies holding it; the delivery's id."""

    async def recover(self) -> None:
        """Let what recovers a dead worker's job do so (a lease runs out, a sweep runs)."""

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """An open transaction on the application's own connection (when supported)."""

    async def aclose(self) -> None: ...


class _InProcessDelivery:
    """Delivery to one in-process receiver, for every handle a harness opens."""

    queue: Any

    def __init__(self) -> None:
        self._clients: list[httpx.AsyncClient] = []
        self._receiver: MockReceiver | None = None

    async def register(self, receiver: MockReceiver) -> None:
        self._receiver = receiver
        await self._register(self.queue, receiver)

    async def _register(self, queue: Any, receiver: MockReceiver) -> None:
        client = httpx.AsyncClient(transport=receiver.transport)
        self._clients.append(client)
        await WebhookSubscription.register(queue, client=client)

    async def _close_clients(self) -> None:
        for client in self._clients:
            await client.aclose()


class WorkerBackend(_InProcessDelivery):
    """A queue run by webhook-kit's `Worker`, on a virtual clock."""

    real_time = False
    transactions = False

    def __init__(
        self,
        name: str,
        queue: MemoryQueue | SQLiteQueue,
        peer: Callable[[], MemoryQueue | SQLiteQueue],
    ) -> None:
        super().__init__()
        self.name = name
        self.queue = queue
        self.clock: Clock = queue.clock
        self._peer = peer
        self._handles: list[MemoryQueue | SQLiteQueue] = []

    async def run_until_idle(self) -> None:
        await asyncio.wait_for(Worker(self.queue, concurrency=8).run_until_idle(), IDLE_DEADLINE)

    async def run_workers(self, count: int) -> None:
        assert self._receiver is not None
        workers = []
        for _ in range(count):
            handle = self._peer()
            if handle is not self.queue:
                self._handles.append(handle)
            await self._register(handle, self._receiver)
            workers.append(Worker(handle, concurrency=4).run_until_idle())
        await asyncio.wait_for(asyncio.gather(*workers), IDLE_DEADLINE)

    async def interrupt_one(self) -> str:
        (claim,) = await self.queue.claim(1, lease_grace=LEASE_GRACE)
        return str(claim.event.id)

    async def recover(self) -> None:
        assert isinstance(self.clock, VirtualClock)
        self.clock.advance(30 + LEASE_GRACE + 1)  # the event's timeout plus the grace

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError(f"{self.name} cannot enqueue in a caller's transaction")

    async def aclose(self) -> None:
        await self._close_clients()
        for handle in [*self._handles, self.queue]:
            if isinstance(handle, SQLiteQueue):
                handle.close()


class ProcrastinateBackend(_InProcessDelivery):
    """A `ProcrastinateQueue` run by procrastinate's worker, on real time."""

    real_time = True
    transactions = True

    def __init__(self, url: str) -> None:
        from webhook_kit.queues.procrastinate import ProcrastinateQueue

        super().__init__()
        self.name = "postgresql"
        self.url = url
        self.queue = ProcrastinateQueue(url)
        self.clock: Clock = SystemClock()
        self._handles: list[Any] = []

    async def open(self) -> None:
        await self.queue.open()

    async def _until_idle(self, queue: Any) -> None:
        while True:
            await queue.run_worker(wait=False, concurrency=4, poll_interval=0.05)
            counts = await queue.counts()
            if counts.pending == 0 and counts.in_flight == 0:
                return
            await asyncio.sleep(0.02)  # a retry falls due; pick it up then

    async def run_until_idle(self) -> None:
        await asyncio.wait_for(self._until_idle(self.queue), IDLE_DEADLINE)

    async def run_workers(self, count: int) -> None:
        from webhook_kit.queues.procrastinate import ProcrastinateQueue

        assert self._receiver is not None
        handles = []
        for _ in range(count):
            handle = ProcrastinateQueue(self.url)
            self._handles.append(handle)
            await handle.open()
            await self._register(handle, self._receiver)
            handles.append(handle)
        await asyncio.wait_for(
            asyncio.gather(*(self._until_idle(handle) for handle in handles)), IDLE_DEADLINE
        )

    async def interrupt_one(self) -> str:
        """What a worker killed mid-attempt leaves: a job in ``doing`` under a silent worker."""
        manager = self.queue.app.job_manager
        worker_id = await manager.register_worker()
        job = await manager.fetch_job(queues=[self.queue.queue_name], worker_id=worker_id)
        assert job is not None, "nothing was due"
        async with await _connect(self.url) as connection:
            # The worker died an hour ago: its last heartbeat is that old.
            await connection.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
                " WHERE id = %s",
                (worker_id,),
            )
        return str(job.task_kwargs["delivery_id"])

    async def recover(self) -> None:
        await self.queue.recover_stalled()  # what the sweep in every run_worker does

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with await _connect(self.url) as connection, connection.transaction():
            yield connection

    async def aclose(self) -> None:
        for handle in [*self._handles, self.queue]:
            await handle.close()
        await self._close_clients()


async def _connect(url: str) -> Any:
    import psycopg

    return await psycopg.AsyncConnection.connect(url, autocommit=False)


def _memory(request: pytest.FixtureRequest, tmp_path: Path) -> Awaitable[Backend]:
    queue = MemoryQueue(clock=VirtualClock(START))

    async def make() -> Backend:
        return WorkerBackend("memory", queue, peer=lambda: queue)

    return make()


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Awaitable[Backend]:
    clock = VirtualClock(START)
    path = tmp_path / "queue.sqlite3"

    async def make() -> Backend:
        return WorkerBackend(
            "sqlite", SQLiteQueue(path, clock=clock), peer=lambda: SQLiteQueue(path, clock=clock)
        )

    return make()


def _postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> Awaitable[Backend]:
    url: str = request.getfixturevalue("postgres_url")

    async def make() -> Backend:
        backend = ProcrastinateBackend(url)
        await backend.open()
        return backend

    return make()


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Awaitable[Backend]]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}
"""Every queue the conformance suite runs on; add a backend by adding its maker."""
