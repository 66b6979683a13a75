"""The queue a command works on: a SQLite file or a PostgreSQL database, and how each opens.

A target knows how to name itself in messages (with any password masked), how to open its
queue and how to apply its schema; that is the one place the kinds differ. The commands get
the opened queue and work through the queue protocol only, whichever kind it is.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

import click

from .app import DEFAULT_DB

if TYPE_CHECKING:
    from ..queues.postgres import PostgresQueue
    from ..queues.protocol import LeaseQueue
    from ..queues.sqlite import SQLiteQueue

    CommandQueue: TypeAlias = LeaseQueue
    """A queue a command opened: what every queue does, stored and leased."""

__all__ = ["POSTGRES_EXTRA_HINT", "PostgresTarget", "QueueTarget", "SQLiteTarget"]

Notice = Callable[[str], None]


class QueueTarget(Protocol):
    """The queue a command works on, not opened yet."""

    @property
    def label(self) -> str:
        """How messages name the queue (never with a password)."""
        ...

    @property
    def args(self) -> str:
        """The option another command needs to reach this queue (``""`` for the default)."""
        ...

    @property
    def heading(self) -> str:
        """What the queue is, for ``status``'s first line."""
        ...

    def opened(
        self, *, create: bool, notice: Notice | None = None
    ) -> contextlib.AbstractAsyncContextManager[CommandQueue]:
        """The queue, open (with its schema); closed again on the way out.

        Args:
            create: a missing SQLite file is made (else refused). A PostgreSQL database is
                never made, and must have the schema already (``webhook-kit schema``).
            notice: told, at once, that a file was made. Without one, a line on stderr says
                so once the work is done; and if the work fails, the new file is removed again.

        Raises:
            click.ClickException: no such SQLite file, or the ``postgres`` extra missing.
            QueueStorageError: the queue cannot be opened or reached, or has no schema.
        """
        ...

    async def apply_schema(self) -> str:
        """Create or migrate the queue's schema; return the line that says what was done."""
        ...


def _tell(message: str) -> None:
    click.echo(message, err=True)


@dataclass(frozen=True)
class SQLiteTarget:
    """A SQLite queue file (``--db FILE`` or ``--queue sqlite:///FILE``).

    Attributes:
        db: the file.
        url: the ``--queue`` URL it was given as, if it was.
        given: whether the person named it (``False``: ``--db`` at its default).
    """

    db: Path
    url: str | None = None
    given: bool = True

    @property
    def label(self) -> str:
        """How messages name the queue: the file as given."""
        return str(self.db)

    @property
    def option(self) -> str:
        """The option the person gave the queue with: ``--queue`` or ``--db``."""
        return "--db" if self.url is None else "--queue"

    @property
    def args(self) -> str:
        """The option another command needs to reach this queue (``""`` for the default), as
        the person gave it."""
        if self.url is not None:
            return f" --queue {self.url}"
        return "" if self.db == DEFAULT_DB else f" --db {self.db}"

    @property
    def heading(self) -> str:
        """The file's whole path and its schema's version (opening it brought the schema up
        to this release's)."""
        from ..queues.sqlite_schema import SCHEMA_VERSION

        return f"queue {self.db.resolve()} (schema version {SCHEMA_VERSION})"

    @contextlib.asynccontextmanager
    async def opened(
        self, *, create: bool, notice: Notice | None = None
    ) -> AsyncIterator[CommandQueue]:
        """The queue in the file, open; see `QueueTarget.opened`."""
        notices: list[str] = []
        queue = self._open(create=create, notice=notice or notices.append)
        try:
            yield queue
        except BaseException:
            queue.close()
            if notices:  # made for a command that then failed: nothing is left half-done
                _remove_queue_files(self.db)
            raise
        queue.close()
        for line in notices:
            _tell(line)

    def _open(self, *, create: bool, notice: Notice) -> SQLiteQueue:
        from ..queues.sqlite import SQLiteQueue

        if self.db.exists():
            return SQLiteQueue(self.db)
        if not create:
            fix = f"or check {self.option}" if self.given else "or pass --db"
            raise click.ClickException(
                f"no queue at {self.db}: dispatch something first (webhook-kit send …) {fix}"
            )
        queue = SQLiteQueue(self.db)
        given_as = (
            f"as given to {self.option}" if self.given else "the default, as --db was not given"
        )
        notice(f"created a new, empty queue at {self.db} (no file was there; {given_as})")
        return queue

    async def apply_schema(self) -> str:
        """Create the file with the schema, or migrate the one there; say which version."""
        from ..queues.sqlite_schema import SCHEMA_VERSION

        found = _sqlite_version(self.db)
        # Making the file is what this command is for: no notice that it was made.
        self._open(create=True, notice=lambda _: None).close()
        if found is None:
            return (
                f"created the queue file {self.label} with the schema (version {SCHEMA_VERSION})"
            )
        if found == SCHEMA_VERSION:
            return (
                f"the queue file {self.label} has the schema: version {SCHEMA_VERSION}, up to date"
            )
        if found == 0:
            return f"applied the schema to {self.label} (version {SCHEMA_VERSION})"
        return (
            f"migrated the queue file {self.label} from schema version {found} to {SCHEMA_VERSION}"
        )


def _sqlite_version(db: Path) -> int | None:
    """The schema version of the queue file ``db`` before it is opened (``None``: no file).

    Read without writing anything: a file that is not a queue is refused by `SQLiteQueue`
    afterwards, as it is untouched.
    """
    if not db.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0  # SQLiteQueue says what is wrong with it
    try:
        version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        connection.close()
    return version


def _remove_queue_files(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


POSTGRES_EXTRA_HINT = (
    "a PostgreSQL queue needs the postgres extra (psycopg): pip install 'webhook-kit[postgres]'"
)


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database (``--queue postgresql://…``); ``url`` keeps its credentials."""

    url: str

    @property
    def label(self) -> str:
        """How messages name the queue: the URL without credentials or query."""
        from ..url_masking import masked_url

        return masked_url(self.url)

    @property
    def args(self) -> str:
        """The option another command needs to reach this queue (credentials left out)."""
        return f" --queue {self.label}"

    @property
    def heading(self) -> str:
        """The database, without credentials."""
        return f"queue {self.label} (PostgreSQL)"

    def _queue(self) -> PostgresQueue:
        try:
            from ..queues.postgres import PostgresQueue

            return PostgresQueue(self.url)
        except ImportError:  # MissingDependencyError is one too
            raise click.ClickException(POSTGRES_EXTRA_HINT) from None

    @contextlib.asynccontextmanager
    async def opened(
        self, *, create: bool, notice: Notice | None = None
    ) -> AsyncIterator[CommandQueue]:
        """The queue in the database, open; see `QueueTarget.opened` (``create`` and
        ``notice`` do not apply: a database is never made).

        Raises:
            click.ClickException: the database has no webhook-kit schema, or an older one
                (said before any work starts: a worker would fail at its first claim).
        """
        from ..queues.postgres_schema import SCHEMA_VERSION

        async with self._queue() as queue:
            found = await queue.schema_version()
            fix = f"webhook-kit schema --queue {self.label}"
            if found == 0:
                raise click.ClickException(
                    f"the PostgreSQL database {self.label} has no webhook-kit schema: "
                    f"apply it first with {fix}"
                )
            if found < SCHEMA_VERSION:
                raise click.ClickException(
                    f"the webhook-kit schema in {self.label} is version {found}, this release "
                    f"needs {SCHEMA_VERSION}: migrate it with {fix}"
                )
            yield queue

    async def apply_schema(self) -> str:
        """Apply the schema's migrations the database lacks; say which version it has."""
        from ..queues.postgres_schema import SCHEMA_VERSION

        async with self._queue() as queue:
            found = await queue.apply_schema()
        if found == SCHEMA_VERSION:
            return f"the schema in {self.label} is up to date (version {SCHEMA_VERSION})"
        if found == 0:
            return f"applied the schema to {self.label} (version {SCHEMA_VERSION})"
        return f"migrated the schema in {self.label} from version {found} to {SCHEMA_VERSION}"
