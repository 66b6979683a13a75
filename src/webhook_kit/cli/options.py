"""Options shared by commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .app import DEFAULT_DB

if TYPE_CHECKING:
    from ..queues.sqlite import SQLiteQueue

__all__ = ["db_option", "open_queue"]

db_option = click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="The SQLite queue file.",
)


def open_queue(db: Path, *, create: bool) -> SQLiteQueue:
    """Open the SQLite queue at ``db``; refuse a missing file unless ``create``."""
    from ..queues.sqlite import SQLiteQueue

    if not create and not db.exists():
        raise click.ClickException(
            f"no queue at {db}: dispatch something first (webhook-kit send …) or pass --db"
        )
    return SQLiteQueue(db)
