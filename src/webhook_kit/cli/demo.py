"""``webhook-kit demo``: the main job in one command, on the embedded SQLite queue.

A mock receiver on a free local port fails some deliveries on purpose (503s, a 429 with
Retry-After, a 410, a 400) and checks every signature; a batch is dispatched through a SQLite
queue in a temporary directory; a worker delivers it with a live display; a table sums it up.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..retry import RetryPolicy
from ..testing.scripts import Reply, Step
from .app import cli, person_errors

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ..queues.sqlite import SQLiteQueue

# A demo's own secret, printed nowhere; the receiver checks every signature with it.
SECRET = "whsec_ZGVtby1zZWNyZXQtZm9yLXdlYmhvb2sta2l0LWRlbW8="  # noqa: S105

# event name -> what the receiver answers deliveries of it, in order (then the last, repeated)
SCRIPTS: dict[str, list[Step]] = {
    "order.created": [200],
    "order.updated": [503, 503, 200],
    "invoice.paid": [Reply(429, headers={"Retry-After": "1"}), 200],
    "customer.deleted": [410],
    "order.refunded": [400],
    "payment.failed": [503],
}
# A short schedule so the demo takes seconds: 0.2 s, 0.4 s, 0.8 s between four attempts.
DEMO_RETRY_POLICY = RetryPolicy(max_attempts=4, base_delay=0.2, factor=2, max_delay=1, jitter=0)
BATCH = [
    "order.created",
    "order.updated",
    "invoice.paid",
    "order.created",
    "customer.deleted",
    "order.created",
    "order.refunded",
    "payment.failed",
    "order.created",
    "order.updated",
    "order.created",
    "invoice.paid",
]


@cli.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Keep the queue file (demo.sqlite3) in this directory, which must exist and hold no "
    "demo queue yet, instead of a temporary one.",
)
@click.option(
    "--tmp-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Make the temporary queue directory in this directory (default: $TMPDIR, or the "
    "system's temporary directory).",
)
@person_errors
def demo(keep: Path | None, tmp_dir: Path | None) -> None:
    """Send a batch of signed webhooks to a local mock receiver that fails some on purpose.

    Retries with backoff, honours Retry-After, dead-letters what cannot succeed, verifies every
    signature on the receiving side, and ends with a table. Takes a few seconds; leaves nothing
    behind: the queue lives in a temporary directory made under ``--tmp-dir`` (or ``$TMPDIR``)
    and removed at the end.
    """
    if keep is not None:
        _check_keep(keep)
        asyncio.run(_demo(keep))
        return
    with tempfile.TemporaryDirectory(prefix="webhook-kit-demo-", dir=tmp_dir) as directory:
        asyncio.run(_demo(Path(directory)))


QUEUE_FILE = "demo.sqlite3"
"""The demo's queue file, in its directory."""


def _check_keep(directory: Path) -> None:
    """Refuse a ``--keep`` directory that holds a demo queue already.

    The demo's summary counts what its queue holds: an earlier run's deliveries would be counted
    with this run's, and deleting the file for a fresh one could destroy what someone kept on
    purpose. So the person chooses: remove it, or give another directory.
    """
    existing = [
        directory / f"{QUEUE_FILE}{suffix}"
        for suffix in ("", "-wal", "-shm")
        if (directory / f"{QUEUE_FILE}{suffix}").exists()
    ]
    if existing:
        raise click.BadParameter(
            f"{existing[0]} is there already (an earlier demo's queue): remove it or give "
            "another directory",
            param_hint="--keep",
        )


async def _demo(directory: Path) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from ..queues.sqlite import SQLiteQueue
    from ..signing import SignatureFormat
    from ..subscription import WebhookSubscription
    from ..testing import MockReceiver
    from ..worker import Worker

    console = Console()
    queue = SQLiteQueue(directory / QUEUE_FILE)
    receiver = MockReceiver()
    receiver.expect_signature(SECRET, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    for event, steps in SCRIPTS.items():
        receiver.script(steps, event=event)
    started = time.monotonic()
    async with receiver.serve() as url:
        console.print(f"[bold]webhook-kit demo[/]: receiver at {url}, queue {queue.path}")
        await WebhookSubscription.register(queue)
        # One endpoint per event, as if each were another customer's: the endpoint that
        # answers 410 Gone is disabled, and must not take the others' deliveries with it.
        subscriptions = {
            event: WebhookSubscription(f"{url}/{event}", SECRET)
            .signature_format(SignatureFormat.STANDARD_WEBHOOKS)
            .allow_private_targets(True)  # the demo's receiver is on loopback
            .retry_policy(DEMO_RETRY_POLICY)
            for event in SCRIPTS
        }
        ids = {}
        for number, event in enumerate(BATCH, 1):
            delivery_id = await subscriptions[event].dispatch(
                queue, event, {"n": number, "event": event}
            )
            ids[delivery_id] = event
        console.print(f"dispatched {len(ids)} webhooks (Standard Webhooks signatures)")
        worker = Worker(queue, concurrency=8)
        run = asyncio.create_task(worker.run_until_idle())
        with Live(console=console, refresh_per_second=10, transient=True) as live:
            while not run.done():
                live.update(await _progress(queue, len(ids), time.monotonic() - started))
                await asyncio.wait({run}, timeout=0.1)
        await run
    counts = await queue.counts()
    console.print(_summary_table(await _rows(queue, ids)))
    dead = await queue.list_dead_letters()
    if dead:
        table = Table(title="Dead letters", title_justify="left")
        for column in ("event", "id", "attempts", "reason"):
            table.add_column(column)
        for letter in dead:
            table.add_row(letter.event.event, letter.id[:8], str(letter.attempts), letter.reason)
        console.print(table)
    verified = Counter(d.verified for d in receiver.deliveries)
    console.print(
        f"{counts.delivered} delivered, {counts.dead} dead-lettered, "
        f"{len(receiver.deliveries)} requests received, {verified[True]} signatures verified, "
        f"{verified[False]} failed, in {time.monotonic() - started:.1f}s"
    )
    queue.close()


async def _progress(queue: SQLiteQueue, total: int, elapsed: float) -> RenderableType:
    from rich.text import Text

    counts = await queue.counts()
    done = counts.delivered + counts.dead
    bar = "█" * done + "░" * (total - done)
    return Text(
        f"{bar} {done}/{total}  delivered {counts.delivered}  waiting to retry "
        f"{counts.pending}  in flight {counts.in_flight}  dead {counts.dead}  ({elapsed:.1f}s)"
    )


async def _rows(queue: SQLiteQueue, ids: dict[str, str]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for delivery_id, event in ids.items():
        history = await queue.history(delivery_id)
        answers = " ".join(str(a.status) if a.status is not None else "error" for a in history)
        rows.append((event, delivery_id[:8], answers, history[-1].outcome if history else "-"))
    return rows


def _summary_table(rows: list[tuple[str, str, str, str]]) -> RenderableType:
    from rich.table import Table

    table = Table(title="Deliveries", title_justify="left")
    for column in ("event", "id", "answers, attempt by attempt", "outcome"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table
