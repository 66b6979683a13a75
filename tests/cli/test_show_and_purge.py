"""``webhook-kit show ID`` (any delivery's state and attempts), when ``status`` says the next
attempt is due, and ``dlq purge`` (dead letters only, after a confirmation), on SQLite files.
The same commands on PostgreSQL are in test_postgres_cli.py."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import Result

from webhook_kit import SignatureFormat, SQLiteQueue, WebhookEvent
from webhook_kit.cli.status import duration
from webhook_kit.queues import QueueCounts

from . import invoke, on_queue
from .queue_files import DEAD, BuiltQueue, build_queue

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltQueue:
    return build_queue(tmp_path_factory.mktemp("built") / "queue.sqlite3")


@pytest.fixture
def queue_file(built: BuiltQueue, tmp_path: Path) -> BuiltQueue:
    return built.copy_to(tmp_path)


def ok(result: Result) -> list[str]:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return [line.rstrip() for line in result.stdout.splitlines()]


def failed(result: Result) -> str:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    return line


def counts(db: Path) -> QueueCounts:
    async def call(queue: SQLiteQueue) -> QueueCounts:
        return await queue.counts()

    return on_queue(db, call)


def enqueue_later(db: Path, delivery_id: str, seconds: float) -> None:
    """A pending delivery whose first attempt is due ``seconds`` from now."""

    async def call(queue: SQLiteQueue) -> None:
        now = queue.clock.now()
        event = WebhookEvent(
            id=delivery_id,
            event="invoice.paid",
            target_url="https://user:pw@customer.example/hooks?token=s3cret",
            body="{}",
            signature_format=SignatureFormat.HEX_SHA256_WITH_PREFIX,
            signature="sha256=" + "0" * 64,
            created_at=now,
        )
        await queue.enqueue(event, not_before=now + seconds)

    on_queue(db, call)


# -- show ----------------------------------------------------------------------------------


def test_show_a_delivered_delivery_by_a_prefix(queue_file: BuiltQueue) -> None:
    delivery_id = queue_file.ids["order.created"]
    lines = ok(invoke(["show", delivery_id[:8], "--db", str(queue_file.path)]))
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines[:5])
    assert fields["delivery"] == delivery_id
    assert fields["event"] == "order.created"
    assert fields["target"] == queue_file.url
    assert fields["state"] == "delivered"
    [attempt] = [line for line in lines if re.match(r"│\s+1\s+│", line)]
    assert "200" in attempt
    assert "delivered" in attempt


def test_show_a_pending_delivery_says_when_its_next_attempt_is_due(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    enqueue_later(db, "7f3e0c1a-0000-4000-8000-000000000001", 3600)
    lines = ok(invoke(["show", "7f3e0c1a", "--db", str(db)]))
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines[:5])
    assert re.fullmatch(
        rf"pending: the next attempt is due {ISO} \(in (59m( \d+s)?|1h)\)", fields["state"]
    ), fields["state"]
    assert fields["target"] == "https://customer.example/hooks?…"  # no credentials, no query
    assert "s3cret" not in "\n".join(lines)
    assert lines[5] == "no attempts yet"


def test_show_a_dead_letter_points_to_dlq_show(queue_file: BuiltQueue) -> None:
    delivery_id = queue_file.ids["customer.deleted"]
    lines = ok(invoke(["show", delivery_id, "--db", str(queue_file.path)]))
    state = next(line for line in lines if line.startswith("state"))
    assert state.split(None, 1)[1] == (
        f"dead-lettered (webhook-kit dlq show {delivery_id[:8]} --db {queue_file.path})"
    )
    assert lines[-1].startswith("reason: the receiver answered 410 Gone")


def test_show_refuses_unknown_short_and_ambiguous_ids(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    enqueue_later(db, "abcd0001-0000-4000-8000-000000000001", 60)
    enqueue_later(db, "abcd0002-0000-4000-8000-000000000002", 60)
    assert failed(invoke(["show", "ffff", "--db", str(db)])) == (
        f"Error: no delivery with id ffff in {db} (delivered ones are pruned after the "
        "retention period)"
    )
    assert failed(invoke(["show", "abc", "--db", str(db)])) == (
        "Error: abc is too short to name a delivery: give at least 4 characters of its id"
    )
    assert failed(invoke(["show", "abcd", "--db", str(db)])) == (
        "Error: abcd is the start of more than one delivery's id: give more of it"
    )
    # LIKE's wildcards are plain characters in an id
    assert failed(invoke(["show", "abcd%", "--db", str(db)])).startswith("Error: no delivery")
    assert failed(invoke(["show", "abcd000_", "--db", str(db)])).startswith("Error: no delivery")


# -- status: the next attempt ----------------------------------------------------------------


def test_status_says_when_the_next_attempt_is_due(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    SQLiteQueue(db).close()
    assert "  next attempt: none pending" in ok(invoke(["status", "--db", str(db)]))
    enqueue_later(db, "later-1", 2 * 3600)
    enqueue_later(db, "later-2", 300)
    [line] = [line for line in ok(invoke(["status", "--db", str(db)])) if "next attempt" in line]
    assert re.fullmatch(rf"  next attempt: due {ISO} \(in (4m( \d+s)?|5m)\)", line), line
    enqueue_later(db, "overdue", -60)
    assert "  next attempt: due now" in ok(invoke(["status", "--db", str(db)]))


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.2, "1s"), (45, "45s"), (270, "4m 30s"), (300, "5m"), (7500, "2h 5m"), (3 * 86400, "3d")],
)
def test_durations_read_as_a_person_says_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


# -- dlq purge -------------------------------------------------------------------------------


def test_purge_asks_and_a_no_deletes_nothing(queue_file: BuiltQueue) -> None:
    db = queue_file.path
    result = invoke(["dlq", "purge", "--db", str(db)], input="n\n")
    assert result.exit_code == 1
    assert result.stdout.startswith(
        f"delete 3 dead letters from {db} for good (their attempts too)? [y/N]"
    )
    assert counts(db).dead == 3


def test_purge_after_yes_deletes_the_dead_letters_only(queue_file: BuiltQueue) -> None:
    db = queue_file.path
    result = invoke(["dlq", "purge", "--db", str(db)], input="y\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "purged 3 dead letters"
    assert counts(db) == QueueCounts(pending=0, due=0, in_flight=0, delivered=1, dead=0)
    assert ok(invoke(["dlq", "list", "--db", str(db)])) == [f"no dead letters in {db}"]
    # The delivered one and its history stay; the dead ones are gone with theirs.
    delivered = ok(invoke(["show", queue_file.ids["order.created"], "--db", str(db)]))
    assert any(line.startswith("state") and line.endswith("delivered") for line in delivered)
    for event in DEAD:
        assert failed(invoke(["show", queue_file.ids[event], "--db", str(db)])).startswith(
            "Error: no delivery with id"
        )


def test_purge_before_a_time_with_yes(queue_file: BuiltQueue) -> None:
    db = queue_file.path
    old = queue_file.ids["order.refunded"]
    connection = sqlite3.connect(db)
    with connection:
        connection.execute(
            "UPDATE dead_letters SET dead_at = ? WHERE delivery_id = ?",
            (time.time() - 10 * 86400, old),
        )
    connection.close()
    lines = ok(invoke(["dlq", "purge", "--before", "7d", "--yes", "--db", str(db)]))
    assert re.fullmatch(rf"purged 1 dead letter dead-lettered before {ISO}", lines[-1]), lines
    assert counts(db).dead == 2
    assert failed(invoke(["show", old, "--db", str(db)])).startswith("Error: no delivery")
    again = ok(invoke(["dlq", "purge", "--before", "7d", "-y", "--db", str(db)]))
    assert re.fullmatch(
        rf"no dead letters dead-lettered before {ISO} in {db}: nothing to purge", again[-1]
    )


def test_purge_before_must_be_a_time_or_an_age(queue_file: BuiltQueue) -> None:
    result = invoke(
        ["dlq", "purge", "--before", "last week", "--yes", "--db", str(queue_file.path)]
    )
    assert result.exit_code == 2
    assert "Invalid value for --before" in result.output
    assert counts(queue_file.path).dead == 3
