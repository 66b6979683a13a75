"""The queues the command's tests run on alike: a SQLite file and a PostgreSQL database.

The ``cli_queue`` fixture (`tests/cli/conftest.py`) gives a test one `CliQueue`, once per
backend: the options that name it on the command line, how the commands name it in what they
print, and the queue itself, opened in the test's process, to set up and check what the
commands did. The PostgreSQL one is the test session's database, emptied for each test, and
the test is marked ``postgresql``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio

from webhook_kit import SQLiteQueue
from webhook_kit.outcomes import AttemptRecord, DeadLetterRecord
from webhook_kit.queues import QueueCounts
from webhook_kit.queues.protocol import EndpointRecord
from webhook_kit.url_masking import masked_url

from .queue_files import deliver_each_script

if TYPE_CHECKING:
    from webhook_kit.queues.protocol import LeaseQueue

T = TypeVar("T")


@dataclass(frozen=True)
class CliQueue:
    """A queue for the commands, and the same queue for the test.

    Attributes:
        kind: ``"sqlite"`` or ``"postgresql"``.
        args: the options naming it on the command line (``--db FILE`` or ``--queue URL``).
        label: how the commands name it (a file as given; a URL without its credentials).
        hint: the options the commands' hints to other commands add (`QueueTarget.args`).
        opener: opens the queue in this process.
    """

    kind: str
    args: tuple[str, ...]
    label: str
    hint: str
    opener: Callable[[], contextlib.AbstractAsyncContextManager[LeaseQueue]]

    def run(self, call: Callable[[LeaseQueue], Awaitable[T]]) -> T:
        """Open the queue, run ``await call(queue)``, close it; what ``call`` returned."""

        async def run() -> T:
            async with self.opener() as queue:
                return await call(queue)

        return anyio.run(run)

    def counts(self) -> QueueCounts:
        return self.run(lambda queue: queue.counts())

    def history(self, delivery_id: str) -> list[AttemptRecord]:
        return self.run(lambda queue: queue.history(delivery_id))

    def dead_letters(self) -> list[DeadLetterRecord]:
        return self.run(lambda queue: queue.list_dead_letters())

    def endpoint_records(self) -> list[EndpointRecord]:
        return self.run(lambda queue: queue.endpoint_records())

    def save_endpoints(self, *records: EndpointRecord) -> None:
        async def save(queue: LeaseQueue) -> None:
            for record in records:
                await queue.save_endpoint(record)

        self.run(save)


def sqlite_queue(path: Path) -> CliQueue:
    """The queue in the file ``path`` (created, empty)."""
    SQLiteQueue(path).close()

    @contextlib.asynccontextmanager
    async def opener() -> AsyncIterator[LeaseQueue]:
        queue = SQLiteQueue(path)
        try:
            yield queue
        finally:
            queue.close()

    return CliQueue("sqlite", ("--db", str(path)), str(path), f" --db {path}", opener)


def postgres_queue(url: str) -> CliQueue:
    """The queue in the PostgreSQL database of ``url`` (which has the schema)."""
    from webhook_kit.queues.postgres import PostgresQueue

    @contextlib.asynccontextmanager
    async def opener() -> AsyncIterator[LeaseQueue]:
        async with PostgresQueue(url) as queue:
            yield queue

    label = masked_url(url)
    return CliQueue("postgresql", ("--queue", url), label, f" --queue {label}", opener)


@dataclass(frozen=True)
class Delivered:
    """What `deliver_scripts` put through a queue.

    Attributes:
        ids: the delivery id of each event of `SCRIPTS`.
        url: where the deliveries went (the receiver is gone now).
    """

    ids: dict[str, str]
    url: str


def deliver_scripts(queue: CliQueue) -> Delivered:
    """One webhook of each event in `SCRIPTS` through ``queue`` by a `Worker` to a
    `MockReceiver` on 127.0.0.1: one delivered; a 400, a 410 and a 503 retried once dead."""

    async def build(opened: LeaseQueue) -> Delivered:
        return Delivered(*await deliver_each_script(opened))

    return queue.run(build)
