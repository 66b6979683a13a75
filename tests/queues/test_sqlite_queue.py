"""`SQLiteQueue` specifics: the file, its settings and schema, storage errors, retention,
redrive by time, use from threads, and group commit. The queue protocol itself is covered by
``test_conformance.py``.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import pytest
from queue_jobs import GRACE, START, TIMEOUT, claim_one, make_event, record

from webhook_kit import (
    InvalidInputError,
    NetworkPolicy,
    RetryPolicy,
    SignatureFormat,
    SystemClock,
    WebhookKitError,
    WebhookSubscription,
    Worker,
)
from webhook_kit.clock import VirtualClock
from webhook_kit.events import WebhookEvent
from webhook_kit.outcomes import DeadLetter, Delivered, Outcome, RetryAt
from webhook_kit.queues import (
    DEFAULT_RETENTION,
    SCHEMA_VERSION,
    QueueCounts,
    QueueStorageError,
    SchemaError,
    SQLiteQueue,
    UnknownDeliveryError,
)
from webhook_kit.queues.sqlite_schema import APPLICATION_ID, migrate
from webhook_kit.registrations import secret_memory_of
from webhook_kit.testing import MockReceiver

SECRET = "sqlite-queue-secret"
WHSEC = "whsec_" + "c3FsaXRlLXF1ZXVlLXRlc3Qta2V5LTMyLWJ5dGVzISE="


def rich_event(name: str = "invoice.paid") -> WebhookEvent:
    """Every field away from its default: what comes back from the file must match."""
    return WebhookEvent(
        id=str(uuid.uuid4()),
        event=name,
        target_url="https://hooks.example.com/in?tenant=acme",
        body='{"note":"José ✓ \\u0000","amount":12.5}',
        signature_format=SignatureFormat.STANDARD_WEBHOOKS,
        signature=None,
        created_at=START - 12.25,
        subscription_id="sub-42",
        headers=(("X-Tenant-Id", "acme"),),
        timeout=7.5,
        connect_timeout=2.5,
        retry_status_codes=frozenset({409}),
        retry_policy=RetryPolicy(max_attempts=3, base_delay=1, factor=3, max_delay=20, jitter=0),
        network=NetworkPolicy.from_networks(["10.20.0.0/16"]),
    )


def raw(path: Path) -> sqlite3.Connection:
    """A connection of our own to the file, as another program would open it."""
    return sqlite3.connect(path, isolation_level=None)


def scalar(path: Path, sql: str, *parameters: object) -> object:
    connection = raw(path)
    try:
        return connection.execute(sql, parameters).fetchone()[0]
    finally:
        connection.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queue.sqlite3"


@pytest.fixture
def queue(path: Path, clock: VirtualClock) -> Iterator[SQLiteQueue]:
    opened = SQLiteQueue(path, clock=clock)
    try:
        yield opened
    finally:
        opened.close()


# --- the file survives ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_everything_survives_close_and_reopen(path: Path, clock: VirtualClock) -> None:
    first = SQLiteQueue(path, clock=clock)
    pending, later, retried, dead, delivered, leased = (rich_event(str(n)) for n in range(6))
    await first.enqueue(retried, not_before=START - 6)
    await first.enqueue(dead, not_before=START - 5)
    await first.enqueue(delivered, not_before=START - 4)
    await first.enqueue(leased, not_before=START - 3)
    retried_claim, dead_claim, delivered_claim, leased_claim = await first.claim(
        4, lease_grace=GRACE
    )
    await record(first, retried_claim, RetryAt(START + 50), status=503, excerpt="busy")
    await record(first, dead_claim, DeadLetter("gone", gone=True), status=410, excerpt="bye ✓")
    await record(first, delivered_claim, Delivered(), status=200)
    await first.enqueue(pending)
    await first.enqueue(later, not_before=START + 100)
    before = (
        await first.counts(),
        await first.next_due(),
        await first.list_dead_letters(),
        [await first.history(event.id) for event in (retried, dead, delivered, leased)],
    )
    first.close()

    second = SQLiteQueue(path, clock=clock)
    try:
        after = (
            await second.counts(),
            await second.next_due(),
            await second.list_dead_letters(),
            [await second.history(event.id) for event in (retried, dead, delivered, leased)],
        )
        assert after == before
        assert before[0] == QueueCounts(pending=3, due=1, in_flight=1, delivered=1, dead=1)
        (letter,) = after[2]
        assert letter.event == dead  # every field of the event came back from the file
        assert (letter.reason, letter.gone, letter.last_status) == ("gone", True, 410)
        assert letter.response_excerpt == "bye ✓"

        (claim,) = await second.claim(10, lease_grace=GRACE)
        assert (claim.event, claim.attempt) == (pending, 1)
        assert await record(second, claim, Delivered(), status=200) is True
        # The lease taken before the restart still holds, and its holder can still record.
        assert await record(second, leased_claim, Delivered(), status=200) is True
        clock.advance(100)
        claims = await second.claim(10, lease_grace=GRACE)
        assert [(c.event, c.attempt) for c in claims] == [(retried, 2), (later, 1)]
        await second.redrive(dead.id)
        assert ((await claim_one(second)).event, (await second.counts()).delivered) == (dead, 3)
    finally:
        second.close()


def test_a_dispatch_survives_its_process_being_killed_right_after(path: Path) -> None:
    SQLiteQueue(path).close()  # the file exists; the child only writes to it
    script = (
        "import os, signal, sys\n"
        "from webhook_kit import WebhookSubscription\n"
        "from webhook_kit.queues import SQLiteQueue\n"
        "queue = SQLiteQueue(sys.argv[1])\n"
        "sub = WebhookSubscription('https://example.com/hooks', 's3cret')\n"
        "ids = [sub.dispatch_sync(queue, 'order.created', {'n': n}) for n in range(25)]\n"
        "print(' '.join(ids), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    dispatched = child.stdout.split()
    assert len(dispatched) == 25

    async def claim_all() -> list[str]:
        queue = SQLiteQueue(path)
        try:
            return [claim.event.id for claim in await queue.claim(100, lease_grace=GRACE)]
        finally:
            queue.close()

    assert sorted(anyio.run(claim_all)) == sorted(dispatched)


# --- settings and schema -------------------------------------------------------------------------


def test_the_file_is_in_wal_mode(queue: SQLiteQueue, path: Path) -> None:
    assert scalar(path, "PRAGMA journal_mode") == "wal"  # persistent: any reader sees it


def test_the_queue_connection_settings(queue: SQLiteQueue) -> None:
    # synchronous and foreign_keys are per connection, so only the queue's own can tell.
    connection = queue._connection()
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_schema_version_is_in_user_version(queue: SQLiteQueue, path: Path) -> None:
    assert SCHEMA_VERSION >= 1
    assert scalar(path, "PRAGMA user_version") == SCHEMA_VERSION
    tables = scalar(path, "SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'")
    assert isinstance(tables, str)
    assert {"jobs", "attempts", "dead_letters"} <= set(tables.split(","))


def test_an_empty_database_is_migrated_forward(path: Path) -> None:
    connection = raw(path)
    connection.execute("PRAGMA user_version = 0")
    connection.close()
    SQLiteQueue(path).close()
    assert scalar(path, "PRAGMA user_version") == SCHEMA_VERSION


def test_migrate_reports_the_version_it_found_and_is_idempotent(path: Path) -> None:
    connection = raw(path)
    try:
        assert migrate(connection) == 0
        assert migrate(connection) == SCHEMA_VERSION
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        connection.close()


def test_handles_opening_a_new_file_at_once_migrate_it_once(path: Path) -> None:
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            barrier.wait(10)
            SQLiteQueue(path).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert scalar(path, "PRAGMA user_version") == SCHEMA_VERSION


def test_a_file_from_a_newer_release_is_refused(path: Path) -> None:
    connection = raw(path)
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(SchemaError, match=rf"version {SCHEMA_VERSION + 1}") as info:
        SQLiteQueue(path)
    assert isinstance(info.value, WebhookKitError)
    assert "upgrade webhook-kit" in str(info.value)
    # Refused, not touched: no tables were created and the version was left alone.
    assert scalar(path, "PRAGMA user_version") == SCHEMA_VERSION + 1
    assert scalar(path, "SELECT count(*) FROM sqlite_master") == 0


# --- storage errors ------------------------------------------------------------------------------


def _missing_directory(tmp_path: Path) -> Path:
    return tmp_path / "no-such-directory" / "queue.sqlite3"


def _a_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    return directory


def _not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the tables you are looking for\n" * 100)
    return path


def _another_applications_database(tmp_path: Path) -> Path:
    path = tmp_path / "other.sqlite3"
    connection = raw(path)
    connection.execute("CREATE TABLE jobs (name TEXT)")
    connection.execute("INSERT INTO jobs VALUES ('theirs')")
    connection.close()
    return path


@pytest.mark.parametrize(
    "make_path",
    [_missing_directory, _a_directory, _not_a_database, _another_applications_database],
    ids=["missing directory", "a directory", "not a database", "another app's database"],
)
def test_a_path_that_cannot_hold_a_queue_raises_queue_storage_error(
    tmp_path: Path, make_path: object
) -> None:
    assert callable(make_path)
    bad: Path = make_path(tmp_path)
    with pytest.raises(QueueStorageError) as info:
        SQLiteQueue(bad)
    assert isinstance(info.value, WebhookKitError)
    assert str(bad) in str(info.value)
    assert not isinstance(info.value, sqlite3.Error)


def _newer_release(tmp_path: Path) -> Path:
    path = tmp_path / "newer.sqlite3"
    connection = raw(path)
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.execute("CREATE TABLE jobs (added_by_a_later_release TEXT)")
    connection.close()
    return path


@pytest.mark.parametrize(
    ("make_path", "error"),
    [
        (_not_a_database, QueueStorageError),
        (_another_applications_database, QueueStorageError),
        (_newer_release, SchemaError),
    ],
    ids=["not a database", "another app's database", "a newer release's queue"],
)
def test_a_refused_file_is_left_exactly_as_it_was(
    tmp_path: Path, make_path: object, error: type[Exception]
) -> None:
    """Refused files are identified before the first write: no WAL switch, no -wal or -shm
    (more shapes in ``test_sqlite_identity.py``)."""
    assert callable(make_path)
    bad: Path = make_path(tmp_path)
    before = bad.read_bytes()
    with pytest.raises(error):
        SQLiteQueue(bad)
    assert bad.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == [bad.name]


@pytest.mark.anyio
async def test_a_locked_database_fails_a_dispatch_cleanly(path: Path, clock: VirtualClock) -> None:
    queue = SQLiteQueue(path, clock=clock, busy_timeout=0.05)
    blocker = raw(path)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        sub = WebhookSubscription("https://example.com/hooks", WHSEC).signature_format(
            SignatureFormat.STANDARD_WEBHOOKS
        )
        with pytest.raises(QueueStorageError, match="locked") as info:
            await sub.dispatch(queue, "order.created", {"n": 1})
        assert str(path) in str(info.value)
        assert len(secret_memory_of(queue)) == 0  # a dispatch that raised kept nothing
        blocker.execute("ROLLBACK")
        assert await queue.counts() == QueueCounts(0, 0, 0, 0, 0)
    finally:
        blocker.close()
        queue.close()


def test_negative_settings_are_refused(path: Path) -> None:
    with pytest.raises(InvalidInputError):
        SQLiteQueue(path, retention=-1)
    with pytest.raises(InvalidInputError):
        SQLiteQueue(path, busy_timeout=-1)


def test_default_retention_is_a_week(queue: SQLiteQueue) -> None:
    assert queue.retention == DEFAULT_RETENTION == 7 * 24 * 3600


# --- retention -----------------------------------------------------------------------------------


def attempt_rows(path: Path, delivery_id: str) -> object:
    return scalar(path, "SELECT count(*) FROM attempts WHERE delivery_id = ?", delivery_id)


@pytest.mark.anyio
async def test_prune_deletes_delivered_jobs_older_than_retention_and_their_attempts(
    path: Path, clock: VirtualClock
) -> None:
    queue = SQLiteQueue(path, clock=clock, retention=100)
    try:
        old, dead, pending = make_event("old"), make_event("dead"), make_event("pending")
        recent, retried = make_event("recent"), make_event("retried")
        for event in (old, dead, retried):
            await queue.enqueue(event)
        old_claim, dead_claim, retried_claim = await queue.claim(3, lease_grace=GRACE)
        await record(queue, old_claim, RetryAt(START))
        await record(queue, dead_claim, DeadLetter("no"))
        await record(queue, retried_claim, RetryAt(START + 10_000))
        await record(queue, await claim_one(queue), Delivered(), status=200)  # old's 2nd try
        clock.advance(50)
        await queue.enqueue(recent)
        await record(queue, await claim_one(queue), Delivered(), status=200)
        clock.advance(70)  # old finished 120 s ago, recent 70 s ago
        await queue.enqueue(pending)
        assert attempt_rows(path, old.id) == 2

        assert await queue.prune() == 1

        with pytest.raises(UnknownDeliveryError):
            await queue.history(old.id)
        assert attempt_rows(path, old.id) == 0  # the attempt log went with the job
        assert len(await queue.history(recent.id)) == 1
        assert len(await queue.history(dead.id)) == 1
        assert len(await queue.history(retried.id)) == 1
        assert [letter.id for letter in await queue.list_dead_letters()] == [dead.id]
        assert await queue.counts() == QueueCounts(
            pending=2, due=1, in_flight=0, delivered=1, dead=1
        )
        clock.advance(10**6)
        assert await queue.prune() == 1  # recent, now old too; dead and pending stay
        assert await queue.counts() == QueueCounts(
            pending=2, due=2, in_flight=0, delivered=0, dead=1
        )
        assert len(await queue.history(dead.id)) == 1
    finally:
        queue.close()


@pytest.mark.anyio
async def test_recording_outcomes_prunes_old_delivered_jobs_by_itself(
    path: Path, clock: VirtualClock
) -> None:
    queue = SQLiteQueue(path, clock=clock, retention=100)
    try:
        old = make_event("old")
        await queue.enqueue(old)
        await record(queue, await claim_one(queue), Delivered(), status=200)
        clock.advance(3600)
        assert len(await queue.history(old.id)) == 1  # nothing is pruned without a write
        later = make_event("later")
        await queue.enqueue(later)
        await record(queue, await claim_one(queue), Delivered(), status=200)
        with pytest.raises(UnknownDeliveryError):
            await queue.history(old.id)
        assert attempt_rows(path, old.id) == 0
        assert len(await queue.history(later.id)) == 1
        assert (await queue.counts()).delivered == 1
    finally:
        queue.close()


@pytest.mark.anyio
async def test_a_pruned_id_may_be_enqueued_again(path: Path, clock: VirtualClock) -> None:
    queue = SQLiteQueue(path, clock=clock, retention=0)
    try:
        event = make_event()
        await queue.enqueue(event)
        await record(queue, await claim_one(queue), Delivered(), status=200)
        clock.advance(1)
        assert await queue.prune() == 1
        await queue.enqueue(event)
        assert (await claim_one(queue)).attempt == 1
    finally:
        queue.close()


# --- redrive since a time ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_redrive_since_redrives_the_dead_letters_from_then_on(
    queue: SQLiteQueue, clock: VirtualClock
) -> None:
    assert await queue.redrive_since(0) == 0
    events = [make_event(name) for name in ("a", "b", "c")]
    for event in events:
        await queue.enqueue(event)
    claims = await queue.claim(3, lease_grace=GRACE)
    for claim in claims:
        await record(queue, claim, RetryAt(START))
    claims = await queue.claim(3, lease_grace=GRACE)
    for claim in claims:  # dead at START, START + 10, START + 20, after two attempts each
        await record(queue, claim, DeadLetter(f"dead {claim.event.event}"))
        clock.advance(10)

    assert await queue.redrive_since(START + 10) == 2

    assert [letter.id for letter in await queue.list_dead_letters()] == [events[0].id]
    redriven = await queue.claim(10, lease_grace=GRACE)
    assert sorted((claim.event.id, claim.attempt) for claim in redriven) == sorted(
        (event.id, 1) for event in events[1:]
    )
    assert [claim.event for claim in redriven] == events[1:]
    assert await queue.redrive_since(clock.now() + 1) == 0
    assert await queue.redrive_since(0) == 1
    assert await queue.list_dead_letters() == []


# --- threads -------------------------------------------------------------------------------------


@pytest.fixture
def system_queue(path: Path) -> Iterator[SQLiteQueue]:
    """A queue on the system clock, closed at teardown."""
    opened = SQLiteQueue(path, clock=SystemClock())
    try:
        yield opened
    finally:
        opened.close()  # closes the dispatching thread's connection too


@pytest.mark.anyio
async def test_dispatch_sync_from_another_thread_while_a_worker_runs(
    system_queue: SQLiteQueue,
) -> None:
    queue = system_queue
    receiver = MockReceiver()
    sub = WebhookSubscription(receiver.url, SECRET)
    count = 40

    def dispatch_all() -> list[str]:  # a Django or Flask view, in its own thread
        return [sub.dispatch_sync(queue, "order.created", {"n": n}) for n in range(count)]

    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await WebhookSubscription.register(queue, client=client)
        worker = Worker(queue, concurrency=8)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            dispatched = await anyio.to_thread.run_sync(dispatch_all)
            with anyio.fail_after(60):  # a deadline, not a measurement
                while (await queue.counts()).delivered < count:  # noqa: ASYNC110 (no event)
                    await anyio.sleep(0.01)
            await worker.stop()
    assert sorted(receiver.unique_ids()) == sorted(dispatched)
    assert receiver.duplicates() == {}
    assert await queue.counts() == QueueCounts(0, 0, 0, count, 0)


def test_close_closes_connections_opened_in_other_threads(path: Path) -> None:
    """A regression test: each thread gets its own connection and `close()` closes them all
    from the calling thread, so they must not be bound to their thread (sqlite3's default
    ``check_same_thread=True`` made this raise ``sqlite3.ProgrammingError`` and leave the rest
    open: a Django app dispatching from request threads could not shut its queue down).
    """
    queue = SQLiteQueue(path)
    thread = threading.Thread(target=queue.enqueue_sync, args=(make_event(),))
    thread.start()
    thread.join(10)
    queue.close()
    reopened = SQLiteQueue(path)
    try:
        assert anyio.run(reopened.counts).pending == 1
    finally:
        reopened.close()


# --- group commit --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_outcomes_recorded_in_one_loop_iteration_all_land_in_one_commit(
    queue: SQLiteQueue, path: Path
) -> None:
    events = [make_event(str(n)) for n in range(200)]
    for event in events:
        await queue.enqueue(event)
    claims = await queue.claim(200, lease_grace=GRACE)
    outcomes: list[Outcome] = [Delivered(), RetryAt(START + 60), DeadLetter("no")]
    statements: list[str] = []
    # Which statements run is the queue's business; that they share one COMMIT is the point.
    queue._connection().set_trace_callback(statements.append)
    try:
        results = await asyncio.gather(
            *(record(queue, claim, outcomes[n % 3], status=200) for n, claim in enumerate(claims))
        )
    finally:
        queue._connection().set_trace_callback(None)
    assert results == [True] * 200
    assert sum(statement.strip().upper() == "COMMIT" for statement in statements) == 1
    peer = SQLiteQueue(path, clock=queue.clock)
    try:
        assert await peer.counts() == QueueCounts(
            pending=67, due=0, in_flight=0, delivered=67, dead=66
        )
        assert all([len(await peer.history(event.id)) == 1 for event in events])
    finally:
        peer.close()


@pytest.mark.anyio
async def test_a_storage_error_fails_every_waiter_of_the_batch_and_records_nothing(
    path: Path, clock: VirtualClock
) -> None:
    queue = SQLiteQueue(path, clock=clock, busy_timeout=0.05)
    blocker = raw(path)
    try:
        events = [make_event(str(n)) for n in range(20)]
        for event in events:
            await queue.enqueue(event)
        claims = await queue.claim(20, lease_grace=GRACE)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        results = await asyncio.gather(
            *(record(queue, claim, Delivered(), status=200) for claim in claims),
            return_exceptions=True,
        )
        assert all(isinstance(result, QueueStorageError) for result in results), results
        assert all(str(path) in str(result) for result in results)
        blocker.execute("ROLLBACK")

        assert await queue.counts() == QueueCounts(0, 0, 20, 0, 0)
        assert all([await queue.history(event.id) == [] for event in events])
        # The leases are intact: the same claims record once the lock is gone.
        results = await asyncio.gather(
            *(record(queue, claim, Delivered(), status=200) for claim in claims)
        )
        assert results == [True] * 20
        assert await queue.counts() == QueueCounts(0, 0, 0, 20, 0)
    finally:
        blocker.close()
        queue.close()


@pytest.mark.anyio
async def test_outcomes_committed_together_are_each_checked_against_their_lease(
    queue: SQLiteQueue, clock: VirtualClock
) -> None:
    for _ in range(3):
        await queue.enqueue(make_event())
    stale = list(await queue.claim(3, lease_grace=GRACE))
    clock.advance(TIMEOUT + GRACE + 1)  # every lease expires
    (current,) = await queue.claim(1, lease_grace=GRACE)  # the earliest job, claimed again
    assert current.event.id == stale[0].event.id
    # Four delivered outcomes in one group commit, the re-claimed job's id twice among them.
    results = await asyncio.gather(
        *(record(queue, claim, Delivered(), status=200) for claim in [*stale, current])
    )
    # Only the current lease counts: the claim took every expired lease back.
    assert results == [False, False, False, True]
    assert [h.attempt for h in await queue.history(current.event.id)] == [2]
    assert (await queue.counts()).delivered == 1


def test_a_version_2_file_gains_each_jobs_endpoint(path: Path) -> None:
    from webhook_kit.queues import sqlite_schema

    connection = raw(path)
    for script in sqlite_schema._MIGRATIONS[:2]:  # the file as release 2 wrote it
        connection.executescript(script)
    connection.execute("PRAGMA user_version = 2")
    connection.execute(
        "INSERT INTO jobs (id, state, due, timeout, created_at, target_url, body, event_json)"
        " VALUES ('a', 'pending', 0, 30, 0, 'https://user:pw@Example.COM/hooks?token=q', '{}',"
        " '{}')"
    )
    connection.commit()
    connection.close()
    SQLiteQueue(path).close()
    assert scalar(path, "PRAGMA user_version") == SCHEMA_VERSION
    assert scalar(path, "SELECT endpoint FROM jobs") == "https://example.com/hooks"
