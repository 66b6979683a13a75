"""``webhook-kit send``: queue one webhook."""

from __future__ import annotations

import json
from typing import Any

import click

from .app import cli, person_errors
from .options import QueueTarget, queue_options, run_on_queue

_FORMATS = [
    "hex_sha256_with_prefix",
    "hex_sha256",
    "base64_sha256",
    "standard_webhooks",
    "stripe",
]


@cli.command()
@click.argument("url")
@click.option("--event", required=True, help="The event name, e.g. order.created.")
@click.option("--data", required=True, help="The payload, as JSON.")
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
    allow_private_targets: bool,
    target: QueueTarget,
) -> None:
    """Queue a webhook of EVENT with DATA to URL; print its delivery id.

    A worker (`webhook-kit worker`) delivers it. Timestamped formats (standard_webhooks,
    stripe) are signed at each attempt: give the worker the same --secret.
    """
    from ..signing import SignatureFormat
    from ..subscription import WebhookSubscription

    try:
        payload: Any = json.loads(data)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    subscription = (
        WebhookSubscription(url, secret)
        .signature_format(SignatureFormat(signature_format))
        .allow_private_targets(allow_private_targets)
    )
    delivery_id = run_on_queue(
        target, lambda queue: subscription.dispatch(queue, event, payload), create=True
    )
    click.echo(delivery_id)
