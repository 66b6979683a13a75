"""Fixtures of the command's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .backends import CliQueue, postgres_queue, sqlite_queue


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
)
def cli_queue(request: pytest.FixtureRequest, tmp_path: Path) -> CliQueue:
    """An empty queue, once a SQLite file, once the session's PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_queue(tmp_path / "queue.sqlite3")
    url: str = request.getfixturevalue("postgres_url")
    return postgres_queue(url)
