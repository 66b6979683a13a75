"""The queues the conformance suite runs on, each behind one small harness.

A harness knows how its backend's workers run, how time passes for it, and what a worker that
dies holding a job leaves behind; the tests know none of that. Memory, SQLite and PostgreSQL
are all worked by webhook-kit's own `Worker` on a `VirtualClock` (time jumps), so the same
exact-gap assertions hold on each.

To put a new backend through the suite, write a harness with these methods and add its maker
to `BACKENDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from webhook_kit import WebhookSubscription, Worker
from webhook_kit.clock import Clock, VirtualClock
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

    def sync_transaction(self) -> contextlib.AbstractContextManager[Any]:
        """The same on a synchronous connection (a Django or Flask view's)."""

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
    """A queue run by webhook-kit's `Worker`, on a virtual clock.

    ``peer`` opens another handle on the same queue, as another process would (for memory,
    the one queue: a process's memory is its own).
    """

    transactions = False

    def __init__(self, name: str, queue: Any, peer: Callable[[], Awaitable[Any]]) -> None:
        super().__init__()
        self.name = name
        self.queue = queue
        self.clock: Clock = queue.clock
        self._peer = peer
        self._handles: list[Any] = []

    async def run_until_idle(self) -> None:
        await asyncio.wait_for(Worker(self.queue, concurrency=8).run_until_idle(), IDLE_DEADLINE)

    async def run_workers(self, count: int) -> None:
        assert self._receiver is not None
        workers = []
        for _ in range(count):
            handle = await self._peer()
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

    def sync_transaction(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError(f"{self.name} cannot enqueue in a caller's transaction")

    async def _close_handle(self, handle: Any) -> None:
        if isinstance(handle, SQLiteQueue):
            handle.close()

    async def aclose(self) -> None:
        await self._close_clients()
        for handle in [*self._handles, self.queue]:
            await self._close_handle(handle)


class PostgresBackend(WorkerBackend):
    """`PostgresQueue` run by webhook-kit's `Worker`, on a virtual clock (``time_source``
    ``"clock"``: due dates and leases on the test's clock, not the server's), so the exact-gap
    assertions hold here too. Peers are further `PostgresQueue` instances on the same database
    and clock; a caller's transaction is a psycopg connection of the test's own."""

    transactions = True

    def __init__(self, url: str, clock: VirtualClock) -> None:
        self.url = url
        self._clock = clock
        super().__init__("postgresql", _postgres_queue(url, clock), peer=self._open_peer)

    async def _open_peer(self) -> Any:
        handle = _postgres_queue(self.url, self._clock)
        await handle.open()
        return handle

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        import psycopg

        connection = await psycopg.AsyncConnection.connect(self.url, autocommit=False)
        async with connection, connection.transaction():
            yield connection

    @contextlib.contextmanager
    def sync_transaction(self) -> Iterator[Any]:
        import psycopg

        with psycopg.connect(self.url, autocommit=False) as connection, connection.transaction():
            yield connection

    async def _close_handle(self, handle: Any) -> None:
        await handle.close()


def _postgres_queue(url: str, clock: VirtualClock) -> Any:
    from webhook_kit.queues.postgres import PostgresQueue

    return PostgresQueue(url, clock=clock, time_source="clock")


def _memory(request: pytest.FixtureRequest, tmp_path: Path) -> Awaitable[Backend]:
    queue = MemoryQueue(clock=VirtualClock(START))

    async def same() -> MemoryQueue:
        return queue

    async def make() -> Backend:
        return WorkerBackend("memory", queue, peer=same)

    return make()


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Awaitable[Backend]:
    clock = VirtualClock(START)
    path = tmp_path / "queue.sqlite3"

    async def peer() -> SQLiteQueue:
        return SQLiteQueue(path, clock=clock)

    async def make() -> Backend:
        return WorkerBackend("sqlite", SQLiteQueue(path, clock=clock), peer=peer)

    return make()


def _postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> Awaitable[Backend]:
    url: str = request.getfixturevalue("postgres_url")

    async def make() -> Backend:
        backend = PostgresBackend(url, VirtualClock(START))
        await backend.queue.open()
        return backend

    return make()


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Awaitable[Backend]]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}
"""Every queue the conformance suite runs on; add a backend by adding its maker."""
