"""The pure rules of one attempt: headers per the wire contract, outcome per response, budget."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from webhook_kit import (
    HEADER_EVENT,
    HEADER_ID,
    HEADER_SIGNATURE,
    USER_AGENT,
    InvalidSecretError,
    SignatureFormat,
    __version__,
    sign,
    verify,
)
from webhook_kit.delivery import DeliveryHandler, build_headers, classify, retry_delay
from webhook_kit.events import WebhookEvent
from webhook_kit.http_stacks import HttpResponse
from webhook_kit.outcomes import DeadLetter, Delivered, Outcome, RetryAt
from webhook_kit.retry import RetryPolicy
from webhook_kit.subscription import WebhookSubscription

URL = "https://customer.example.com/hooks"
SECRET = "deliverySecret4f1a"  # valid base64: Standard Webhooks decodes it
NOW = 1_700_000_000.0
PAYLOAD = {"order_id": 42}
EXACT = RetryPolicy(max_attempts=8, base_delay=300, factor=2, max_delay=21_600, jitter=0)


def make_event(
    fmt: SignatureFormat = SignatureFormat.HEX_SHA256_WITH_PREFIX,
    *,
    policy: RetryPolicy = EXACT,
    sub: WebhookSubscription | None = None,
) -> WebhookEvent:
    sub = sub or WebhookSubscription(URL, SECRET)
    return (
        sub.signature_format(fmt)
        .retry_policy(policy)
        .build_event("order.created", PAYLOAD, now=NOW)
    )


def response(status: int, **headers: str) -> HttpResponse:
    return HttpResponse(status=status, headers=headers, body=b"")


def http_date(when: float) -> str:
    return format_datetime(datetime.fromtimestamp(when, timezone.utc), usegmt=True)


# --- build_headers -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [fmt for fmt in SignatureFormat if not fmt.timestamped], ids=str)
def test_headers_of_a_body_only_format(fmt: SignatureFormat) -> None:
    event = make_event(fmt)
    headers = build_headers(event, None, NOW)
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": f"webhook-kit/{__version__}",
        "X-Webhook-Id": event.id,
        "X-Webhook-Event": "order.created",
        "X-Webhook-Signature": sign(event.body_bytes, SECRET, scheme=fmt),
    }
    assert f"webhook-kit/{__version__}" == USER_AGENT
    assert (HEADER_ID, HEADER_EVENT, HEADER_SIGNATURE) == (
        "X-Webhook-Id",
        "X-Webhook-Event",
        "X-Webhook-Signature",
    )
    verify(event.body_bytes, headers, SECRET, scheme=fmt)
    # body-only signatures do not depend on the attempt's time or secret lookup
    assert build_headers(event, SECRET, NOW + 86_400) == headers


def test_headers_of_standard_webhooks() -> None:
    event = make_event(SignatureFormat.STANDARD_WEBHOOKS)
    now = NOW + 12_345.75
    headers = build_headers(event, SECRET, now)
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["X-Webhook-Id"] == headers["webhook-id"] == event.id
    assert headers["X-Webhook-Event"] == "order.created"
    assert headers["webhook-timestamp"] == str(int(now)) == "1700012345"
    assert headers["webhook-signature"] == headers["X-Webhook-Signature"]
    assert headers["webhook-signature"] == sign(
        event.body_bytes,
        SECRET,
        scheme=SignatureFormat.STANDARD_WEBHOOKS,
        webhook_id=event.id,
        timestamp=int(now),
    )
    verified = verify(
        event.body_bytes, headers, SECRET, scheme=SignatureFormat.STANDARD_WEBHOOKS, now=now
    )
    assert verified.id == event.id
    assert verified.timestamp == int(now)


def test_standard_webhooks_is_signed_anew_at_each_attempt() -> None:
    event = make_event(SignatureFormat.STANDARD_WEBHOOKS)
    later = NOW + 27 * 3600
    first = build_headers(event, SECRET, NOW)
    retry = build_headers(event, SECRET, later)
    assert first["webhook-signature"] != retry["webhook-signature"]
    assert retry["X-Webhook-Id"] == first["X-Webhook-Id"]
    verify(event.body_bytes, retry, SECRET, scheme=SignatureFormat.STANDARD_WEBHOOKS, now=later)


def test_headers_of_stripe_sign_with_the_attempts_time() -> None:
    event = make_event(SignatureFormat.STRIPE)
    later = NOW + 5 * 3600 + 0.9
    headers = build_headers(event, SECRET, later)
    assert headers["X-Webhook-Signature"] == sign(
        event.body_bytes, SECRET, scheme=SignatureFormat.STRIPE, timestamp=int(later)
    )
    assert headers["X-Webhook-Signature"].startswith(f"t={int(later)},v1=")
    assert headers["X-Webhook-Id"] == event.id
    verify(event.body_bytes, headers, SECRET, scheme=SignatureFormat.STRIPE, now=later)


def test_extra_headers_are_appended_in_order() -> None:
    sub = WebhookSubscription(URL, SECRET).header("X-Tenant-Id", "acme").header("X-Trace", "t1")
    event = make_event(sub=sub)
    headers = build_headers(event, None, NOW)
    assert list(headers)[-2:] == ["X-Tenant-Id", "X-Trace"]
    assert headers["X-Tenant-Id"] == "acme"
    assert headers["User-Agent"] == USER_AGENT


def test_a_custom_user_agent_replaces_the_default() -> None:
    sub = WebhookSubscription(URL, SECRET).header("User-Agent", "acme-hooks/2")
    headers = build_headers(make_event(sub=sub), None, NOW)
    assert headers["User-Agent"] == "acme-hooks/2"
    assert [name for name in headers if name.lower() == "user-agent"] == ["User-Agent"]


@pytest.mark.parametrize("name", ["user-agent", "USER-AGENT", "User-agent"])
def test_a_custom_user_agent_in_any_case_replaces_the_default(name: str) -> None:
    # Was a bug: the default is stored as "User-Agent" and the custom header under its own
    # spelling, so both are sent (two User-Agent headers) unless the case matches exactly.
    sub = WebhookSubscription(URL, SECRET).header(name, "acme-hooks/2")
    headers = build_headers(make_event(sub=sub), None, NOW)
    user_agents = [value for key, value in headers.items() if key.lower() == "user-agent"]
    assert user_agents == ["acme-hooks/2"]


@pytest.mark.parametrize("fmt", [SignatureFormat.STANDARD_WEBHOOKS, SignatureFormat.STRIPE])
def test_a_timestamped_event_without_a_secret_says_how_to_fix_it(fmt: SignatureFormat) -> None:
    event = make_event(fmt)
    with pytest.raises(InvalidSecretError) as info:
        build_headers(event, None, NOW)
    message = str(info.value)
    assert "register" in message
    assert "secrets=" in message
    assert fmt.value in message


# --- classify ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", range(200, 300))
def test_every_2xx_is_delivered(status: int) -> None:
    assert classify(make_event(), response(status), 1, NOW) == Delivered()


def test_410_is_dead_and_gone() -> None:
    outcome = classify(make_event(), response(410), 1, NOW)
    assert isinstance(outcome, DeadLetter)
    assert outcome.gone is True
    assert "410" in outcome.reason


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses_retry_with_backoff(status: int) -> None:
    for attempt, delay in [(1, 300), (2, 600), (3, 1200), (7, 19_200)]:
        assert classify(make_event(), response(status), attempt, NOW) == RetryAt(NOW + delay)


def test_extra_retry_codes_are_retried() -> None:
    sub = WebhookSubscription(URL, SECRET).retry_status_codes([409, 425])
    event = make_event(sub=sub)
    assert classify(event, response(409), 1, NOW) == RetryAt(NOW + 300)
    assert classify(event, response(425), 2, NOW) == RetryAt(NOW + 600)
    assert isinstance(classify(make_event(), response(409), 1, NOW), DeadLetter)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_dead_at_once(status: int) -> None:
    outcome = classify(make_event(), response(status, location="https://x/"), 1, NOW)
    assert isinstance(outcome, DeadLetter)
    assert outcome.gone is False
    assert str(status) in outcome.reason
    assert "redirect" in outcome.reason


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 413, 422])
def test_other_client_errors_are_dead_at_once(status: int) -> None:
    outcome = classify(make_event(), response(status, **{"retry-after": "5"}), 1, NOW)
    assert isinstance(outcome, DeadLetter)
    assert outcome.gone is False
    assert str(status) in outcome.reason


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [
        ("120", 120),
        ("0", 0),
        ("21600", 21_600),
        (http_date(NOW + 90), 90),
        (http_date(NOW - 60), 0),
    ],
)
def test_retry_after_replaces_the_backoff(retry_after: str, delay: float) -> None:
    for status in (429, 503):
        outcome = classify(make_event(), response(status, **{"retry-after": retry_after}), 3, NOW)
        assert outcome == RetryAt(NOW + delay)


@pytest.mark.parametrize("retry_after", ["86400", http_date(NOW + 86_400)])
def test_retry_after_is_clamped_to_max_delay(retry_after: str) -> None:
    outcome = classify(make_event(), response(503, **{"retry-after": retry_after}), 1, NOW)
    assert outcome == RetryAt(NOW + 21_600)
    small = RetryPolicy(max_attempts=5, base_delay=1, max_delay=30, jitter=0)
    outcome = classify(
        make_event(policy=small), response(429, **{"retry-after": retry_after}), 1, NOW
    )
    assert outcome == RetryAt(NOW + 30)


@pytest.mark.parametrize("retry_after", ["soon", "-5", "1.5", ""])
def test_a_meaningless_retry_after_falls_back_to_the_backoff(retry_after: str) -> None:
    outcome = classify(make_event(), response(503, **{"retry-after": retry_after}), 2, NOW)
    assert outcome == RetryAt(NOW + 600)


def test_retry_delay() -> None:
    event = make_event()
    assert retry_delay(event, 1, None, NOW) == 300
    assert retry_delay(event, 4, None, NOW) == 2400
    assert retry_delay(event, 4, "17", NOW) == 17
    assert retry_delay(event, 4, "99999", NOW) == 21_600
    jittered = make_event(policy=RetryPolicy(jitter=0.1))
    assert all(270 <= retry_delay(jittered, 1, None, NOW) <= 330 for _ in range(50))


# --- the attempt budget --------------------------------------------------------------------


def test_a_retry_within_the_budget_stays_a_retry() -> None:
    event = make_event()
    retry = RetryAt(NOW + 300)
    for attempt in range(1, EXACT.max_attempts):
        assert DeliveryHandler._within_budget(event, attempt, retry, 503, None) is retry


@pytest.mark.parametrize(
    ("status", "error", "named"),
    [(503, None, "status 503"), (None, "connect: connection refused", "connection refused")],
)
def test_the_last_retry_becomes_a_dead_letter(
    status: int | None, error: str | None, named: str
) -> None:
    event = make_event()
    outcome = DeliveryHandler._within_budget(event, 8, RetryAt(NOW + 300), status, error)
    assert isinstance(outcome, DeadLetter)
    assert outcome.gone is False
    assert "8 attempts" in outcome.reason
    assert named in outcome.reason


def test_the_budget_follows_the_policy() -> None:
    event = make_event(policy=RetryPolicy(max_attempts=1, jitter=0))
    outcome = DeliveryHandler._within_budget(event, 1, RetryAt(NOW), 500, None)
    assert isinstance(outcome, DeadLetter)
    assert "1 attempts" in outcome.reason or "1 attempt" in outcome.reason


@pytest.mark.parametrize("outcome", [Delivered(), DeadLetter("no", gone=True)], ids=repr)
def test_final_outcomes_pass_through_the_budget(outcome: Outcome) -> None:
    assert DeliveryHandler._within_budget(make_event(), 8, outcome, 200, None) is outcome
    assert DeliveryHandler._within_budget(make_event(), 1, outcome, 200, None) is outcome
