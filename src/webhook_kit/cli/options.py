"""Options shared by commands, and the one place a command's queue is opened.

A command that uses a queue takes ``--db FILE`` (a SQLite queue file) and ``--queue URL``:

- ``postgresql://…`` or ``postgres://…``: a PostgreSQL database, through procrastinate (extra
  ``postgres``, imported only when such a URL is given);
- ``sqlite:///path/to/file``: exactly ``--db path/to/file`` (``sqlite:////abs/path`` for an
  absolute path).

`queue_options` adds both options to a command and hands it one `QueueTarget` instead (a
`SQLiteTarget` or a `PostgresTarget`); `opened_queue` and `run_on_queue` open it, whichever kind
it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import click
from click.core import ParameterSource

from .app import DEFAULT_DB

if TYPE_CHECKING:
    from ..queues.procrastinate import ProcrastinateQueue
    from ..queues.sqlite import SQLiteQueue

    CommandQueue: TypeAlias = SQLiteQueue | ProcrastinateQueue
    """A queue a command opened: a SQLite file, or a PostgreSQL database."""

__all__ = [
    "POSTGRES_EXTRA_HINT",
    "PostgresTarget",
    "QueueTarget",
    "SQLiteTarget",
    "db_option",
    "has_postgres_schema",
    "open_queue",
    "opened_postgres",
    "opened_queue",
    "postgres_queue",
    "queue_options",
    "queue_target",
    "run_on_queue",
    "sqlite_target",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_PREFIX = "sqlite:///"
URL_FORMS = "postgresql://…, postgres://… or sqlite:///FILE"

POSTGRES_EXTRA_HINT = (
    "a PostgreSQL queue needs the postgres extra (procrastinate, psycopg): "
    "pip install 'webhook-kit[postgres]'"
)

_DB_TYPE = click.Path(dir_okay=False, path_type=Path)

db_option = click.option(
    "--db",
    "db",
    type=_DB_TYPE,
    default=DEFAULT_DB,
    show_default=True,
    help="The SQLite queue file.",
)

_queue_url_option = click.option(
    "--queue",
    "queue_url",
    metavar="URL",
    default=None,
    help="The queue as a URL instead of --db: postgresql://… for PostgreSQL, or sqlite:///FILE.",
)


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


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database (``--queue postgresql://…``); ``url`` keeps its credentials."""

    url: str

    @property
    def label(self) -> str:
        """How messages name the queue: the URL without credentials or query."""
        from ..events import masked_url

        return masked_url(self.url)

    @property
    def args(self) -> str:
        """The option another command needs to reach this queue (credentials left out)."""
        return f" --queue {self.label}"


QueueTarget: TypeAlias = SQLiteTarget | PostgresTarget
"""The queue a command works on."""


def queue_target(url: str, ctx: click.Context | None = None) -> QueueTarget:
    """The queue ``--queue URL`` names.

    Raises:
        click.BadParameter: not a PostgreSQL or SQLite URL, or a SQLite URL without a file or
            with a directory's path. The URL itself is never repeated: it may hold a password.
    """
    lowered = url.lower()
    if lowered.startswith(POSTGRES_SCHEMES):
        return PostgresTarget(url)
    if lowered.startswith("sqlite:"):
        if not lowered.startswith(SQLITE_PREFIX):
            raise click.BadParameter(
                "a SQLite queue URL is sqlite:///relative/path or sqlite:////absolute/path",
                param_hint="--queue",
            )
        path = url[len(SQLITE_PREFIX) :]
        if not path:
            raise click.BadParameter(
                "sqlite:/// names no file: sqlite:///path/to/queue.sqlite3",
                param_hint="--queue",
            )
        try:
            return SQLiteTarget(_DB_TYPE.convert(path, None, ctx), url=url)
        except click.BadParameter as exc:
            raise click.BadParameter(exc.message, ctx=ctx, param_hint="--queue") from None
    scheme, separator, _ = url.partition("://")
    if separator and scheme and scheme.replace("+", "").replace("-", "").isalnum():
        problem = f"unknown queue URL scheme {scheme!r}"
    else:
        problem = "not a queue URL"
    raise click.BadParameter(f"{problem}: give {URL_FORMS}", ctx=ctx, param_hint="--queue")


def queue_options(command: F) -> F:
    """Add ``--db`` and ``--queue`` to ``command``, which gets one ``target: QueueTarget``.

    Giving both is a usage error (``--db`` at its default does not count as given).
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        db: Path = kwargs.pop("db")
        url: str | None = kwargs.pop("queue_url")
        ctx = click.get_current_context()
        if url is None:
            kwargs["target"] = sqlite_target(db, ctx)
        elif ctx.get_parameter_source("db") not in (None, ParameterSource.DEFAULT):
            raise click.UsageError("give --queue URL or --db FILE, not both", ctx=ctx)
        else:
            kwargs["target"] = queue_target(url, ctx)
        return command(*args, **kwargs)

    return db_option(_queue_url_option(wrapper))  # type: ignore[return-value]


def sqlite_target(db: Path, ctx: click.Context) -> SQLiteTarget:
    """The queue ``--db`` names in ``ctx``'s command (given, or at its default)."""
    source = ctx.get_parameter_source("db")
    return SQLiteTarget(db, given=source not in (None, ParameterSource.DEFAULT))


def _tell(message: str) -> None:
    click.echo(message, err=True)


def open_queue(
    target: SQLiteTarget, *, create: bool, notice: Callable[[str], None] = _tell
) -> SQLiteQueue:
    """Open the SQLite queue of ``target``.

    A missing file is refused unless ``create``; when it is created, ``notice`` (by default, a
    line on stderr) is told so, once: a typo in a path must not pass for an empty queue.

    Raises:
        click.ClickException: no such file, and not ``create``. The message names the option
            the queue was given with (``--db`` or ``--queue``).
    """
    from ..queues.sqlite import SQLiteQueue

    db = target.db
    if db.exists():
        return SQLiteQueue(db)
    if not create:
        fix = f"or check {target.option}" if target.given else "or pass --db"
        raise click.ClickException(
            f"no queue at {db}: dispatch something first (webhook-kit send …) {fix}"
        )
    queue = SQLiteQueue(db)
    notice(f"created a new, empty queue at {db} (no file was there; {_given_as(target)})")
    return queue


def _given_as(target: SQLiteTarget) -> str:
    if not target.given:
        return "the default, as --db was not given"
    return f"as given to {target.option}"


def postgres_queue(url: str) -> ProcrastinateQueue:
    """A `ProcrastinateQueue` on ``url`` (not opened yet).

    Raises:
        click.ClickException: the ``postgres`` extra is not installed.
    """
    try:
        from ..queues.procrastinate import ProcrastinateQueue
    except ImportError:  # MissingDependencyError is one too
        raise click.ClickException(POSTGRES_EXTRA_HINT) from None
    return ProcrastinateQueue(url)


_SCHEMA_PRESENT = (
    "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
    " AND to_regclass('webhook_kit_attempts') IS NOT NULL"
    " AND to_regclass('webhook_kit_dead_letters') IS NOT NULL AS present"
)


async def has_postgres_schema(queue: ProcrastinateQueue, target: PostgresTarget) -> bool:
    """Whether the database holds procrastinate's tables and webhook-kit's.

    Raises:
        QueueDatabaseError: the database failed to answer.
    """
    from procrastinate.exceptions import ConnectorException

    from ..queues.procrastinate import QueueDatabaseError

    try:
        row = await queue.app.connector.execute_query_one_async(_SCHEMA_PRESENT)
    except (ConnectorException, OSError) as exc:
        detail = exc.__cause__ or exc  # procrastinate's own message is only "Database error."
        raise QueueDatabaseError(f"the queue database {target.label} failed: {detail}") from exc
    return bool(row["present"])


@contextlib.asynccontextmanager
async def opened_queue(target: QueueTarget, *, create: bool) -> AsyncIterator[CommandQueue]:
    """The queue of ``target``, open; closed again on the way out.

    Args:
        target: the queue.
        create: a missing SQLite file is created (else refused), and a line on stderr says
            so once the work is done; if the work fails, the new file is removed again. A
            PostgreSQL database is never created, and must have webhook-kit's schema
            (`opened_postgres`).

    Raises:
        click.ClickException: no such SQLite file, a PostgreSQL database without the schema,
            or the ``postgres`` extra missing.
        QueueStorageError: the SQLite file cannot be used.
        QueueDatabaseError: PostgreSQL cannot be reached.
    """
    if isinstance(target, PostgresTarget):
        async with opened_postgres(target) as queue:
            yield queue
        return
    notices: list[str] = []
    sqlite_queue = open_queue(target, create=create, notice=notices.append)
    try:
        yield sqlite_queue
    except BaseException:
        sqlite_queue.close()
        if notices:  # made for a command that then failed: nothing is left half-done
            _remove_queue_files(target.db)
        raise
    sqlite_queue.close()
    for notice in notices:
        _tell(notice)


def _remove_queue_files(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def opened_postgres(
    target: PostgresTarget, *, require_schema: bool = True
) -> AsyncIterator[ProcrastinateQueue]:
    """The PostgreSQL queue of ``target``, open; closed again on the way out.

    Args:
        target: the database.
        require_schema: refuse a database without webhook-kit's schema (only ``webhook-kit
            schema``, which applies it, does not).

    Raises:
        click.ClickException: no schema, or the ``postgres`` extra missing.
        QueueDatabaseError: PostgreSQL cannot be reached.
    """
    queue = postgres_queue(target.url)
    try:
        await queue.open()
        if require_schema and not await has_postgres_schema(queue, target):
            raise click.ClickException(
                f"the PostgreSQL database {target.label} has no webhook-kit schema: "
                "apply it first with webhook-kit schema --queue URL"
            )
        yield queue
    finally:
        await queue.close()


def run_on_queue(
    target: QueueTarget, work: Callable[[CommandQueue], Awaitable[T]], *, create: bool = False
) -> T:
    """Open ``target``, run ``await work(queue)``, close it; return what ``work`` returned."""

    async def run() -> T:
        async with opened_queue(target, create=create) as queue:
            return await work(queue)

    return asyncio.run(run())
