"""Mistakes a person can make get one clear ``Error:`` line and a non-zero exit, no traceback.

Every case runs as a real process, so a traceback would show on its stderr.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from webhook_kit import __version__
from webhook_kit.queues import SQLiteQueue
from webhook_kit.queues.sqlite_schema import APPLICATION_ID

from . import invoke, on_queue, run_cli

SECRET = "a-secret-for-the-error-tests"
# Click's hint after a usage error (exit 2): allowed around the one error line.
USAGE_HINT = ("Usage: webhook-kit ", "Try 'webhook-kit ")


def send_args(
    url: str = "https://customer.example/hooks",
    *,
    event: str = "order.created",
    data: str = "{}",
    secret: str = SECRET,
    extra: tuple[str, ...] = (),
) -> list[str]:
    return ["send", url, "--event", event, "--data", data, "--secret", secret, *extra]


def error_line(completed: subprocess.CompletedProcess[str] | Result) -> str:
    """The one ``Error:`` line of a failed command (anything else on stderr fails the test)."""
    if isinstance(completed, Result):
        # In process, an exception that is not click's exit would have been a traceback.
        if completed.exception is not None and not isinstance(completed.exception, SystemExit):
            raise completed.exception
        code, stdout, stderr = completed.exit_code, completed.stdout, completed.stderr
    else:
        code, stdout, stderr = completed.returncode, completed.stdout, completed.stderr
    assert code != 0, stdout
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, stderr
    others = [line for line in lines if line not in errors]
    if code == 2:
        assert all(line.startswith(USAGE_HINT) for line in others), stderr
    else:
        assert others == [], stderr
    assert stdout == ""
    return errors[0]


def jobs_in(db: Path) -> int:
    """How many jobs the queue file holds (0 if there is no file)."""
    if not db.exists():
        return 0

    async def count(queue: SQLiteQueue) -> int:
        counts = await queue.counts()
        return counts.pending + counts.in_flight + counts.delivered + counts.dead

    return on_queue(db, count)


def test_data_that_is_not_json_is_a_usage_error(tmp_path: Path) -> None:
    # A real process: the exit code and stderr are what a shell sees.
    completed = run_cli(send_args(data="{order: 42}"), cwd=tmp_path)
    assert completed.returncode == 2
    line = error_line(completed)
    assert "--data" in line
    assert "not JSON" in line
    assert list(tmp_path.iterdir()) == []  # no queue file was made


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            send_args("ftp://customer.example/hooks"), "must be http or https", id="ftp-url"
        ),
        pytest.param(send_args("https:///hooks"), "has no host", id="no-host"),
        pytest.param(
            send_args("customer.example/hooks"),
            "must be a full URL with http:// or https://",
            id="no-scheme",
        ),
        pytest.param(send_args("http://[::1/hooks"), "does not parse", id="unparsable-url"),
        pytest.param(send_args(secret=""), "Error: the secret is empty", id="empty-secret"),
        pytest.param(
            send_args(secret="whsec_!!not base64!!", extra=("--format", "standard_webhooks")),
            "whsec_",
            id="bad-whsec-secret",
        ),
        pytest.param(send_args(event=" order.created"), "event name", id="bad-event-name"),
        pytest.param(send_args(data="NaN"), "not JSON", id="nan-payload"),
        pytest.param(
            send_args(extra=("--format", "sha1")), "Invalid value for '--format'", id="bad-format"
        ),
    ],
)
def test_bad_input_to_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    line = error_line(invoke(args))
    assert expected in line
    assert jobs_in(tmp_path / "webhook-kit.sqlite3") == 0


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_a_port_out_of_range_is_refused_at_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, port: str
) -> None:
    # httpx.URL parses any number of digits as a port; a job to port 99999 would be stored and
    # then retried for a day before being dead-lettered. Bad input should fail at the call.
    monkeypatch.chdir(tmp_path)
    result = invoke(send_args(f"https://customer.example:{port}/hooks"))
    assert result.exit_code != 0, f"queued a delivery to port {port}: {result.stdout}"
    assert "port" in error_line(result)
    assert jobs_in(tmp_path / "webhook-kit.sqlite3") == 0


def a_directory(tmp_path: Path) -> Path:
    (tmp_path / "queue.sqlite3").mkdir()
    return tmp_path / "queue.sqlite3"


def in_a_missing_directory(tmp_path: Path) -> Path:
    return tmp_path / "missing" / "queue.sqlite3"


def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "queue.sqlite3"
    path.write_bytes(b"these are not the pages of a SQLite database\n" * 200)
    return path


def written_by_a_newer_release(tmp_path: Path) -> Path:
    path = tmp_path / "queue.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    connection.execute("PRAGMA user_version = 999")
    connection.close()
    return path


BAD_DBS: list[tuple[Callable[[Path], Path], str]] = [
    (a_directory, "is a directory"),
    (in_a_missing_directory, "unable to open"),
    (not_a_database, "not a database"),
    (written_by_a_newer_release, "upgrade webhook-kit"),
]


@pytest.mark.parametrize(("make", "expected"), BAD_DBS, ids=[make.__name__ for make, _ in BAD_DBS])
@pytest.mark.parametrize("command", ["send", "worker"])
def test_a_queue_file_that_cannot_be_used(
    tmp_path: Path, command: str, make: Callable[[Path], Path], expected: str
) -> None:
    db = make(tmp_path)
    args = send_args() if command == "send" else ["worker"]
    line = error_line(run_cli([*args, "--db", str(db)], cwd=tmp_path))
    assert expected in line
    assert db.name in line  # which file
    assert not in_a_missing_directory(tmp_path).parent.exists()  # no directory was made


def another_applications_database(tmp_path: Path) -> Path:
    path = tmp_path / "app.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    connection.execute("INSERT INTO users (name) VALUES ('ada')")
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("command", ["send", "worker"])
def test_another_applications_database_is_refused_and_left_alone(
    tmp_path: Path, command: str
) -> None:
    # A --db that points at some other SQLite file (a typo, Django's db.sqlite3 …) must not get
    # webhook-kit's tables added to it: SQLiteQueue documents "QueueStorageError: the file …
    # is not a webhook-kit queue".
    db = another_applications_database(tmp_path)
    args = send_args() if command == "send" else ["worker"]
    try:
        completed = run_cli([*args, "--db", str(db)], cwd=tmp_path, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker started on another application's database instead of refusing")
    assert completed.returncode != 0, f"{command} used another application's database"
    assert "not a webhook-kit queue" in error_line(completed)
    connection = sqlite3.connect(db)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    connection.close()
    assert (tables, version) == ({"users"}, 0)


def test_unknown_command_and_option(tmp_path: Path) -> None:
    assert "No such command" in error_line(run_cli(["deliver"], cwd=tmp_path))
    assert "No such option" in error_line(run_cli(["demo", "--fast"], cwd=tmp_path))


def test_help_and_version(tmp_path: Path) -> None:
    completed = run_cli(["--help"], cwd=tmp_path)
    assert completed.returncode == 0
    assert "webhook-kit demo" in completed.stdout
    for command in ("demo", "send", "worker"):
        assert f"  {command} " in completed.stdout
    assert run_cli(["-h"], cwd=tmp_path).stdout == completed.stdout
    version = run_cli(["--version"], cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, f"webhook-kit, version {__version__}\n")
    for command in ("demo", "send", "worker"):
        assert run_cli([command, "--help"], cwd=tmp_path).returncode == 0
