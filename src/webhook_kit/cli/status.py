"""``webhook-kit status``: what a SQLite queue holds, state by state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from .app import cli, person_errors
from .display import printable, utc_iso
from .options import db_option, open_queue

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ..queues.sqlite import SQLiteQueue


@cli.command()
@db_option
@person_errors
def status(db: Path) -> None:
    """Show the queue's depth: pending (and due now), in flight, delivered, dead."""
    from .display import make_console

    queue = open_queue(db, create=False)
    try:
        sections = asyncio.run(_sections(queue))
    finally:
        queue.close()
    console = make_console()
    for section in sections:
        console.print(section)


async def _sections(queue: SQLiteQueue) -> list[RenderableType]:
    """Everything ``status`` shows, section by section: the queue, then unhealthy endpoints."""
    return [await _queue_depth(queue), await _endpoints(queue)]


async def _endpoints(queue: SQLiteQueue) -> RenderableType:
    from rich.text import Text

    records = [r for r in await queue.endpoint_records() if r.state != "healthy"]
    if not records:
        return Text("endpoints: none paused or disabled")
    lines = [f"endpoints paused or disabled: {len(records)}"]
    for record in records:
        probe = f", probed again at {utc_iso(record.probe_at)}" if record.probe_at else ""
        reason = printable(record.reason, limit=120)
        lines.append(f"  {record.state:<9} {printable(record.endpoint)}: {reason}{probe}")
    lines.append("  (webhook-kit endpoints list; webhook-kit endpoints enable URL)")
    return Text("\n".join(lines))


async def _queue_depth(queue: SQLiteQueue) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ..queues.sqlite_schema import SCHEMA_VERSION
    from .app import DEFAULT_DB

    counts = await queue.counts()
    dlq_list = "webhook-kit dlq list" + ("" if queue.path == DEFAULT_DB else f" --db {queue.path}")
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column(justify="right")
    table.add_column(style="dim")
    table.add_row("  pending", str(counts.pending), "waiting for a first attempt or a retry")
    table.add_row("    due now", str(counts.due), "to be attempted as soon as a worker can")
    table.add_row("  in flight", str(counts.in_flight), "being attempted by a worker")
    table.add_row(
        "  delivered", str(counts.delivered), "kept for the retention period, then pruned"
    )
    table.add_row("  dead", str(counts.dead), f"see {dlq_list}" if counts.dead else "")
    # Opening the queue brought its schema up to this release's version.
    heading = Text(f"queue {queue.path.resolve()} (schema version {SCHEMA_VERSION})")
    return Group(heading, table)
