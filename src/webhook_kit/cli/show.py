"""``webhook-kit show ID``: one delivery, whatever its state — where it is, and its attempts.

``dlq show`` is for dead letters; this is for any delivery: pending (and when its next attempt
is due), in flight, delivered or dead. The id may be shortened to a unique prefix of at least
`MIN_PREFIX` characters, as in ``dlq``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from .app import cli, person_errors
from .display import make_console, printable, utc_iso
from .dlq import MIN_PREFIX, timeline
from .options import QueueTarget, queue_options, run_on_queue
from .status import duration

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ..outcomes import AttemptRecord, DeadLetterRecord
    from ..queues.protocol import DeliveryState
    from .targets import CommandQueue

__all__ = ["show"]


@cli.command()
@click.argument("delivery_id", metavar="ID")
@queue_options
@person_errors
def show(delivery_id: str, target: QueueTarget) -> None:
    """Show one delivery in any state: where it is, when its next attempt is due, its attempts.

    ID is a delivery id (what `send` printed) or a unique prefix of one, at least 4 characters.
    """

    async def load(
        queue: CommandQueue,
    ) -> tuple[DeliveryState, list[AttemptRecord], DeadLetterRecord | None]:
        found = await _find(queue, delivery_id, target)
        attempts = await queue.history(found.event.id)
        letter = None
        if found.state == "dead":
            letters = await queue.list_dead_letters()
            letter = next((d for d in letters if d.id == found.event.id), None)
        return found, attempts, letter

    found, attempts, letter = run_on_queue(target, load)
    console = make_console()
    for renderable in _details(found, attempts, letter, target, time.time()):
        console.print(renderable, soft_wrap=True)


async def _find(queue: CommandQueue, given: str, target: QueueTarget) -> DeliveryState:
    """The delivery ``given`` names (its id, or a unique prefix of at least `MIN_PREFIX`).

    Raises:
        click.ClickException: none, or several.
    """
    wanted = given.strip()
    matches = await queue.find_deliveries(wanted, limit=2) if wanted else []
    exact = [match for match in matches if match.event.id == wanted]
    if exact:
        return exact[0]
    if matches and len(wanted) < MIN_PREFIX:
        raise click.ClickException(
            f"{printable(given)} is too short to name a delivery: give at least {MIN_PREFIX} "
            "characters of its id"
        )
    if len(matches) > 1:
        raise click.ClickException(
            f"{printable(given)} is the start of more than one delivery's id: give more of it"
        )
    if not matches:
        raise click.ClickException(
            f"no delivery with id {printable(given)} in {target.label} (delivered ones are "
            "pruned after the retention period)"
        )
    return matches[0]


def _state(found: DeliveryState, target: QueueTarget, now: float) -> str:
    if found.state == "pending":
        due = found.due if found.due is not None else now
        if due <= now:
            return "pending: the next attempt is due now"
        return f"pending: the next attempt is due {utc_iso(due)} (in {duration(due - now)})"
    if found.state == "in_flight":
        return "in flight: a worker is making an attempt"
    if found.state == "dead":
        return f"dead-lettered (webhook-kit dlq show {found.event.id[:8]}{target.args})"
    return printable(found.state)


def _details(
    found: DeliveryState,
    attempts: list[AttemptRecord],
    letter: DeadLetterRecord | None,
    target: QueueTarget,
    now: float,
) -> list[RenderableType]:
    from rich.table import Table
    from rich.text import Text

    from ..events import masked_url

    event = found.event
    heading = Table.grid(padding=(0, 2))
    heading.add_column(style="bold")
    heading.add_column()
    heading.add_row("delivery", printable(event.id))
    heading.add_row("event", printable(event.event))
    heading.add_row("target", printable(masked_url(event.target_url)))
    heading.add_row("dispatched", utc_iso(event.created_at, milliseconds=True))
    heading.add_row("state", _state(found, target, now))
    shown: list[RenderableType] = [heading]
    shown.append(timeline(attempts) if attempts else Text("no attempts yet"))
    if letter is not None:
        shown.append(Text(f"reason: {printable(letter.reason)}"))
    return shown
