"""Whether a SQLite file is a webhook-kit queue, decided without writing a byte to it.

A queue is known positively: by its ``PRAGMA application_id`` (set when webhook-kit creates the
file) and a schema that is exactly the one its ``user_version`` names. Files written before the
application id existed (versions 1 and 2) are recognised by that exact schema alone. Anything else
that is not empty — another application's database, even one whose ``user_version`` is high, or
a file that is not a database at all — is refused before the queue opens it for writing.

Looking is itself careful: a plain read-only connection to a WAL database creates ``-wal`` and
``-shm`` files beside it, so the way of reading is chosen from the file's header first.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .sqlite_errors import QueueStorageError, SchemaError

__all__ = ["APPLICATION_ID", "LEGACY_VERSIONS", "FoundSchema", "check_before_opening", "identify"]

APPLICATION_ID = int.from_bytes(b"WHKQ", "big")
"""The ``PRAGMA application_id`` of every queue file webhook-kit creates (``0x57484B51``)."""

LEGACY_VERSIONS = (1, 2)
"""Schema versions written before the application id existed: known by their schema alone."""

_HEADER_SIZE = 100
_MAGIC = b"SQLite format 3\x00"
_WAL_FORMAT = 2  # header bytes 18 and 19: 1 for a rollback journal, 2 for WAL

SchemaObject = tuple[str, str, str | None]
"""One entry of ``sqlite_master``: its type, name and ``CREATE`` text."""


@dataclass(frozen=True)
class FoundSchema:
    """What a database file says about itself."""

    application_id: int
    user_version: int
    objects: frozenset[SchemaObject]

    @classmethod
    def read(cls, connection: sqlite3.Connection) -> FoundSchema:
        """Read the application id, the version and the schema through ``connection``."""
        return cls(
            application_id=connection.execute("PRAGMA application_id").fetchone()[0],
            user_version=connection.execute("PRAGMA user_version").fetchone()[0],
            objects=frozenset(
                connection.execute(
                    "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%'"
                    " ESCAPE '\\'"
                )
            ),
        )


def identify(found: FoundSchema, expected: dict[int, frozenset[SchemaObject]], where: str) -> int:
    """The schema version of a webhook-kit queue (0: an empty database, to be created).

    Args:
        found: what the file holds.
        expected: the exact schema of each version this release knows, by version.
        where: how messages name the file.

    Raises:
        SchemaError: a webhook-kit queue of a newer version than ``expected`` knows.
        QueueStorageError: not a webhook-kit queue, or one whose schema is not its version's.
    """
    version = found.user_version
    newest = max(expected)
    if found.application_id == APPLICATION_ID:
        if version > newest:
            raise SchemaError(
                f"the queue {where} has schema version {version}, newer than this webhook-kit "
                f"knows ({newest}): upgrade webhook-kit"
            )
        if version < 0 or found.objects != expected[version]:
            raise QueueStorageError(
                f"{where} is marked as a webhook-kit queue, but its tables are not those of "
                f"schema version {version}{_differences(found.objects, expected.get(version))}"
            )
        return version
    if found.application_id == 0:
        if version == 0 and not found.objects:
            return 0  # an empty database: nothing in it to lose or to mistake
        if version in LEGACY_VERSIONS and found.objects == expected[version]:
            return version
    raise QueueStorageError(
        f"{where} is a SQLite database, but not a webhook-kit queue (application_id "
        f"{found.application_id}, user_version {version}): it was left untouched"
    )


def _differences(found: frozenset[SchemaObject], wanted: frozenset[SchemaObject] | None) -> str:
    if wanted is None:
        return ""
    found_names = {name for _, name, _ in found}
    wanted_names = {name for _, name, _ in wanted}
    parts = []
    if extra := sorted(found_names - wanted_names):
        parts.append("unexpected " + ", ".join(extra))
    if missing := sorted(wanted_names - found_names):
        parts.append("missing " + ", ".join(missing))
    if not parts:
        parts.append("changed " + ", ".join(sorted({o[1] for o in found ^ wanted})))
    return " (" + "; ".join(parts) + ")"


def check_before_opening(path: Path, expected: dict[int, frozenset[SchemaObject]]) -> None:
    """Refuse, without writing a byte, a file that is not a webhook-kit queue this release can
    open: another application's database, a newer schema, or not a database at all.

    A missing or empty (0-byte) file passes: the queue creates it.

    Raises:
        SchemaError: a newer release's queue.
        QueueStorageError: any other file that is not a webhook-kit queue, or cannot be read.
    """
    try:
        if not path.exists() or (path.is_file() and path.stat().st_size == 0):
            return
        with path.open("rb") as file:
            header = file.read(_HEADER_SIZE)
    except OSError as exc:
        raise QueueStorageError(f"the queue database {path} cannot be opened: {exc}") from exc
    if len(header) < _HEADER_SIZE or not header.startswith(_MAGIC):
        raise QueueStorageError(
            f"{path} is not a database (not in SQLite's format), so not a webhook-kit queue: "
            "it was left untouched"
        )
    try:
        with _reading(path, wal=header[18] == _WAL_FORMAT) as connection:
            found = FoundSchema.read(connection)
    except (sqlite3.Error, OSError) as exc:
        raise QueueStorageError(f"{path} cannot be read as a webhook-kit queue: {exc}") from exc
    identify(found, expected, str(path))


@contextlib.contextmanager
def _reading(path: Path, *, wal: bool) -> Iterator[sqlite3.Connection]:
    """A read-only connection to ``path`` that leaves nothing behind."""
    uri = path.resolve().as_uri()
    wal_file, shm_file = Path(f"{path}-wal"), Path(f"{path}-shm")
    if not wal:
        target = f"{uri}?mode=ro"  # a rollback-journal database: reading creates no file
    elif not wal_file.exists() or wal_file.stat().st_size == 0:
        target = f"{uri}?mode=ro&immutable=1"  # all of it is in the main file
    elif shm_file.exists():
        target = f"{uri}?mode=ro"  # both exist: a reader only takes its locks in -shm
    else:
        # A -wal without its -shm (copied without it): reading would create the -shm, so read
        # a copy of the two.
        with tempfile.TemporaryDirectory(prefix="webhook-kit-inspect-") as directory:
            copy = Path(directory) / "queue.sqlite3"
            shutil.copyfile(path, copy)
            shutil.copyfile(wal_file, f"{copy}-wal")
            with contextlib.closing(sqlite3.connect(copy)) as connection:
                yield connection
        return
    with contextlib.closing(sqlite3.connect(target, uri=True)) as connection:
        yield connection
