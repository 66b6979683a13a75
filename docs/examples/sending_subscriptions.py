"""Building subscriptions: one function applies your settings, builder calls make variants."""

from __future__ import annotations

from dataclasses import dataclass

from webhook_kit import RetryPolicy, SignatureFormat, WebhookSubscription


@dataclass(frozen=True)
class Endpoint:
    """A customer's webhook endpoint, as your database stores it."""

    id: str
    url: str
    secret: str  # "whsec_…" for Standard Webhooks: the base64 after the prefix is the key
    tenant: str


def subscription_for(endpoint: Endpoint) -> WebhookSubscription:
    return (
        WebhookSubscription(endpoint.url, endpoint.secret, subscription_id=endpoint.id)
        .signature_format(SignatureFormat.STANDARD_WEBHOOKS)  # signs the id and a timestamp
        .header("X-Tenant-Id", endpoint.tenant)  # sent with every delivery
        .retry_status_codes([409])  # also retry 409, besides 408, 429 and 5xx
        .timeout(10, connect=3)  # 10 s for a whole attempt, 3 s of it to connect
    )


def billing_subscription(endpoint: Endpoint) -> WebhookSubscription:
    """Billing events get a longer schedule: 12 attempts, the last delays capped at 12 hours."""
    usual = subscription_for(endpoint)
    # A builder call returns a new subscription: `usual` keeps the default policy.
    return usual.retry_policy(RetryPolicy(max_attempts=12, max_delay=12 * 3600))
