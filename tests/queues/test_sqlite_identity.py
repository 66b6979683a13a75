"""Which SQLite files `SQLiteQueue` opens: webhook-kit queues (current and older releases'), new
empty files — and nothing else, refused before a byte of the file is written."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from webhook_kit import QueueStorageError, SchemaError, SQLiteQueue, WebhookKitError
from webhook_kit.queues.sqlite_schema import _MIGRATIONS, APPLICATION_ID, SCHEMA_VERSION

CLI = [sys.executable, "-c", "from webhook_kit.cli import main; main()"]
OUR_TABLES = {"jobs", "attempts", "dead_letters", "endpoints"}


def fingerprint(path: Path) -> dict[str, str]:
    """A hash of every file beside ``path`` that belongs to it (the database, -wal, -shm,
    -journal): a refused file must leave this exactly as it was."""
    return {
        found.name: hashlib.sha256(found.read_bytes()).hexdigest()
        for found in sorted(path.parent.iterdir())
        if found.name.startswith(path.name)
    }


def sql(path: Path, *statements: str, wal: bool = False) -> Path:
    """Run ``statements`` on ``path`` as another program would (then close it cleanly)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        if wal:
            connection.execute("PRAGMA journal_mode = WAL")
        for statement in statements:
            connection.execute(statement)
    finally:
        connection.close()
    return path


def schema_statements(version: int) -> list[str]:
    """The statements that take an empty file to schema ``version``, as every release ran them."""
    return [
        statement.strip()
        for script in _MIGRATIONS[:version]
        for statement in script.split(";")
        if statement.strip()
    ]


def older_release_queue(path: Path, version: int) -> Path:
    """A queue as webhook-kit wrote it before the application id: WAL, the tables of
    ``version``, ``user_version`` and no ``application_id``."""
    return sql(
        path,
        "BEGIN IMMEDIATE",
        *schema_statements(version),
        f"PRAGMA user_version = {version}",
        "COMMIT",
        wal=True,
    )


def killed_writer(path: Path, *statements: str) -> None:
    """Run ``statements`` in WAL mode in a process that is then killed: what it wrote stays in
    the -wal file (never checkpointed), beside its -shm."""
    script = (
        "import os, sqlite3, sys\n"
        "connection = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "connection.execute('PRAGMA journal_mode = WAL')\n"
        "for statement in sys.argv[2:]:\n"
        "    connection.execute(statement)\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path), *statements], check=True, timeout=60)
    assert Path(f"{path}-wal").stat().st_size > 0


# --- foreign files: refused, untouched -----------------------------------------------------------


def jobs_table_version_1(path: Path) -> Path:
    # The case: its own `jobs` table and user_version 1.
    return sql(
        path,
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO jobs (name) VALUES ('theirs')",
        "PRAGMA user_version = 1",
    )


def jobs_table_version_1_in_wal_mode(path: Path) -> Path:
    return sql(
        path,
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT)",
        "PRAGMA user_version = 1",
        wal=True,
    )


def high_user_version(path: Path) -> Path:
    return sql(path, "CREATE TABLE users (id INTEGER PRIMARY KEY)", "PRAGMA user_version = 4000")


def high_user_version_without_tables(path: Path) -> Path:
    return sql(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")


def our_tables_with_another_application_id(path: Path) -> Path:
    return sql(
        path,
        *schema_statements(SCHEMA_VERSION),
        f"PRAGMA user_version = {SCHEMA_VERSION}",
        "PRAGMA application_id = 1234",
    )


def our_version_2_with_an_extra_column(path: Path) -> Path:
    return sql(
        path,
        *schema_statements(SCHEMA_VERSION),
        "ALTER TABLE jobs ADD COLUMN owner TEXT",
        f"PRAGMA user_version = {SCHEMA_VERSION}",
        wal=True,
    )


def our_version_2_with_an_extra_table(path: Path) -> Path:
    return sql(
        path,
        *schema_statements(SCHEMA_VERSION),
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY)",
        f"PRAGMA user_version = {SCHEMA_VERSION}",
    )


def version_1_label_on_version_2_tables(path: Path) -> Path:
    return sql(path, *schema_statements(2), "PRAGMA user_version = 1")


def our_application_id_on_other_tables(path: Path) -> Path:
    return sql(
        path,
        "CREATE TABLE jobs (name TEXT)",
        f"PRAGMA application_id = {APPLICATION_ID}",
        f"PRAGMA user_version = {SCHEMA_VERSION}",
    )


def not_a_database(path: Path) -> Path:
    path.write_bytes(b"these are not the tables you are looking for\n" * 100)
    return path


def only_a_header(path: Path) -> Path:
    path.write_bytes(b"SQLite format 3\x00")
    return path


FOREIGN: list[Callable[[Path], Path]] = [
    jobs_table_version_1,
    jobs_table_version_1_in_wal_mode,
    high_user_version,
    high_user_version_without_tables,
    our_tables_with_another_application_id,
    our_version_2_with_an_extra_column,
    our_version_2_with_an_extra_table,
    version_1_label_on_version_2_tables,
    our_application_id_on_other_tables,
    not_a_database,
    only_a_header,
]


@pytest.mark.parametrize("make", FOREIGN, ids=[make.__name__ for make in FOREIGN])
def test_a_foreign_file_is_refused_and_left_byte_for_byte(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    path = make(tmp_path / "app.sqlite3")
    before = fingerprint(path)
    assert list(before) == [path.name]  # closed cleanly: no -wal, no -shm
    with pytest.raises(QueueStorageError) as info:
        SQLiteQueue(path)
    assert isinstance(info.value, WebhookKitError)
    assert str(path) in str(info.value)
    assert "upgrade" not in str(info.value)
    assert fingerprint(path) == before


def test_another_applications_live_wal_database_is_left_alone(tmp_path: Path) -> None:
    # Its owner has it open: the -wal holds its latest writes. The queue may read (a reader
    # takes its locks in -shm), but the database and its -wal are not changed.
    path = tmp_path / "live.sqlite3"
    owner = sqlite3.connect(path, isolation_level=None)
    try:
        owner.execute("PRAGMA journal_mode = WAL")
        owner.execute("CREATE TABLE jobs (name TEXT)")
        owner.execute("PRAGMA user_version = 1")
        owner.execute("INSERT INTO jobs VALUES ('theirs')")
        before = fingerprint(path)
        with pytest.raises(QueueStorageError, match="not a webhook-kit queue"):
            SQLiteQueue(path)
        after = fingerprint(path)
        assert sorted(after) == sorted(before)
        for name in (path.name, f"{path.name}-wal"):
            assert after[name] == before[name]
        assert owner.execute("SELECT name FROM jobs").fetchall() == [("theirs",)]
    finally:
        owner.close()


@pytest.mark.parametrize("shm", ["with its -shm", "-shm deleted"])
def test_another_applications_crashed_wal_database_is_left_alone(tmp_path: Path, shm: str) -> None:
    path = tmp_path / "crashed.sqlite3"
    killed_writer(path, "CREATE TABLE jobs (name TEXT)", "PRAGMA user_version = 2")
    if shm == "-shm deleted":
        Path(f"{path}-shm").unlink()
    before = fingerprint(path)
    with pytest.raises(QueueStorageError, match="not a webhook-kit queue"):
        SQLiteQueue(path)
    after = fingerprint(path)
    if shm == "-shm deleted":
        assert after == before  # read from a copy: no -shm is made for it
    else:
        # Reading rebuilt the index in its -shm, as any reader does; its data is untouched.
        assert sorted(after) == sorted(before)
        for name in (path.name, f"{path.name}-wal"):
            assert after[name] == before[name]


def test_a_high_user_version_is_not_mistaken_for_a_newer_release(tmp_path: Path) -> None:
    path = high_user_version(tmp_path / "app.sqlite3")
    with pytest.raises(QueueStorageError) as info:
        SQLiteQueue(path)
    assert not isinstance(info.value, SchemaError)
    assert "not a webhook-kit queue" in str(info.value)


def test_a_newer_releases_queue_asks_for_an_upgrade_and_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    SQLiteQueue(path).close()
    sql(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}", "CREATE TABLE added_later (x)")
    before = fingerprint(path)
    with pytest.raises(SchemaError, match="upgrade webhook-kit"):
        SQLiteQueue(path)
    assert fingerprint(path) == before


@pytest.mark.parametrize("make", [jobs_table_version_1, high_user_version, not_a_database])
def test_the_command_prints_one_line_and_leaves_the_file(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    path = make(tmp_path / "foreign.db")
    before = fingerprint(path)
    completed = subprocess.run(
        [*CLI, "status", "--db", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1, completed.stdout
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("Error: ")
    assert "not a webhook-kit queue" in lines[0]
    assert fingerprint(path) == before


# --- webhook-kit's own files: opened -------------------------------------------------------------


def test_a_new_queue_carries_the_application_id(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.sqlite3", tmp_path / "touched.sqlite3"):
        if path.name.startswith("touched"):
            path.touch()  # an empty file is a new queue
        SQLiteQueue(path).close()
        connection = sqlite3.connect(path)
        try:
            assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
            assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        finally:
            connection.close()
        SQLiteQueue(path).close()  # and is opened again


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("where", ["checkpointed", "in the -wal", "in the -wal, -shm deleted"])
def test_an_older_releases_queue_opens_and_is_migrated(
    tmp_path: Path, version: int, where: str
) -> None:
    path = tmp_path / "old.sqlite3"
    job = (
        "INSERT INTO jobs (id, state, due, timeout, created_at, target_url, body, event_json)"
        " VALUES ('d-1', 'pending', 1, 30, 1, 'https://example.com/', '{}', '{}')"
    )
    if where == "checkpointed":
        older_release_queue(path, version)
        sql(path, job)
    else:
        # A worker of the old release was killed: its tables are only in the -wal so far.
        killed_writer(
            path,
            "BEGIN IMMEDIATE",
            *schema_statements(version),
            f"PRAGMA user_version = {version}",
            "COMMIT",
            job,
        )
        if where.endswith("deleted"):
            Path(f"{path}-shm").unlink()
    queue = SQLiteQueue(path)
    try:
        counts = anyio.run(queue.counts)
        assert counts.pending == 1
    finally:
        queue.close()
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        assert tables == OUR_TABLES
    finally:
        connection.close()
