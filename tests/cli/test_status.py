"""``webhook-kit status``: a SQLite queue's depth, its file and schema version."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result

from webhook_kit import SQLiteQueue, WebhookSubscription
from webhook_kit.cli import status as status_module  # noqa: F401  (registers the command)
from webhook_kit.queues.sqlite_schema import APPLICATION_ID, SCHEMA_VERSION

from . import invoke, on_queue
from .queue_files import build_queue

STATES = ("pending", "due now", "in flight", "delivered", "dead")


def status(*args: str) -> Result:
    return invoke(["status", *args])


def shown(result: Result) -> tuple[str, dict[str, int], str]:
    """The heading line, each state's count, and the whole output."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    found: dict[str, int] = {}
    queue_lines = lines[1 : 1 + len(STATES)]  # then the endpoints section
    for line in queue_lines:
        match = re.match(r"\s+([a-z ]+?)\s+(\d+)\b", line)
        assert match is not None, line
        found[match.group(1)] = int(match.group(2))
    assert tuple(found) == STATES
    return lines[0], found, result.stdout


def error_line(result: Result) -> str:
    """The one ``Error:`` line of a refused command (exit 1); a traceback fails the test."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_a_queue_with_dead_letters(tmp_path: Path) -> None:
    built = build_queue(tmp_path / "queue.sqlite3")
    heading, counts, output = shown(status("--db", str(built.path)))
    assert heading == f"queue {built.path.resolve()} (schema version {SCHEMA_VERSION})"
    assert counts == {"pending": 0, "due now": 0, "in flight": 0, "delivered": 1, "dead": 3}
    assert f"see webhook-kit dlq list --db {built.path}" in output


def test_pending_due_and_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    subscription = WebhookSubscription("https://customer.example/hooks", "s3cret")

    async def fill(queue: SQLiteQueue) -> None:
        now = queue.clock.now()
        for number in range(4):
            event = subscription.build_event("order.created", {"n": number}, now=now)
            queue.enqueue_sync(event, not_before=now - 1 if number < 3 else now + 3600)
        await queue.claim(1, lease_grace=60)  # one of the due ones: in flight

    on_queue(db, fill)
    _, counts, output = shown(status("--db", str(db)))
    assert counts == {"pending": 3, "due now": 2, "in flight": 1, "delivered": 0, "dead": 0}
    assert "dlq list" not in output  # nothing dead


def test_a_new_queue_is_all_zeros(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    SQLiteQueue(db).close()
    _, counts, _ = shown(status("--db", str(db)))
    assert set(counts.values()) == {0}


def test_the_default_queue_file_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_queue(tmp_path / "webhook-kit.sqlite3")
    monkeypatch.chdir(tmp_path)
    heading, counts, output = shown(status())
    assert heading.startswith(f"queue {tmp_path.resolve() / 'webhook-kit.sqlite3'} ")
    assert counts["dead"] == 3
    dead_line = [line for line in output.splitlines() if line.lstrip().startswith("dead ")]
    assert dead_line[0].rstrip().endswith("see webhook-kit dlq list")  # no --db needed


def test_a_missing_queue_file_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert error_line(status()).startswith("Error: no queue at webhook-kit.sqlite3")
    missing = tmp_path / "missing.sqlite3"
    assert error_line(status("--db", str(missing))).startswith(f"Error: no queue at {missing}")
    assert list(tmp_path.iterdir()) == []


def test_files_that_are_not_queues(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not the pages of a database\n" * 100)
    assert "garbage.sqlite3" in error_line(status("--db", str(garbage)))

    newer = tmp_path / "newer.sqlite3"
    connection = sqlite3.connect(newer)
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    assert "upgrade webhook-kit" in error_line(status("--db", str(newer)))

    other = tmp_path / "app.sqlite3"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()
    before = other.read_bytes()
    assert "not a webhook-kit queue" in error_line(status("--db", str(other)))
    assert other.read_bytes() == before

    directory = tmp_path / "a-directory"
    directory.mkdir()
    result = status("--db", str(directory))
    assert result.exit_code == 2  # click refuses it as a usage error
    assert "is a directory" in result.stderr
    assert "Traceback" not in result.output


def test_help() -> None:
    result = status("--help")
    assert result.exit_code == 0
    assert "--db" in result.stdout


def test_unhealthy_endpoints_are_listed_and_healthy_ones_are_not(tmp_path: Path) -> None:
    import anyio

    from webhook_kit.queues.protocol import EndpointRecord

    db = tmp_path / "queue.sqlite3"
    queue = SQLiteQueue(db)

    async def record() -> None:
        await queue.save_endpoint(
            EndpointRecord("https://a.example/hooks", "disabled", "answered 410 Gone", 1.0)
        )
        await queue.save_endpoint(
            EndpointRecord("https://b.example/hooks", "paused", "5 failures", 2.0, 1_800_000_000)
        )
        await queue.save_endpoint(EndpointRecord("https://c.example/hooks", "healthy", "", 3.0))

    anyio.run(record)
    queue.close()
    _, _, output = shown(status("--db", str(db)))
    assert "endpoints paused or disabled: 2" in output
    assert "disabled  https://a.example/hooks: answered 410 Gone" in output
    assert "paused    https://b.example/hooks: 5 failures, probed again at 2027-01-15" in output
    assert "c.example" not in output
