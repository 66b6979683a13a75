"""Options shared by commands, and the one place a command's queue is opened.

A command that uses a queue takes ``--db FILE`` (a SQLite queue file) and ``--queue URL``:

- ``postgresql://…`` or ``postgres://…``: a PostgreSQL database (`PostgresQueue`, extra
  ``postgres``, imported only when such a URL is given);
- ``sqlite:///path/to/file``: exactly ``--db path/to/file`` (``sqlite:////abs/path`` for an
  absolute path).

`queue_options` adds both options to a command and hands it one `QueueTarget` instead (see
`webhook_kit.cli.targets`), which knows how to open itself; `run_on_queue` opens it, and the
command works through the queue protocol only, whichever kind it is.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from .app import DEFAULT_DB
from .targets import PostgresTarget, QueueTarget, SQLiteTarget

if TYPE_CHECKING:
    from .targets import CommandQueue

__all__ = [
    "QueueTarget",
    "db_option",
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


def run_on_queue(
    target: QueueTarget, work: Callable[[CommandQueue], Awaitable[T]], *, create: bool = False
) -> T:
    """Open ``target``, run ``await work(queue)``, close it; return what ``work`` returned."""

    async def run() -> T:
        async with target.opened(create=create) as queue:
            return await work(queue)

    return asyncio.run(run())
