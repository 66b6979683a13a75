"""The SQLite queue's schema and its forward migrations, versioned from day one."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..events import endpoint_of
from . import sqlite_identity
from .sqlite_errors import QueueStorageError, SchemaError
from .sqlite_identity import APPLICATION_ID, FoundSchema, SchemaObject, identify

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "QueueStorageError",
    "SchemaError",
    "check_before_opening",
    "expected_schemas",
    "migrate",
]

# Each entry takes the schema from version N to N + 1; never edit a released entry, append.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id          TEXT PRIMARY KEY,
        state       TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead')),
        due         REAL NOT NULL,  -- pending: when due, in_flight: when the lease ends
        attempts    INTEGER NOT NULL DEFAULT 0,
        timeout     REAL NOT NULL,
        lease_token INTEGER,
        created_at  REAL NOT NULL,
        finished_at REAL,
        target_url  TEXT NOT NULL,
        body        TEXT NOT NULL,  -- the exact JSON text every attempt sends
        event_json  TEXT NOT NULL   -- the rest of the WebhookEvent (its body left empty)
    );
    CREATE INDEX pending_by_due ON jobs (due) WHERE state = 'pending';
    CREATE INDEX in_flight_by_lease_end ON jobs (due) WHERE state = 'in_flight';
    CREATE TABLE attempts (
        delivery_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        attempt          INTEGER NOT NULL,
        started_at       REAL NOT NULL,
        status           INTEGER,
        error            TEXT,
        latency          REAL NOT NULL,
        response_excerpt TEXT NOT NULL,
        outcome          TEXT NOT NULL
    );
    CREATE INDEX attempts_by_delivery ON attempts (delivery_id, started_at);
    CREATE TABLE dead_letters (
        delivery_id      TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        reason           TEXT NOT NULL,
        gone             INTEGER NOT NULL,
        attempts         INTEGER NOT NULL,
        dead_at          REAL NOT NULL,
        last_status      INTEGER,
        last_error       TEXT,
        response_excerpt TEXT NOT NULL
    );
    CREATE INDEX dead_letters_by_time ON dead_letters (dead_at);
    """,
    # 2: endpoint health, shared by every worker on the file and the command line.
    """
    CREATE TABLE endpoints (
        endpoint   TEXT PRIMARY KEY,
        state      TEXT NOT NULL,
        reason     TEXT NOT NULL,
        updated_at REAL NOT NULL,
        probe_at   REAL
    );
    """,
    # 3: each job's endpoint, so a claim takes a fair share of each endpoint's due jobs without
    # walking another's backlog (`_BACKFILLS` fills it in for the jobs already stored).
    """
    ALTER TABLE jobs ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
    CREATE INDEX pending_by_endpoint ON jobs (endpoint, due) WHERE state = 'pending';
    """,
)


def _backfill_endpoints(connection: sqlite3.Connection) -> None:
    connection.create_function("webhook_kit_endpoint", 1, endpoint_of, deterministic=True)
    connection.execute("UPDATE jobs SET endpoint = webhook_kit_endpoint(target_url)")


# Data a migration adds to what is stored already, by the version it brings the schema to; they
# change rows, never the schema (so `expected_schemas` needs none of them).
_BACKFILLS: dict[int, Callable[[sqlite3.Connection], None]] = {3: _backfill_endpoints}

SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this release writes."""


def check_before_opening(path: Path) -> None:
    """Refuse, without writing a byte, a file that is not a webhook-kit queue this release can
    open: another application's database, a newer schema, or not a database at all.

    Raises:
        SchemaError: a newer release's queue.
        QueueStorageError: another application's database, a file that is not a database, or
            one that cannot be read.
    """
    sqlite_identity.check_before_opening(path, expected_schemas())


@functools.cache
def expected_schemas() -> dict[int, frozenset[SchemaObject]]:
    """The exact ``sqlite_master`` entries of each schema version, as this SQLite writes them."""
    schemas = {0: frozenset[SchemaObject]()}
    connection = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for version, script in enumerate(_MIGRATIONS, start=1):
            for statement in _statements(script):
                connection.execute(statement)
            schemas[version] = FoundSchema.read(connection).objects
    finally:
        connection.close()
    return schemas


def migrate(connection: sqlite3.Connection, *, where: str = "this database") -> int:
    """Bring the schema up to `SCHEMA_VERSION`; return the version found before.

    Runs in one ``BEGIN IMMEDIATE`` transaction, so two processes opening a new file at once
    cannot both migrate it; the file is identified again inside it (`identify`), so nothing is
    written to a file that is not a webhook-kit queue. A new queue gets `APPLICATION_ID`, and so
    does a queue written before it existed.

    Raises:
        SchemaError: the file's schema is newer than this release knows.
        QueueStorageError: the file is not a webhook-kit queue.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        found = identify(FoundSchema.read(connection), expected_schemas(), where)
        for version in range(found, SCHEMA_VERSION):
            for statement in _statements(_MIGRATIONS[version]):
                connection.execute(statement)
            backfill = _BACKFILLS.get(version + 1)
            if backfill is not None:
                backfill(connection)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return found


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT first; split instead, so a migration stays in the transaction
    # (so no migration may have a semicolon other than between statements).
    return [statement.strip() for statement in script.split(";") if statement.strip()]
