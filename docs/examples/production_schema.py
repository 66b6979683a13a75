"""Opening a queue file at startup, and what to do when a newer webhook-kit wrote it."""

from __future__ import annotations

import contextlib
import os
import sqlite3

from webhook_kit import SchemaError, SQLiteQueue


def open_queue(path: str | os.PathLike[str]) -> SQLiteQueue:
    try:
        # An older schema is migrated forward here, in one transaction.
        return SQLiteQueue(path)
    except SchemaError as error:
        # Written by a newer release, which this one cannot read: deploy that release here too.
        raise SystemExit(f"cannot open the webhook queue: {error}") from None


def schema_version(path: str | os.PathLike[str]) -> int:
    """The file's schema version, as ``sqlite3 FILE 'PRAGMA user_version'`` prints it."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])
