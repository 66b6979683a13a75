"""``webhook-kit status``: what a queue holds, state by state, and its unhealthy endpoints."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .app import cli, person_errors
from .display import elide_middle, printable, utc_iso, wrapped
from .options import QueueTarget, queue_options, run_on_queue

if TYPE_CHECKING:
    from rich.console import RenderableType

    from .targets import CommandQueue


@cli.command()
@queue_options
@person_errors
def status(target: QueueTarget) -> None:
    """Show the queue's depth: pending (and due now), in flight, delivered, dead; when the next
    attempt is due."""
    from rich.text import Text

    from .display import make_console

    console = make_console()
    width = console.width
    sections = run_on_queue(target, lambda queue: _sections(queue, target, width))
    for section in sections:
        # A line of plain text (the heading with the queue's path) is never wrapped or cut:
        # a path broken across lines cannot be pasted back.
        console.print(section, soft_wrap=isinstance(section, Text))


async def _sections(queue: CommandQueue, target: QueueTarget, width: int) -> list[RenderableType]:
    """Everything ``status`` shows, section by section: the queue, then unhealthy endpoints."""
    return [*await _queue_depth(queue, target), await _endpoints(queue, target, width)]


async def _endpoints(queue: CommandQueue, target: QueueTarget, width: int) -> RenderableType:
    from rich.text import Text

    records = [r for r in await queue.endpoint_records() if r.state != "healthy"]
    if not records:
        return Text("endpoints: none paused or disabled")
    lines = [f"endpoints paused or disabled: {len(records)}"]
    for record in records:
        probe = f", probed again at {utc_iso(record.probe_at)}" if record.probe_at else ""
        reason = printable(record.reason, limit=120)
        endpoint = printable(record.endpoint)
        line = f"  {record.state:<9} {endpoint}: {reason}{probe}"
        if len(line) <= width:
            lines.append(line)
            continue
        # Too wide for the terminal: the endpoint on its own line (elided in the middle only
        # if it cannot fit whole), the reason wrapped under it.
        lines.append(f"  {record.state:<9} {elide_middle(endpoint, width - 12)}")
        lines.extend(wrapped(f"{reason}{probe}", width, 12))
    listing, enabling = (
        f"webhook-kit endpoints {verb}{target.args}" for verb in ("list", "enable URL")
    )
    hint = f"  ({listing}; {enabling})"
    # Commands are never cut: two lines if one is too narrow for both.
    lines.extend([hint] if len(hint) <= width else [f"  ({listing};", f"   {enabling})"])
    return Text("\n".join(lines))


async def _queue_depth(queue: CommandQueue, target: QueueTarget) -> list[RenderableType]:
    from rich.table import Table
    from rich.text import Text

    counts = await queue.counts()
    dlq_list = f"webhook-kit dlq list{target.args}"
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
    due = await queue.next_attempt_due()
    return [Text(target.heading), table, Text(next_attempt_line(due, time.time()))]


def next_attempt_line(due: float | None, now: float) -> str:
    """When the next attempt is due, for ``status``: now, at a time (and in how long), or none.

    ``now`` is the system clock, which is the queues' clock.
    """
    if due is None:
        return "  next attempt: none pending"
    if due <= now:
        return "  next attempt: due now"
    return f"  next attempt: due {utc_iso(due)} (in {duration(due - now)})"


def duration(seconds: float) -> str:
    """A wait as a person says it, to the second: ``45s``, ``4m 30s``, ``2h 5m``, ``3d 4h``."""
    whole = max(int(seconds + 0.5), 1)
    for size, unit, smaller, small_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m")):
        if whole >= size:
            rest = (whole % size) // smaller
            return f"{whole // size}{unit}" + (f" {rest}{small_unit}" if rest else "")
    minutes, secs = divmod(whole, 60)
    if minutes:
        return f"{minutes}m" + (f" {secs}s" if secs else "")
    return f"{secs}s"
