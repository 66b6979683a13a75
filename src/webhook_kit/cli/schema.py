"""``webhook-kit schema``: create a PostgreSQL queue's tables, once per database (repeatable)."""

from __future__ import annotations

import asyncio

import click

from .app import cli, person_errors
from .options import (
    URL_FORMS,
    PostgresTarget,
    QueueTarget,
    has_postgres_schema,
    open_queue,
    opened_postgres,
    queue_target,
)


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
    """Create a PostgreSQL queue's tables (procrastinate's, webhook-kit's); safe to repeat.

    Run it once per PostgreSQL database, before the first `send` or `worker`; running it again
    (at every deploy, say) changes nothing. A SQLite file gets its schema when a command opens
    it: for one, this creates the file if it is missing.
    """
    target = queue_target(queue_url, click.get_current_context())
    click.echo(asyncio.run(_apply(target)))


async def _apply(target: QueueTarget) -> str:
    if not isinstance(target, PostgresTarget):
        from ..queues.sqlite_schema import SCHEMA_VERSION

        # Making the file is what this command is for: no notice that it was made.
        open_queue(target, create=True, notice=lambda _: None).close()
        return f"the queue file {target.label} has the schema (version {SCHEMA_VERSION})"
    async with opened_postgres(target, require_schema=False) as queue:
        already = await has_postgres_schema(queue, target)
        await queue.apply_schema()
    if already:
        return f"the schema in {target.label} was already applied: it is up to date"
    return f"applied the schema to {target.label}: procrastinate's tables and webhook-kit's"
