"""``webhook-kit worker``: deliver what the queue holds until SIGTERM or SIGINT.

It runs webhook-kit's `Worker` on the queue, whichever kind (a SQLite file, or PostgreSQL with
``--queue postgresql://…``), with endpoint health. A signal stops the claiming, the attempts
in flight finish and are recorded, and the command exits with 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING, NoReturn

import click

from ..worker import DEFAULT_LEASE_GRACE
from .app import cli, configure_logging, person_errors
from .options import QueueTarget, queue_options

if TYPE_CHECKING:
    from ..delivery import SecretResolver
    from ..events import WebhookEvent
    from .targets import CommandQueue

logger = logging.getLogger("webhook_kit.worker")


def _secrets(given: tuple[str, ...]) -> tuple[str, ...]:
    """The --secret values, else $WEBHOOK_KIT_SECRET as ONE secret (as `send` reads it: click
    would split a repeatable option's variable at whitespace)."""
    secrets = given or tuple(filter(None, [os.environ.get("WEBHOOK_KIT_SECRET", "")]))
    if any(not secret for secret in secrets):
        raise click.BadParameter("the secret is empty", param_hint="--secret")
    return secrets


def _resolver(secrets: tuple[str, ...]) -> SecretResolver | None:
    """Give each delivery the secrets its format can use (all of them if none can, so that
    the attempt says why): a worker may hold secrets of several formats."""
    if not secrets:
        return None
    from ..errors import InvalidSecretError
    from ..signing import FORMAT_SCHEMES

    def usable(secret: str, event: WebhookEvent) -> bool:
        try:
            FORMAT_SCHEMES[event.signature_format].keys(secret)
        except InvalidSecretError:
            return False
        return True

    def resolve(event: WebhookEvent) -> list[str]:
        return [secret for secret in secrets if usable(secret, event)] or list(secrets)

    return resolve


@cli.command()
@queue_options
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=32,
    show_default=True,
    help="Attempts in flight at once.",
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    callback=lambda ctx, param, value: _secrets(value),
    help="Signing secret(s) for timestamped formats (repeat for rotation; default: "
    "$WEBHOOK_KIT_SECRET). Body-only formats were signed at dispatch and need none.",
)
@click.option(
    "--lease-grace",
    type=click.FloatRange(0, 3600),
    default=DEFAULT_LEASE_GRACE,
    show_default=True,
    help="Seconds a claim outlives its attempt's timeout; after that another worker may take "
    "over an attempt this one lost (e.g. when it was killed).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@person_errors
def worker(
    target: QueueTarget,
    concurrency: int,
    secrets: tuple[str, ...],
    lease_grace: float,
    verbose: bool,
) -> None:
    """Deliver queued webhooks until stopped (SIGTERM or SIGINT: finish in-flight, exit 0).

    A second SIGINT or SIGTERM exits at once (128 + the signal's number), abandoning the
    attempts in flight: another worker makes them again.
    """
    configure_logging(verbose)
    asyncio.run(_run(target, concurrency, secrets, lease_grace))


async def _run(
    target: QueueTarget, concurrency: int, secrets: tuple[str, ...], lease_grace: float
) -> None:
    # A missing SQLite file is made, and the log says so: a worker started before anything
    # was dispatched is normal, but a typo in --db must not pass unseen for an empty queue.
    async with target.opened(create=True, notice=logger.warning) as queue:
        await _work(queue, target, concurrency, secrets, lease_grace)
    logger.info("worker stopped")


async def _work(
    queue: CommandQueue,
    target: QueueTarget,
    concurrency: int,
    secrets: tuple[str, ...],
    lease_grace: float,
) -> None:
    """Run a `Worker` on ``queue`` until a signal; then the attempts in flight finish."""
    from ..subscription import WebhookSubscription
    from ..worker import Worker

    await WebhookSubscription.register(queue, secrets=_resolver(secrets))
    runner = Worker(queue, concurrency=concurrency, lease_grace=lease_grace)
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()
    stopping_since: list[int] = []

    def stop(signum: int) -> None:
        if stopping_since:
            exit_now(signum)
        stopping_since.append(signum)
        logger.info("received %s: finishing in-flight attempts", signal.Signals(signum).name)
        task = loop.create_task(runner.stop())
        stopping.add(task)
        task.add_done_callback(stopping.discard)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    logger.info("worker started on %s (concurrency %d)", target.label, concurrency)
    try:
        await runner.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def exit_now(signum: int) -> NoReturn:
    """A second SIGINT or SIGTERM while finishing: exit at once, with 128 + the signal.

    The attempts in flight are abandoned, not lost: their leases run out, and a worker
    attempts them again.
    """
    logger.warning(
        "received %s again: exiting now; the attempts in flight are abandoned and will be "
        "attempted again",
        signal.Signals(signum).name,
    )
    logging.shutdown()  # flush the log before the process goes
    os._exit(128 + signum)
