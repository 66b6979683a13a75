"""``webhook-kit schema --queue sqlite:///FILE``: creates the file or migrates it, saying which
version it has; a file that is not a queue is refused and left as it was.

(PostgreSQL's ``schema`` is in `test_postgres_cli`.)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from webhook_kit.queues.sqlite_schema import _MIGRATIONS, SCHEMA_VERSION

from . import run_cli
from .test_errors import error_line


def schema(tmp_path: Path, url: str) -> str:
    """``webhook-kit schema --queue URL`` as a process in ``tmp_path``; the line it printed."""
    completed = run_cli(["schema", "--queue", url], cwd=tmp_path)
    assert (completed.returncode, completed.stderr) == (0, ""), completed.stderr
    [line] = completed.stdout.splitlines()
    return line


def user_version(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    finally:
        connection.close()
    return version


def test_a_new_file_gets_the_schema_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    assert schema(tmp_path, "sqlite:///new.sqlite3") == (
        f"created the queue file new.sqlite3 with the schema (version {SCHEMA_VERSION})"
    )
    assert user_version(tmp_path / "new.sqlite3") == SCHEMA_VERSION
    assert schema(tmp_path, "sqlite:///new.sqlite3") == (
        f"the queue file new.sqlite3 has the schema: version {SCHEMA_VERSION}, up to date"
    )


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_a_file_of_an_older_release_is_migrated(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        for script in _MIGRATIONS[:version]:
            for statement in filter(str.strip, script.split(";")):
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {version}")
        connection.execute("COMMIT")
    finally:
        connection.close()
    assert schema(tmp_path, f"sqlite:///{path}") == (
        f"migrated the queue file {path} from schema version {version} to {SCHEMA_VERSION}"
    )
    assert user_version(path) == SCHEMA_VERSION


def test_another_applications_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "app.sqlite3"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()
    before = other.read_bytes()
    completed = run_cli(["schema", "--queue", "sqlite:///app.sqlite3"], cwd=tmp_path)
    assert completed.returncode == 1
    assert "not a webhook-kit queue" in error_line(completed)
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.sqlite3"]
