"""Retry policies: the default, a longer one like Svix's, and a short one for tests."""

from __future__ import annotations

from webhook_kit import RetryPolicy, WebhookSubscription

DEFAULT = RetryPolicy()
"""8 attempts; retries after 5, 10, 20, 40, 80, 160 and 320 minutes (±10%): 10.6 hours."""

LONG = RetryPolicy(max_attempts=8, base_delay=60, factor=4, max_delay=10 * 3600)
"""8 attempts; retries after 1, 4 and 16 minutes, 1.1 and 4.3 hours, then 10 hours twice.

About 26 hours in all: close to Svix's 27, with an earlier first retry than the default.
"""

QUICK = RetryPolicy(max_attempts=3, base_delay=0.05, factor=2, max_delay=0.1, jitter=0)
"""For tests on a real clock: 3 attempts, exactly 50 and 100 milliseconds apart."""


def long_lived(subscription: WebhookSubscription) -> WebhookSubscription:
    """The same subscription, retried for about a day."""
    return subscription.retry_policy(LONG)
