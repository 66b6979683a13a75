"""What is particular to `PostgresQueue`: its schema, transactions, notifications, clocks, errors.

The behaviour it shares with every queue is in `test_queue_protocol.py` (on a `VirtualClock`)
and `test_conformance.py`; here it runs on the real server, mostly on real time.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import psycopg
import pytest
from queue_jobs import GRACE, START, make_event

from webhook_kit import InvalidInputError
from webhook_kit.clock import SystemClock, VirtualClock
from webhook_kit.events import WebhookEvent, endpoint_of
from webhook_kit.outcomes import AttemptRecord, RetryAt
from webhook_kit.queues import ClaimLimits, QueueStorageError, SchemaError
from webhook_kit.queues.postgres import PostgresQueue
from webhook_kit.queues.postgres_schema import SCHEMA_VERSION

pytestmark = [pytest.mark.anyio, pytest.mark.postgresql]

WAIT = 60  # seconds: a generous bound for a busy machine, never a figure under test


def attempt_of(event: WebhookEvent, attempt: int = 1) -> AttemptRecord:
    return AttemptRecord(event.id, attempt, START, 503, None, 0.01, "", "retry")


@pytest.fixture
async def queue(postgres_url: str) -> AsyncIterator[PostgresQueue]:
    async with PostgresQueue(postgres_url) as opened:  # time_source "database"
        yield opened


@pytest.fixture
def schema(postgres_session_url: str) -> Iterator[str]:
    """A schema name of this test's own in the session database, dropped afterwards."""
    name = f"wk_test_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(postgres_session_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def catalog(url: str, schema: str) -> list[tuple[Any, ...]]:
    """Every relation and column in ``schema``, and the rows of its version table if any."""
    with psycopg.connect(url, autocommit=True) as connection:
        columns = connection.execute(
            "SELECT c.relname, c.relkind, a.attname, a.atttypid FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
            " WHERE n.nspname = %s ORDER BY 1, 3",
            (schema,),
        ).fetchall()
        tables = {row[0] for row in columns}
        versions = (
            connection.execute(f'SELECT * FROM "{schema}".schema_version').fetchall()  # noqa: S608
            if "schema_version" in tables
            else []
        )
    return [*columns, *versions]


def execute(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


# --- the schema ------------------------------------------------------------------------------


async def test_a_fresh_schema_is_created_and_reapplying_it_changes_nothing(
    postgres_session_url: str, schema: str
) -> None:
    async with PostgresQueue(postgres_session_url, schema=schema) as queue:
        assert await queue.apply_schema() == 0
        created = catalog(postgres_session_url, schema)
        tables = {row[0] for row in created if row[1] == "r"}
        assert tables == {"jobs", "attempts", "dead_letters", "endpoints", "schema_version"}
        assert await queue.apply_schema() == SCHEMA_VERSION
        assert catalog(postgres_session_url, schema) == created
        await queue.enqueue(make_event())
        assert (await queue.counts()).pending == 1


async def test_two_queues_applying_the_schema_at_once_create_it_once(
    postgres_session_url: str, schema: str
) -> None:
    first = PostgresQueue(postgres_session_url, schema=schema)
    second = PostgresQueue(postgres_session_url, schema=schema)
    async with first, second:
        found = await asyncio.gather(first.apply_schema(), second.apply_schema())
        assert sorted(found) == [0, SCHEMA_VERSION]
        await first.enqueue(make_event())
        assert (await second.counts()).pending == 1


@pytest.mark.parametrize(
    "foreign",
    [
        "CREATE TABLE {s}.invoices (id int PRIMARY KEY)",  # another application's schema
        "CREATE TABLE {s}.jobs (id text PRIMARY KEY)",  # our table names, no version table
        "CREATE TABLE {s}.schema_version (application text, version int);"
        " INSERT INTO {s}.schema_version VALUES ('someone-else', 1)",
    ],
    ids=["other-tables", "no-version-table", "other-application"],
)
async def test_a_foreign_schema_is_refused_and_left_as_it_was(
    postgres_session_url: str, schema: str, foreign: str
) -> None:
    s = f'"{schema}"'
    execute(postgres_session_url, f"CREATE SCHEMA {s}; " + foreign.replace("{s}", s))
    before = catalog(postgres_session_url, schema)
    async with PostgresQueue(postgres_session_url, schema=schema) as queue:
        with pytest.raises(QueueStorageError, match="not a webhook-kit queue") as raised:
            await queue.apply_schema()
    assert schema in str(raised.value)
    assert catalog(postgres_session_url, schema) == before


async def test_our_tables_next_to_a_foreign_one_are_refused_and_left_as_they_were(
    postgres_session_url: str, schema: str
) -> None:
    async with PostgresQueue(postgres_session_url, schema=schema) as queue:
        await queue.apply_schema()
    execute(postgres_session_url, f'CREATE TABLE "{schema}".invoices (id int)')
    before = catalog(postgres_session_url, schema)
    async with PostgresQueue(postgres_session_url, schema=schema) as queue:
        with pytest.raises(QueueStorageError, match="invoices"):
            await queue.apply_schema()
    assert catalog(postgres_session_url, schema) == before


async def test_a_newer_schema_is_refused_and_left_as_it_was(
    postgres_session_url: str, schema: str
) -> None:
    async with PostgresQueue(postgres_session_url, schema=schema) as queue:
        await queue.apply_schema()
    newer = SCHEMA_VERSION + 1
    execute(postgres_session_url, f'UPDATE "{schema}".schema_version SET version = {newer}')  # noqa: S608
    before = catalog(postgres_session_url, schema)
    async with PostgresQueue(postgres_session_url, schema=schema) as queue:
        with pytest.raises(SchemaError, match=f"version {newer}"):
            await queue.apply_schema()
    assert catalog(postgres_session_url, schema) == before


async def test_using_the_queue_before_its_schema_is_applied_says_how_to_apply_it(
    postgres_session_url: str, schema: str
) -> None:
    async with PostgresQueue(postgres_session_url, schema=schema) as queue:
        with pytest.raises(QueueStorageError, match=r"apply_schema\(\)") as raised:
            await queue.enqueue(make_event())
        assert "webhook-kit schema --queue" in str(raised.value)
        with pytest.raises(QueueStorageError, match=r"apply_schema\(\)"):
            await queue.claim(10, lease_grace=GRACE)
    assert catalog(postgres_session_url, schema) == []  # nothing was created


def test_a_schema_name_that_is_not_a_plain_identifier_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="schema"):
        PostgresQueue("postgresql://127.0.0.1/db", schema='x"; DROP TABLE jobs; --')


# --- transactional enqueue -------------------------------------------------------------------


class Notifications:
    """A LISTEN connection on the queue's channel, read up to a marker we send ourselves:
    notifications arrive in commit order, so those before the marker are all that came."""

    def __init__(self, url: str, channel: str) -> None:
        self.url = url
        self.channel = channel
        self.connection = psycopg.connect(url, autocommit=True)
        self.connection.execute(f'LISTEN "{channel}"')

    def before_marker(self) -> list[str]:
        marker = f"marker-{uuid.uuid4().hex}"
        with psycopg.connect(self.url, autocommit=True) as other:
            other.execute("SELECT pg_notify(%s, %s)", (self.channel, marker))
        seen: list[str] = []
        for notify in self.connection.notifies(timeout=WAIT):
            if notify.payload == marker:
                return seen
            seen.append(notify.payload)
        raise AssertionError("our own marker never arrived")

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def notifications(postgres_url: str) -> Iterator[Notifications]:
    listening = Notifications(postgres_url, "webhook_kit_work")
    try:
        yield listening
    finally:
        listening.close()


async def test_an_enqueue_in_a_rolled_back_async_transaction_stores_and_notifies_nothing(
    queue: PostgresQueue, postgres_url: str, notifications: Notifications
) -> None:
    async with (
        await psycopg.AsyncConnection.connect(postgres_url) as connection,
        connection.transaction(force_rollback=True),
    ):
        await queue.enqueue(make_event(), connection=connection)
        assert (await queue.counts()).pending == 0  # not committed by the queue
    assert (await queue.counts()).pending == 0
    assert notifications.before_marker() == []


async def test_an_enqueue_in_a_committed_async_transaction_is_stored_and_notified(
    queue: PostgresQueue, postgres_url: str, notifications: Notifications
) -> None:
    event = make_event()
    async with (
        await psycopg.AsyncConnection.connect(postgres_url) as connection,
        connection.transaction(),
    ):
        await queue.enqueue(event, connection=connection)
        await connection.execute("SELECT 1")  # the caller's own work, same transaction
    assert notifications.before_marker() == [""]
    (claim,) = await queue.claim(10, lease_grace=GRACE)
    assert claim.event == event


async def test_a_sync_transaction_stores_and_notifies_only_on_commit(
    queue: PostgresQueue, postgres_url: str, notifications: Notifications
) -> None:
    rolled_back, committed = make_event(), make_event()
    with psycopg.connect(postgres_url) as connection:
        with connection.transaction(force_rollback=True):
            queue.enqueue_sync(rolled_back, connection=connection)
        assert notifications.before_marker() == []
        with connection.transaction():
            queue.enqueue_sync(committed, connection=connection)
    assert notifications.before_marker() == [""]
    assert [claim.event.id for claim in await queue.claim(10, lease_grace=GRACE)] == [committed.id]


async def test_a_duplicate_id_in_a_callers_transaction_leaves_the_transaction_usable(
    queue: PostgresQueue, postgres_url: str
) -> None:
    event = make_event()
    await queue.enqueue(event)
    async with (
        await psycopg.AsyncConnection.connect(postgres_url) as connection,
        connection.transaction(),
    ):
        with pytest.raises(InvalidInputError, match="already queued"):
            await queue.enqueue(event, connection=connection)
        await queue.enqueue(make_event(), connection=connection)  # still usable
    assert (await queue.counts()).pending == 2


async def test_a_connection_of_the_wrong_kind_is_a_type_error(
    queue: PostgresQueue, postgres_url: str
) -> None:
    with (
        psycopg.connect(postgres_url) as sync_connection,
        pytest.raises(TypeError, match="AsyncConnection"),
    ):
        await queue.enqueue(make_event(), connection=sync_connection)  # type: ignore[arg-type]
    async with await psycopg.AsyncConnection.connect(postgres_url) as async_connection:
        with pytest.raises(TypeError, match=r"psycopg\.Connection"):
            queue.enqueue_sync(make_event(), connection=async_connection)  # type: ignore[arg-type]
    assert (await queue.counts()).pending == 0


async def test_enqueue_sync_without_a_connection_works_from_threads(
    queue: PostgresQueue,
) -> None:
    events = [make_event() for _ in range(20)]
    await asyncio.gather(*(asyncio.to_thread(queue.enqueue_sync, event) for event in events))
    claimed = await queue.claim(100, lease_grace=GRACE)
    assert sorted(claim.event.id for claim in claimed) == sorted(event.id for event in events)


# --- LISTEN/NOTIFY -----------------------------------------------------------------------------


async def test_an_idle_wait_returns_on_an_enqueue_from_another_queue(postgres_url: str) -> None:
    async with PostgresQueue(postgres_url) as waiting, PostgresQueue(postgres_url) as other:
        with anyio.fail_after(WAIT):
            await waiting.wait_for_work(WAIT)  # the first call returns once it listens
        woke = asyncio.Event()

        async def wait() -> None:
            await waiting.wait_for_work(3600)  # returns before its bound only if woken
            woke.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await anyio.lowlevel.checkpoint()
            assert not woke.is_set()
            await other.enqueue(make_event())
            with anyio.fail_after(WAIT):
                await woke.wait()


async def test_the_listener_reconnects_when_its_connection_is_dropped(postgres_url: str) -> None:
    async with PostgresQueue(postgres_url) as waiting, PostgresQueue(postgres_url) as other:
        with anyio.fail_after(WAIT):
            await waiting.wait_for_work(WAIT)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            dropped = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
            ).fetchall()
        assert dropped == [(True,)]
        # A reconnect wakes the waiter (work may have come meanwhile), then it listens again.
        with anyio.fail_after(WAIT):
            await waiting.wait_for_work(3600)
        woke = asyncio.Event()

        async def wait() -> None:
            await waiting.wait_for_work(3600)
            woke.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await anyio.lowlevel.checkpoint()
            await other.enqueue(make_event())
            with anyio.fail_after(WAIT):
                await woke.wait()


# --- fair claims ---------------------------------------------------------------------------------


async def test_a_backlog_beyond_an_allowance_is_left_untouched(
    queue: PostgresQueue, postgres_url: str
) -> None:
    slow, fast = "https://slow.example/hooks", "https://fast.example/hooks"
    for _ in range(300):
        await queue.enqueue(make_event(url=slow))
    healthy = [make_event(url=fast) for _ in range(3)]
    for event in healthy:
        await queue.enqueue(event)
    limits = ClaimLimits(default=10, per_endpoint={endpoint_of(slow): 2})
    claims = await queue.claim(8, lease_grace=GRACE, limits=limits)
    endpoints = [claim.event.target_url for claim in claims]
    assert endpoints.count(slow) == 2
    assert sorted(c.event.id for c in claims if c.event.target_url == fast) == sorted(
        event.id for event in healthy
    )
    with psycopg.connect(postgres_url) as connection:
        untouched = connection.execute(
            "SELECT count(*) FROM webhook_kit.jobs WHERE target_url = %s"
            " AND state = 'pending' AND attempts = 0 AND lease_token IS NULL",
            (slow,),
        ).fetchone()
    assert untouched == (298,)


# --- time: workers whose clocks disagree -------------------------------------------------------


class OffsetClock(SystemClock):
    """Real time, off by ``offset`` seconds: a worker on a machine whose clock is wrong."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:
        return super().now() + self.offset


def server_distance(url: str, delivery_id: str) -> float:
    """How far the job's due date is from the server's now, in seconds."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT due - extract(epoch from statement_timestamp())::float8"
            " FROM webhook_kit.jobs WHERE id = %s",
            (delivery_id,),
        ).fetchone()
    assert row is not None
    return float(row[0])


@pytest.fixture
async def skewed(postgres_url: str) -> AsyncIterator[tuple[PostgresQueue, PostgresQueue]]:
    fast = PostgresQueue(postgres_url, clock=OffsetClock(60), time_source="database")
    slow = PostgresQueue(postgres_url, clock=OffsetClock(-60), time_source="database")
    async with fast, slow:
        yield fast, slow


async def test_a_worker_with_a_fast_or_slow_clock_never_takes_over_a_live_lease(
    skewed: tuple[PostgresQueue, PostgresQueue],
) -> None:
    fast, slow = skewed
    for holder, other in ((slow, fast), (fast, slow)):
        await holder.enqueue(make_event(timeout=30))
        (claim,) = await holder.claim(10, lease_grace=GRACE)
        # The lease end handed back is on the holder's own clock: 35 s from its now.
        assert 30 < claim.lease_until - holder.clock.now() <= 30 + GRACE
        assert await other.claim(10, lease_grace=GRACE) == []
        assert await holder.claim(10, lease_grace=GRACE) == []
        assert (await other.counts()).in_flight == 1
        await holder.release(claim)
        (again,) = await other.claim(10, lease_grace=GRACE)  # released: due now by the server
        assert again.event.id == claim.event.id
        await other.release(again, not_before=other.clock.now() + 3600)


async def test_on_the_callers_clock_a_fast_worker_would_take_over_a_live_lease(
    postgres_url: str,
) -> None:
    # The contrast: what time_source="database" prevents.
    fast = PostgresQueue(postgres_url, clock=OffsetClock(60), time_source="clock")
    slow = PostgresQueue(postgres_url, clock=OffsetClock(-60), time_source="clock")
    async with fast, slow:
        await slow.enqueue(make_event(timeout=30))
        (claim,) = await slow.claim(10, lease_grace=GRACE)
        (taken,) = await fast.claim(10, lease_grace=GRACE)
        assert taken.event.id == claim.event.id


async def test_a_worker_with_a_skewed_clock_never_runs_a_job_early(
    skewed: tuple[PostgresQueue, PostgresQueue],
) -> None:
    fast, slow = skewed
    for dispatcher in (fast, slow):
        event = make_event()
        await dispatcher.enqueue(event, not_before=dispatcher.clock.now() + 30)
        assert 29 < server_distance(dispatcher.conninfo, event.id) <= 30
        assert await fast.claim(10, lease_grace=GRACE) == []
        assert await slow.claim(10, lease_grace=GRACE) == []
        for queue in (fast, slow):
            due = await queue.next_attempt_due()
            assert due is not None
            assert 29 < due - queue.clock.now() <= 30  # on each worker's own clock
        await fast.purge_dead_letters()  # (nothing dead: the job stays)
        with psycopg.connect(dispatcher.conninfo, autocommit=True) as connection:
            connection.execute("DELETE FROM webhook_kit.jobs WHERE id = %s", (event.id,))


async def test_a_retry_one_second_ahead_by_a_skewed_clock_is_one_second_ahead_by_the_server(
    skewed: tuple[PostgresQueue, PostgresQueue],
) -> None:
    for worker in skewed:
        event = make_event()
        await worker.enqueue(event)
        (claim,) = await worker.claim(10, lease_grace=GRACE)
        at = worker.clock.now() + 1
        assert await worker.record(claim, RetryAt(at), attempt_of(event)) is True
        assert 0 < server_distance(worker.conninfo, event.id) <= 1
        for queue in skewed:
            due = await queue.next_attempt_due()
            assert due is not None
            assert 0 < due - queue.clock.now() <= 1
        with psycopg.connect(worker.conninfo, autocommit=True) as connection:
            connection.execute("DELETE FROM webhook_kit.jobs WHERE id = %s", (event.id,))


async def test_the_clock_time_source_keeps_virtual_times_exactly(postgres_url: str) -> None:
    clock = VirtualClock(START)
    async with PostgresQueue(postgres_url, clock=clock) as queue:
        assert queue.time_source == "clock"
        event = make_event()
        await queue.enqueue(event, not_before=START + 7.25)
        assert await queue.next_attempt_due() == START + 7.25
        clock.advance(10)
        (claim,) = await queue.claim(1, lease_grace=GRACE)
        assert claim.lease_until == START + 10 + 30 + GRACE


# --- errors name the database, never its password ----------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("form", ["url", "keywords"])
async def test_the_password_is_in_no_repr_or_error(form: str) -> None:
    password = "s3cr3t-Pa55word"  # a test's fake password
    port = closed_port()
    conninfo = (
        f"postgresql://alice:{password}@127.0.0.1:{port}/shop"
        if form == "url"
        else f"host=127.0.0.1 port={port} user=alice password={password} dbname=shop"
    )
    queue = PostgresQueue(conninfo)
    assert password not in repr(queue)
    assert f"127.0.0.1:{port}/shop" in repr(queue)
    with pytest.raises(QueueStorageError) as raised:
        await queue.open()
    error = raised.value
    assert f"127.0.0.1:{port}/shop" in str(error)
    chain: BaseException | None = error
    while chain is not None:
        assert password not in str(chain)
        assert password not in repr(chain)
        chain = chain.__cause__ or chain.__context__
    with pytest.raises(QueueStorageError) as again:
        await queue.enqueue(make_event())
    assert password not in str(again.value)
    await queue.close()


def test_without_psycopg_the_queues_import_and_the_constructor_names_the_extra() -> None:
    script = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "sys.modules['psycopg_pool'] = None\n"
        "import webhook_kit.queues as queues\n"
        "from webhook_kit import MissingDependencyError\n"
        "try:\n"
        "    queues.PostgresQueue('postgresql://127.0.0.1/db')\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=WAIT
    )
    assert "webhook-kit[postgres]" in result.stdout


# --- group commit --------------------------------------------------------------------------------


async def test_outcomes_arriving_together_share_one_statement(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    write = PostgresQueue._write_outcomes

    async def counted(self: PostgresQueue, batch: Any) -> set[str]:
        batches.append(len(batch))
        return await write(self, batch)

    monkeypatch.setattr(PostgresQueue, "_write_outcomes", counted)
    async with PostgresQueue(postgres_url, clock=VirtualClock(START)) as queue:
        for _ in range(100):
            await queue.enqueue(make_event())
        claims = await queue.claim(100, lease_grace=GRACE)
        results = await asyncio.gather(
            *(
                queue.record(claim, RetryAt(START + 60), attempt_of(claim.event))
                for claim in claims
            )
        )
        assert results == [True] * 100
        assert batches == [100]
        # The same claim recorded twice at once: the first holds the lease, the second lost it.
        assert await queue.claim(1, lease_grace=GRACE) == []  # each retry is due in 60 s
    async with PostgresQueue(postgres_url, clock=VirtualClock(START + 61)) as queue:
        claim = (await queue.claim(1, lease_grace=GRACE))[0]
        twice = await asyncio.gather(
            queue.record(claim, RetryAt(START + 600), attempt_of(claim.event, 2)),
            queue.record(claim, RetryAt(START + 600), attempt_of(claim.event, 2)),
        )
        assert list(twice) == [True, False]
        assert [record.attempt for record in await queue.history(claim.event.id)] == [1, 2]
