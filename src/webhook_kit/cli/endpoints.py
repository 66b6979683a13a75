"""``webhook-kit endpoints``: endpoint health as workers recorded it — list, re-enable.

Workers record an endpoint when its state changes: paused after a run of failures, healthy
again, disabled after a 410 Gone or a long failure. ``endpoints enable URL`` records it healthy,
and every worker on the queue takes that in within a few seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from .app import cli, person_errors
from .display import elide_middle, make_console, printable, utc_iso, wrapped
from .options import QueueTarget, queue_options, run_on_queue

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ..queues.protocol import EndpointRecord
    from .targets import CommandQueue

__all__ = ["endpoint_table", "endpoints"]

# state, two times, and two spaces between each of the five columns
_FIXED_WIDTH = 8 + 20 + 20 + 4 * 2
_LEAST = 12  # the narrowest the endpoint and reason columns get
_STATE_STYLES = {"healthy": "green", "paused": "yellow", "probing": "yellow", "disabled": "red"}


def endpoint_table(
    records: Sequence[EndpointRecord], *, width: int, title: str = ""
) -> RenderableType:
    """The endpoint records as a table: endpoint, state, reason, updated (UTC), probe at (UTC).

    Text from the queue (endpoints, reasons) is shown as plain text, control characters escaped.

    Args:
        records: what to show.
        width: the console's width: endpoints and reasons fold to fit it, times stay whole.
        title: a title above the table.
    """
    from rich.table import Table
    from rich.text import Text

    table = Table(
        # Never wrapped: a path broken across lines cannot be pasted back.
        title=Text(title, no_wrap=True, overflow="ignore") if title else None,
        title_justify="left",
        box=None,
        padding=(0, 1),
        pad_edge=False,
        header_style="bold",
    )
    endpoint_width, reason_width = _shared_widths(records, width)
    if endpoint_width is not None:
        return _endpoint_blocks(records, width=width, title=title)
    table.add_column("endpoint", overflow="fold", width=endpoint_width)
    table.add_column("state", no_wrap=True, min_width=8)
    table.add_column("reason", overflow="fold", width=reason_width)
    table.add_column("updated (UTC)", no_wrap=True, min_width=20)
    table.add_column("probe at (UTC)", no_wrap=True, min_width=20)
    for record in records:
        probe_at = record.probe_at if record.state == "paused" else None
        table.add_row(
            Text(printable(record.endpoint)),
            Text(printable(record.state), style=_STATE_STYLES.get(record.state, "")),
            Text(printable(record.reason) or "-"),
            utc_iso(record.updated_at),
            utc_iso(probe_at) if probe_at is not None else "-",
        )
    return table


def _endpoint_blocks(
    records: Sequence[EndpointRecord], *, width: int, title: str
) -> RenderableType:
    """The records for a terminal too narrow for the table: each endpoint whole on a line of
    its own (elided in the middle only if longer than the terminal), then its state and times,
    then its reason wrapped under them."""
    from rich.text import Text

    text = Text(no_wrap=True, overflow="ignore")
    if title:
        text.append(f"{title}\n")
    for record in records:
        probe_at = record.probe_at if record.state == "paused" else None
        text.append(elide_middle(printable(record.endpoint), width), style="bold")
        text.append("\n  ")
        text.append(f"{printable(record.state):<9}", style=_STATE_STYLES.get(record.state, ""))
        times = f" updated {utc_iso(record.updated_at)}"
        if probe_at is not None:
            times += f"  probe at {utc_iso(probe_at)}"
        text.append(f"{times} (UTC)\n")
        text.append("\n".join(wrapped(printable(record.reason) or "-", width, 2)) + "\n")
    text.rstrip()
    return text


def _shared_widths(records: Sequence[EndpointRecord], width: int) -> tuple[int | None, int | None]:
    """Widths of the endpoint and reason columns when both do not fit whole (else ``None``).

    States and times stay whole; the endpoint (what `endpoints enable` takes) folds, never cut,
    and gets up to 40 characters of the room left; the reason wraps in the rest.
    """
    room = max(width - _FIXED_WIDTH, 2 * _LEAST)
    endpoint = max((len(printable(record.endpoint)) for record in records), default=0)
    reason = max((len(printable(record.reason)) for record in records), default=0)
    if max(endpoint, len("endpoint")) + max(reason, len("reason")) <= room:
        return None, None
    endpoint = max(_LEAST, min(endpoint, 40, room - 16))
    return endpoint, max(_LEAST, room - endpoint)


@cli.group()
def endpoints() -> None:
    """Endpoint health: list paused and disabled endpoints, re-enable one."""


@endpoints.command("list")
@queue_options
@person_errors
def list_endpoints(target: QueueTarget) -> None:
    """List the endpoints workers recorded: state, reason, when, and the next probe.

    An endpoint is paused after a run of failures (its deliveries wait, uncounted, for a
    probe) and disabled after a 410 Gone or a long failure (its deliveries are dead-lettered
    until it is re-enabled with `webhook-kit endpoints enable URL`). Endpoints never recorded
    are healthy.
    """
    records = run_on_queue(target, lambda queue: queue.endpoint_records())
    console = make_console()
    if not records:
        console.print(
            f"no endpoint records in {target.label}: every endpoint is healthy "
            "(workers record one when it is paused or disabled)",
            soft_wrap=True,
        )
        return
    count = len(records)
    title = f"{count} endpoint{'s' * (count != 1)} in {target.label}"
    console.print(endpoint_table(records, width=console.width, title=title))


@endpoints.command("enable")
@click.argument("url")
@queue_options
@person_errors
def enable(url: str, target: QueueTarget) -> None:
    """Re-enable the endpoint of URL (its query does not matter), e.g. after a 410 Gone.

    Records it healthy; every worker on the queue takes that in within a few seconds. Its
    dead letters stay dead: redrive them (`webhook-kit dlq redrive`) once it is enabled. An
    endpoint with no record (never paused or disabled) is an error, and nothing changes.
    """
    from ..health import endpoint_of
    from ..validation import check_target_url
    from ..worker import enable_endpoint

    check_target_url(url)  # before the queue is opened: bad input changes nothing
    endpoint = endpoint_of(url)

    async def work(queue: CommandQueue) -> tuple[EndpointRecord | None, int]:
        records = {record.endpoint: record for record in await queue.endpoint_records()}
        previous = records.get(endpoint)
        if previous is None:
            return None, 0  # nothing to enable: the queue is left as it was
        await enable_endpoint(queue, url)
        letters = await queue.list_dead_letters()
        dead = sum(endpoint_of(letter.event.target_url) == endpoint for letter in letters)
        return previous, dead

    previous, dead = run_on_queue(target, work)
    shown = printable(endpoint)
    if previous is None:
        raise click.ClickException(
            f"no endpoint record for {shown} in {target.label}: workers never paused or "
            "disabled it, so it is healthy; nothing changed (webhook-kit endpoints "
            f"list{target.args} shows the recorded ones)"
        )
    console = make_console()
    if previous is not None and previous.state == "disabled":
        console.print(
            f"enabled {shown} (it was disabled: {printable(previous.reason)}); workers on "
            f"{target.label} take it in within a few seconds",
            soft_wrap=True,
            markup=False,
        )
    else:
        console.print(
            f"{shown} was not disabled ({printable(previous.state)}); recorded it healthy anyway",
            soft_wrap=True,
            markup=False,
        )
    if dead:
        console.print(
            f"{dead} dead letter{'s' * (dead != 1)} to it stay dead: redrive them with "
            f"`webhook-kit dlq redrive ID{target.args}` or `webhook-kit dlq redrive "
            f"--since TIME{target.args}`",
            soft_wrap=True,
            markup=False,
        )
    else:
        console.print("no dead letters to it need redriving", soft_wrap=True, markup=False)
