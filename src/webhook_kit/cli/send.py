"""``webhook-kit send``: queue one webhook."""

from __future__ import annotations

import math

import click

from .app import cli, person_errors
from .options import QueueTarget, queue_options, run_on_queue
from .send_input import private_target_warning, read_payload

_FORMATS = [
    "hex_sha256_with_prefix",
    "hex_sha256",
    "base64_sha256",
    "standard_webhooks",
    "stripe",
]


def _finite(seconds: float | None) -> float | None:
    if seconds is not None and not math.isfinite(seconds):
        raise click.BadParameter(f"{seconds} is not a finite number of seconds")
    return seconds


@cli.command()
@click.argument("url")
@click.option("--event", required=True, help="The event name, e.g. order.created.")
@click.option(
    "--data",
    required=True,
    help="The payload, as JSON; @FILE reads it from FILE, - from stdin.",
)
@click.option(
    "--secret",
    required=True,
    envvar="WEBHOOK_KIT_SECRET",
    help="The signing secret (default: $WEBHOOK_KIT_SECRET).",
)
@click.option(
    "--format",
    "signature_format",
    type=click.Choice(_FORMATS),
    default="hex_sha256_with_prefix",
    show_default=True,
    help="The signature format.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=None,
    help="Attempts in all, the first included, before it is dead-lettered.  [default: 8]",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    callback=lambda ctx, param, value: _finite(value),
    help="Seconds each attempt may take.  [default: 30]",
)
@click.option(
    "--allow-private-targets", is_flag=True, help="Allow loopback and private addresses."
)
@queue_options
@person_errors
def send(
    url: str,
    event: str,
    data: str,
    secret: str,
    signature_format: str,
    max_attempts: int | None,
    timeout: float | None,
    allow_private_targets: bool,
    target: QueueTarget,
) -> None:
    """Queue a webhook of EVENT with DATA to URL; print its delivery id.

    A worker (`webhook-kit worker`) delivers it. Timestamped formats (standard_webhooks,
    stripe) are signed at each attempt: give the worker the same --secret.
    """
    from ..retry import RetryPolicy
    from ..signing import SignatureFormat
    from ..subscription import WebhookSubscription

    payload = read_payload(data)
    subscription = (
        WebhookSubscription(url, secret)
        .signature_format(SignatureFormat(signature_format))
        .allow_private_targets(allow_private_targets)
    )
    if max_attempts is not None:
        subscription = subscription.retry_policy(RetryPolicy(max_attempts=max_attempts))
    if timeout is not None:
        subscription = subscription.timeout(timeout)
    delivery_id = run_on_queue(
        target, lambda queue: subscription.dispatch(queue, event, payload), create=True
    )
    click.echo(delivery_id)
    warning = None if allow_private_targets else private_target_warning(url)
    if warning is not None:
        click.echo(warning, err=True)
