"""Shared test configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """A database of this test session's own on the real PostgreSQL, schema applied."""
    from services import postgres_database

    with postgres_database() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_session_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    from services import empty_tables

    empty_tables(postgres_session_url)
    return postgres_session_url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test that uses PostgreSQL: ``-m postgresql`` (``nox -s services``) runs them."""
    for item in items:
        if "postgres_session_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgresql)
