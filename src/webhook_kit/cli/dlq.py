"""``webhook-kit dlq``: the dead letters of a queue — list them, show one, redrive.

A delivery id may be shortened to a unique prefix of at least `MIN_PREFIX` characters, as
with git's commit hashes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import click

from .app import cli, person_errors
from .display import elide_middle, make_console, printable, utc_iso, wrapped
from .options import QueueTarget, queue_options, run_on_queue

if TYPE_CHECKING:
    from rich.console import JustifyMethod, RenderableType

    from ..outcomes import AttemptRecord, DeadLetterRecord
    from .targets import CommandQueue

MIN_PREFIX = 4
"""The shortest id prefix accepted for a delivery id."""

REASON_WIDTH = 60
"""Characters of a reason shown in ``dlq list`` (``dlq show`` shows all of it)."""

EXCERPT_CHARS = 2000
"""Characters of the last response shown by ``dlq show``."""

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float, *, option: str = "--since") -> float:
    """``--since`` (or ``--before``): ISO-8601 (UTC unless it has an offset) or an age such as
    ``30m``, ``2d`` (that long before ``now``).

    Raises:
        click.BadParameter: neither; it names ``option``.
    """
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative is not None:
        return now - float(relative.group(1)) * _UNITS[relative.group(2).lower()]
    iso = value[:-1] + "+00:00" if value[-1:] in ("z", "Z") else value
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither an ISO-8601 time (2026-11-28T10:00:00Z) nor an age "
            "(90s, 30m, 1h, 2d, 1w)",
            param_hint=option,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


async def _find(queue: CommandQueue, given: str, target: QueueTarget) -> DeadLetterRecord:
    """The dead letter ``given`` names (its id or a unique prefix of it).

    Raises:
        click.ClickException: none, or several.
    """
    from ..queues.protocol import UnknownDeliveryError

    letters = await queue.list_dead_letters()
    for letter in letters:
        if letter.id == given:
            return letter
    wanted = given.strip().lower()
    if len(wanted) >= MIN_PREFIX:
        matches = [letter for letter in letters if letter.id.lower().startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise click.ClickException(
                f"{printable(given)} is the start of {len(matches)} dead letters' ids: "
                "give more of it"
            )
    try:
        await queue.history(given)
    except UnknownDeliveryError:
        raise click.ClickException(
            f"no dead letter with id {printable(given)} in {target.label}"
        ) from None
    raise click.ClickException(
        f"delivery {printable(given)} is not dead-lettered (it is pending, in flight, "
        "delivered or already redriven)"
    )


def _host(url: str) -> str:
    from ..url_masking import masked_parts

    return masked_parts(url).host


@cli.group()
def dlq() -> None:
    """Dead letters: list them, show one's attempts, send them again (redrive), purge."""


@dlq.command("list")
@click.option("--full-ids", is_flag=True, help="Show whole ids instead of unique prefixes.")
@queue_options
@person_errors
def list_dead_letters(full_ids: bool, target: QueueTarget) -> None:
    """List the dead letters, oldest first.

    Ids are shown as their shortest unique prefix (at least 8 characters), which `dlq show`
    and `dlq redrive` accept; --full-ids shows them whole.
    """
    from rich.table import Table
    from rich.text import Text

    letters = run_on_queue(target, lambda queue: queue.list_dead_letters())
    console = make_console()
    if not letters:
        console.print(f"no dead letters in {target.label}", soft_wrap=True)
        return
    ids = [letter.id for letter in letters]
    rows = [
        (
            printable(shown_id),
            printable(letter.event.event),
            printable(_host(letter.event.target_url)),
            str(letter.attempts),
            utc_iso(letter.dead_at),
            printable(letter.reason),
        )
        for letter, shown_id in zip(
            letters, ids if full_ids else unique_prefixes(ids), strict=True
        )
    ]
    title = f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'} in {target.label}"
    if not _fits_on_one_line(rows, console.width):
        # The title as the table's: never wrapped (a path broken across lines cannot be
        # pasted back).
        console.print(Text(title, no_wrap=True, overflow="ignore"))
        for line in _narrow_rows(rows, console.width):
            console.print(line, highlight=False, markup=False)
        return
    widths = _column_widths(rows, console.width)
    table = Table(
        # Never wrapped: a path broken across lines cannot be pasted back.
        title=Text(title, no_wrap=True, overflow="ignore"),
        title_justify="left",
        box=None,
        padding=(0, 1),
        pad_edge=False,
        header_style="bold",
    )
    for name, width in zip(_LIST_COLUMNS, widths, strict=True):
        justify: JustifyMethod = "right" if name == "attempts" else "left"
        table.add_column(name, width=width, no_wrap=True, justify=justify)
    for row in rows:
        table.add_row(*(_cut(cell, width) for cell, width in zip(row, widths, strict=True)))
    console.print(table)


_LIST_COLUMNS = ("id", "event", "target host", "attempts", "dead at (UTC)", "reason")
# The columns that give way when the terminal is narrow (the others are never cut), the
# narrowest each may become, and the widest each gets.
_FLEXIBLE = {1: (10, 40), 2: (9, 40), 5: (15, REASON_WIDTH)}


def _column_widths(rows: Sequence[tuple[str, ...]], width: int) -> list[int]:
    """Each column's width: its widest cell or header, the flexible ones cut to fit ``width``."""
    widths = [
        max(len(name), *(len(row[index]) for row in rows))
        for index, name in enumerate(_LIST_COLUMNS)
    ]
    for index, (_, widest) in _FLEXIBLE.items():
        widths[index] = min(widths[index], widest)
    room = width - 2 * (len(widths) - 1)  # two spaces between columns
    while sum(widths) > room:
        shrinkable = [i for i, (least, _) in _FLEXIBLE.items() if widths[i] > least]
        if not shrinkable:
            break  # a very narrow terminal: rows will be cut by the terminal
        widths[max(shrinkable, key=lambda i: widths[i])] -= 1
    return widths


NARROW_REASON = 30
"""A reason column narrower than this is unreadable: then each reason goes under its row."""

NARROW_REASON_CHARS = 140
"""Characters of a reason shown under its row (``dlq show`` shows all of it)."""


def _fits_on_one_line(rows: Sequence[tuple[str, ...]], width: int) -> bool:
    """Whether the table fits ``width`` with a reason column of at least `NARROW_REASON`."""
    widths = _column_widths(rows, width)
    return widths[5] >= min(NARROW_REASON, max(len(row[5]) for row in rows)) and (
        sum(widths) + 2 * (len(widths) - 1) <= width
    )


def _narrow_rows(rows: Sequence[tuple[str, ...]], width: int) -> list[str]:
    """The dead letters for a narrow terminal: id, event, host, attempts and time on one line
    (event and host elided in the middle to fit), the reason wrapped under it in one column."""
    id_width = max(len("id"), *(len(row[0]) for row in rows))
    fixed = id_width + len("attempts") + 20 + 4 * 2  # a time is 20 characters
    room = max(width - fixed, 2 * 8)
    event_width = min(max(len("event"), *(len(row[1]) for row in rows)), max(room // 2, 8))
    host_width = min(max(len("target host"), *(len(row[2]) for row in rows)), room - event_width)
    indent = id_width + 2

    def line(cells: tuple[str, str, str, str, str]) -> str:
        ident, event, host, attempts, dead_at = cells
        return "  ".join(
            [
                ident.ljust(id_width),
                elide_middle(event, event_width).ljust(event_width),
                elide_middle(host, host_width).ljust(host_width),
                attempts.rjust(len("attempts")),
                dead_at,
            ]
        )

    lines = [line(("id", "event", "target host", "attempts", "dead at (UTC)"))]
    for row in rows:
        lines.append(line((row[0], row[1], row[2], row[3], row[4])))
        lines.extend(wrapped(_cut(row[5], NARROW_REASON_CHARS), width, indent))
    return lines


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def unique_prefixes(ids: list[str], minimum: int = 8) -> list[str]:
    """The ids cut to one length, the shortest (at least ``minimum``) that keeps them apart."""
    length = minimum
    longest = max((len(delivery_id) for delivery_id in ids), default=0)
    while length < longest and len({delivery_id[:length] for delivery_id in ids}) < len(set(ids)):
        length += 1
    return [delivery_id[:length] for delivery_id in ids]


@dlq.command("show")
@click.argument("delivery_id", metavar="ID")
@queue_options
@person_errors
def show(delivery_id: str, target: QueueTarget) -> None:
    """Show a dead letter's attempts as a timeline, its reason and the last response."""

    async def load(queue: CommandQueue) -> tuple[DeadLetterRecord, list[AttemptRecord]]:
        letter = await _find(queue, delivery_id, target)
        return letter, await queue.history(letter.id)

    letter, attempts = run_on_queue(target, load)
    console = make_console()
    for renderable in _details(letter, attempts):
        console.print(renderable, soft_wrap=True)


def _details(letter: DeadLetterRecord, attempts: list[AttemptRecord]) -> list[RenderableType]:
    from rich.table import Table
    from rich.text import Text

    from ..events import masked_url

    event = letter.event
    heading = Table.grid(padding=(0, 2))
    heading.add_column(style="bold")
    heading.add_column()
    heading.add_row("dead letter", printable(letter.id))
    heading.add_row("event", printable(event.event))
    heading.add_row("target", printable(masked_url(event.target_url)))
    heading.add_row("dispatched", utc_iso(event.created_at, milliseconds=True))
    shown: list[RenderableType] = [heading]
    if attempts:
        shown.append(timeline(attempts))
    else:
        shown.append(Text("no attempts recorded"))
    times = f"{letter.attempts} attempt{'' if letter.attempts == 1 else 's'}"
    shown.append(Text(f"dead-lettered {utc_iso(letter.dead_at, milliseconds=True)} after {times}"))
    shown.append(Text(f"reason: {printable(letter.reason)}"))
    excerpt = letter.response_excerpt
    if excerpt:
        more = len(excerpt) - EXCERPT_CHARS
        title = "last response" + (f" (first {EXCERPT_CHARS} characters)" if more > 0 else "")
        body = printable(excerpt[:EXCERPT_CHARS], multiline=True)
        shown.append(Text(f"{title}:\n" + "\n".join(f"  {line}" for line in body.splitlines())))
    else:
        shown.append(Text("last response: (empty)"))
    return shown


def timeline(attempts: list[AttemptRecord]) -> RenderableType:
    """A delivery's attempts as a table: number, time, time since the first, answer, latency
    and outcome."""
    from rich.table import Table

    first = attempts[0].started_at
    table = Table(title="attempts", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("since first", justify="right", no_wrap=True)
    table.add_column("answer", overflow="fold")
    table.add_column("latency", justify="right", no_wrap=True)
    table.add_column("outcome")
    for attempt in attempts:
        if attempt.status is not None:
            answer = str(attempt.status)
        else:
            answer = printable(attempt.error or "no answer", limit=80)
        table.add_row(
            str(attempt.attempt),
            utc_iso(attempt.started_at, milliseconds=True),
            f"+{attempt.started_at - first:.3f}s",
            answer,
            f"{attempt.latency * 1000:.0f} ms",
            attempt.outcome,
        )
    return table


@dlq.command("redrive")
@click.argument("delivery_id", metavar="[ID]", required=False)
@click.option(
    "--since",
    metavar="TIME",
    help="Redrive every dead letter dead-lettered since TIME: ISO-8601 "
    "(2026-11-28T10:00:00Z; UTC without an offset) or an age (90s, 30m, 1h, 2d, 1w).",
)
@queue_options
@person_errors
def redrive(delivery_id: str | None, since: str | None, target: QueueTarget) -> None:
    """Send dead letters again: ID, or all since --since. Same id and body, fresh attempts.

    They are due at once; a worker (webhook-kit worker) delivers them.
    """
    if delivery_id is not None and since is not None:
        raise click.UsageError("give the ID of a dead letter or --since TIME, not both")
    console = make_console()
    if delivery_id is not None:
        given = delivery_id

        async def redrive_one(queue: CommandQueue) -> DeadLetterRecord:
            letter = await _find(queue, given, target)
            await queue.redrive(letter.id)
            return letter

        letter = run_on_queue(target, redrive_one)
        console.print(
            f"redrove 1 dead letter: {printable(letter.id)} ({printable(letter.event.event)}), "
            "due now",
            soft_wrap=True,
        )
        return
    if since is None:
        raise click.UsageError("give the ID of a dead letter, or --since TIME")
    cutoff = parse_since(since, time.time())  # the queue's clock is the system clock
    count = run_on_queue(target, lambda queue: queue.redrive_since(cutoff))
    console.print(
        f"redrove {count} dead letter{'' if count == 1 else 's'} "
        f"(dead-lettered since {utc_iso(cutoff)})",
        soft_wrap=True,
    )


@dlq.command("purge")
@click.option(
    "--before",
    metavar="TIME",
    help="Only the dead letters dead-lettered before TIME: ISO-8601 (2026-11-28T10:00:00Z; UTC "
    "without an offset) or an age (30d: those older than 30 days). Default: all.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@queue_options
@person_errors
def purge(before: str | None, yes: bool, target: QueueTarget) -> None:
    """Delete dead letters for good, with their attempts; asks first (--yes does not).

    Only dead letters are deleted: pending, in-flight and delivered deliveries stay.
    """
    cutoff = None if before is None else parse_since(before, time.time(), option="--before")

    async def count(queue: CommandQueue) -> int:
        letters = await queue.list_dead_letters()
        return sum(cutoff is None or letter.dead_at < cutoff for letter in letters)

    which = "" if cutoff is None else f" dead-lettered before {utc_iso(cutoff)}"
    console = make_console()
    found = run_on_queue(target, count)
    if not found:
        console.print(
            f"no dead letters{which} in {target.label}: nothing to purge", soft_wrap=True
        )
        return
    plural = "" if found == 1 else "s"
    if not yes:
        click.confirm(
            f"delete {found} dead letter{plural}{which} from {target.label} for good "
            "(their attempts too)?",
            abort=True,
        )
    purged = run_on_queue(target, lambda queue: queue.purge_dead_letters(cutoff))
    console.print(
        f"purged {purged} dead letter{'' if purged == 1 else 's'}{which}", soft_wrap=True
    )
