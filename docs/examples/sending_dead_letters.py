"""Looking after dead letters: why each one died, and sending them again once it is fixed."""

from __future__ import annotations

import logging
from typing import NamedTuple

from webhook_kit import DeadLetterRecord, WebhookQueue

logger = logging.getLogger(__name__)


class Redrive(NamedTuple):
    redriven: list[str]
    """The ids of the deliveries sent again."""
    gone: list[DeadLetterRecord]
    """Deliveries whose receiver answered 410 Gone: disable their subscriptions."""


def describe(dead: DeadLetterRecord) -> str:
    # The event's repr hides the URL's credentials and query string, and shows no body.
    last = f"status {dead.last_status}" if dead.last_status is not None else dead.last_error
    return (
        f"{dead.event!r} died after {dead.attempts} attempt(s): {dead.reason} "
        f"(last: {last}; response: {dead.response_excerpt[:200]!r})"
    )


async def redrive_dead_letters(queue: WebhookQueue) -> Redrive:
    """Send every dead letter again, except those whose endpoint is gone."""
    report = Redrive(redriven=[], gone=[])
    for dead in await queue.list_dead_letters():
        logger.warning("dead letter: %s", describe(dead))
        if dead.gone:
            report.gone.append(dead)
            continue
        await queue.redrive(dead.id)  # same id and body, a fresh set of attempts, due now
        report.redriven.append(dead.id)
    return report
