"""``webhook-kit schema``: create or migrate a queue's schema (repeatable: safe at each deploy)."""

from __future__ import annotations

import asyncio

import click

from .app import cli, person_errors
from .options import URL_FORMS, queue_target


@cli.command()
@click.option(
    "--queue",
    "queue_url",
    metavar="URL",
    required=True,
    help=f"The queue: {URL_FORMS}.",
)
@person_errors
def schema(queue_url: str) -> None:
    """Create the queue's tables, or migrate them to this release's version; safe to repeat.

    Run it once per PostgreSQL database, before the first `send` or `worker`, and at each
    upgrade; running it again (at every deploy, say) changes nothing. A SQLite file gets its
    schema whenever a command opens it: for one, this creates the file if it is missing, or
    migrates it, and says which version it has.
    """
    target = queue_target(queue_url, click.get_current_context())
    click.echo(asyncio.run(target.apply_schema()))
