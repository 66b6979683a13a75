"""``webhook-kit`` on PostgreSQL (``--queue postgresql://…``): what is PostgreSQL's own.

The commands that work the same on every queue are tested on PostgreSQL in `test_every_queue`;
here: ``schema`` (and every command refusing a database without it), an unreachable server,
option mistakes, the missing ``postgres`` extra and ``sqlite:///`` URLs. What needs no server
runs everywhere; the rest takes the ``postgres_url`` fixture (a database of this session's own
with the schema applied, emptied for each test; skipped where PostgreSQL is unreachable).
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from webhook_kit.queues import QueueCounts
from webhook_kit.queues.postgres_schema import SCHEMA_VERSION

from . import TIMEOUT, clean_env, invoke, run_cli
from .backends import postgres_queue
from .test_errors import error_line

SECRET = "postgres-command-secret-32-bytes"
UNREACHABLE = "postgresql://webhook:hunter2@127.0.0.1:1/shop"
"""Nothing listens on port 1; the password must never be printed."""

POSTGRES_EXTRA = "pip install 'webhook-kit[postgres]'"


def ok(result: Result) -> list[str]:
    """The lines a successful in-process command printed."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return [line.rstrip() for line in result.stdout.splitlines()]


def shown(url: str) -> str:
    """How the commands name the database: its URL without the credentials."""
    return re.sub(r"//[^@/]*@", "//", url)


@pytest.fixture
def bare_database(postgres_url: str) -> Iterator[str]:
    """A new database on the same server, without any schema; dropped afterwards."""
    import psycopg

    name = f"webhook_kit_bare_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{postgres_url.rpartition('/')[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- schema ------------------------------------------------------------------------------------


def test_schema_applies_once_and_is_safe_to_repeat(bare_database: str, tmp_path: Path) -> None:
    where = shown(bare_database)
    # Without the schema, every command says what to run, in one line.
    line = error_line(invoke(["status", "--queue", bare_database]))
    assert line == (
        f"Error: the PostgreSQL database {where} has no webhook-kit schema: "
        f"apply it first with webhook-kit schema --queue {where}"
    )
    for name, args in QUEUE_COMMANDS.items():
        if name != "worker":
            assert error_line(invoke([*args, "--queue", bare_database])) == line, name
    # The worker says it before it starts: one line, no log of a worker that started.
    worker = run_cli(["worker", "--queue", bare_database], cwd=tmp_path, timeout=TIMEOUT)
    assert error_line(worker) == line
    assert worker.returncode == 1

    first = run_cli(["schema", "--queue", bare_database], cwd=tmp_path)
    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    assert first.stdout == f"applied the schema to {where} (version {SCHEMA_VERSION})\n"
    again = run_cli(["schema", "--queue", bare_database], cwd=tmp_path)
    assert (again.returncode, again.stderr) == (0, ""), again.stderr
    assert again.stdout == f"the schema in {where} is up to date (version {SCHEMA_VERSION})\n"

    assert ok(invoke(["status", "--queue", bare_database]))[0] == f"queue {where} (PostgreSQL)"
    assert postgres_queue(bare_database).counts() == QueueCounts(
        pending=0, due=0, in_flight=0, delivered=0, dead=0
    )


def test_schema_on_a_database_that_has_it(postgres_url: str) -> None:
    [line] = ok(invoke(["schema", "--queue", postgres_url]))
    assert line == (
        f"the schema in {shown(postgres_url)} is up to date (version {SCHEMA_VERSION})"
    )


# -- mistakes: one line, never a traceback -----------------------------------------------------

QUEUE_COMMANDS = {
    "status": ["status"],
    "dlq-list": ["dlq", "list"],
    "dlq-show": ["dlq", "show", "0000aaaa"],
    "dlq-redrive": ["dlq", "redrive", "--since", "1h"],
    "dlq-purge": ["dlq", "purge", "--yes"],
    "show": ["show", "0000aaaa"],
    "endpoints-list": ["endpoints", "list"],
    "endpoints-enable": ["endpoints", "enable", "https://customer.example/hooks"],
    "send": [
        *("send", "https://customer.example/hooks", "--event", "order.created"),
        *("--data", "{}", "--secret", SECRET),
    ],
    "worker": ["worker"],
}


@pytest.mark.parametrize(
    "args", [*QUEUE_COMMANDS.values(), ["schema"]], ids=[*QUEUE_COMMANDS, "schema"]
)
def test_an_unreachable_database_is_one_line(tmp_path: Path, args: list[str]) -> None:
    completed = run_cli([*args, "--queue", UNREACHABLE], cwd=tmp_path)
    line = error_line(completed)
    assert completed.returncode == 1
    assert "postgresql://127.0.0.1:1/shop" in line
    assert "Connection refused" in line or "connection failed" in line, line
    assert "hunter2" not in completed.stderr
    assert list(tmp_path.iterdir()) == []  # no SQLite file was made instead


@pytest.mark.parametrize("args", QUEUE_COMMANDS.values(), ids=list(QUEUE_COMMANDS))
@pytest.mark.parametrize("queue", [UNREACHABLE, "sqlite:///queue.sqlite3"], ids=["pg", "sqlite"])
def test_db_and_queue_together_are_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], queue: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke([*args, "--db", "other.sqlite3", "--queue", queue])
    assert result.exit_code == 2
    assert error_line(result) == "Error: give --queue URL or --db FILE, not both"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ("mysql://root:hunter2@db.internal/shop", "unknown queue URL scheme 'mysql'"),
        ("redis://:hunter2@localhost:6379/0", "unknown queue URL scheme 'redis'"),
        ("webhooks.sqlite3", "not a queue URL"),
        ("sqlite:///", "names no file"),
        ("sqlite://db.internal/queue.sqlite3", "sqlite:///relative/path"),
    ],
)
@pytest.mark.parametrize("command", ["status", "worker", "schema"])
def test_a_bad_queue_url_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, queue: str, expected: str, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke([command, "--queue", queue])
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith("Error: Invalid value for --queue: ")
    assert expected in line
    assert "postgresql://…, postgres://… or sqlite:///FILE" in line or "sqlite:///" in line
    assert "hunter2" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_postgres_scheme_spelled_postgres(postgres_url: str) -> None:
    url = "postgres://" + postgres_url.partition("://")[2]
    lines = ok(invoke(["status", "--queue", url]))
    assert lines[0].endswith("(PostgreSQL)")


# -- sqlite:/// is --db --------------------------------------------------------------------------


def test_a_sqlite_url_is_the_same_as_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = "sqlite:///queue.sqlite3"
    args = ["--event", "a.b", "--data", "{}", "--secret", SECRET]
    sent = invoke(["send", "https://customer.example/hooks", "--queue", relative, *args])
    assert sent.exit_code == 0, sent.output
    assert sent.stderr.splitlines() == [
        "created a new, empty queue at queue.sqlite3 (no file was there; as given to --queue)"
    ]
    assert (tmp_path / "queue.sqlite3").exists()
    by_db = ok(invoke(["status", "--db", "queue.sqlite3"]))
    assert by_db == ok(invoke(["status", "--queue", relative]))
    assert re.match(r"\s+pending\s+1\b", by_db[1])
    assert "see webhook-kit dlq list" not in "\n".join(by_db)
    absolute = f"sqlite:///{tmp_path / 'queue.sqlite3'}"  # sqlite:////tmp/…
    assert absolute.startswith("sqlite:////")
    assert ok(invoke(["dlq", "list", "--queue", absolute])) == [
        f"no dead letters in {tmp_path / 'queue.sqlite3'}"
    ]
    # Refused as --db refuses it: status never creates a file, and a directory is no file.
    missing = error_line(invoke(["status", "--queue", "sqlite:///missing.sqlite3"]))
    assert missing.startswith("Error: no queue at missing.sqlite3")
    (tmp_path / "a-directory").mkdir()
    assert "is a directory" in error_line(invoke(["status", "--queue", "sqlite:///a-directory"]))
    [line] = ok(invoke(["schema", "--queue", "sqlite:///new.sqlite3"]))
    assert line.startswith("created the queue file new.sqlite3 with the schema (version ")
    assert (tmp_path / "new.sqlite3").exists()


# -- without the postgres extra ------------------------------------------------------------------

WITHOUT_PSYCOPG = [
    sys.executable,
    "-c",
    "import sys; sys.modules['psycopg'] = sys.modules['psycopg_pool'] = None; "
    "from webhook_kit.cli import main; main()",
]
"""The command in a process where ``import psycopg`` fails (the ``cli`` extra alone)."""


def without_psycopg(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WITHOUT_PSYCOPG, *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(
    "args", [*QUEUE_COMMANDS.values(), ["schema"]], ids=[*QUEUE_COMMANDS, "schema"]
)
def test_without_the_postgres_extra_the_command_says_what_to_install(
    tmp_path: Path, args: list[str]
) -> None:
    completed = without_psycopg([*args, "--queue", UNREACHABLE], tmp_path)
    line = error_line(completed)
    assert completed.returncode == 1
    assert POSTGRES_EXTRA in line
    assert "hunter2" not in completed.stderr


def test_without_the_postgres_extra_sqlite_still_works(tmp_path: Path) -> None:
    for args in (["--help"], ["schema", "--help"], ["worker", "--help"]):
        assert without_psycopg(args, tmp_path).returncode == 0
    sent = without_psycopg(
        [*QUEUE_COMMANDS["send"], "--queue", "sqlite:///queue.sqlite3"], tmp_path
    )
    assert (sent.returncode, sent.stderr) == (
        0,
        "created a new, empty queue at queue.sqlite3 (no file was there; as given to --queue)\n",
    ), sent.stderr
    status = without_psycopg(["status", "--db", "queue.sqlite3"], tmp_path)
    assert (status.returncode, status.stderr) == (0, ""), status.stderr
    assert re.search(r"pending\s+1\b", status.stdout)
