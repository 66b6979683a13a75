"""A worker with endpoint health tuned, and one with it off."""

from __future__ import annotations

from webhook_kit import WebhookQueue, Worker
from webhook_kit.health import HealthPolicy

POLICY = HealthPolicy(
    share=0.1,  # an unproven or failing endpoint holds at most a tenth of the workers
    slow_after=2.0,  # an answer slower than 2 seconds halves the endpoint's limit
    pause_after=3,  # three failures in a row pause it ...
    first_pause=60.0,  # ... for a minute, then 2, 4, 8 minutes after each failed probe ...
    max_pause=1800.0,  # ... at most half an hour apart
    disable_after=24 * 3600.0,  # a day of failing, not one success: disabled
)


def tuned_worker(queue: WebhookQueue) -> Worker:
    # 64 attempts in flight at once; a failing endpoint may hold 6 of them.
    return Worker(queue, concurrency=64, health=POLICY)


def worker_without_health(queue: WebhookQueue) -> Worker:
    # Every due delivery is attempted as it comes: one hanging endpoint can hold every worker.
    return Worker(queue, concurrency=64, health=False)
