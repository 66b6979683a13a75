"""`WebhookSubscription`: the builder, `build_event`, `dispatch` and `dispatch_sync`."""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import threading
import uuid
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from webhook_kit import (
    InvalidInputError,
    InvalidPayloadError,
    InvalidSecretError,
    SignatureFormat,
    sign,
)
from webhook_kit.clock import VirtualClock
from webhook_kit.events import WebhookEvent
from webhook_kit.netguard import NetworkPolicy
from webhook_kit.queues import MemoryQueue, QueueCounts
from webhook_kit.registrations import secret_memory_of
from webhook_kit.retry import RetryPolicy
from webhook_kit.subscription import WebhookSubscription
from webhook_kit.validation import InvalidHeaderError, InvalidTargetError

URL = "https://customer.example.com/hooks"
SECRET = "subSecretValue7c1d9e"  # valid base64: Standard Webhooks decodes it
WHSEC = "whsec_" + base64.b64encode(b"a-standard-webhooks-key-32-bytes").decode()
NOW = 1_700_000_000.0
PAYLOAD = {"order_id": 42, "items": [{"sku": "A-1", "qty": 2}], "note": "José"}
COMPACT = '{"order_id":42,"items":[{"sku":"A-1","qty":2}],"note":"José"}'
BODY_ONLY = [fmt for fmt in SignatureFormat if not fmt.timestamped]
TIMESTAMPED = [SignatureFormat.STANDARD_WEBHOOKS, SignatureFormat.STRIPE]
EMPTY = QueueCounts(pending=0, due=0, in_flight=0, delivered=0, dead=0)


def subscription(fmt: SignatureFormat | None = None) -> WebhookSubscription:
    sub = WebhookSubscription(URL, SECRET)
    return sub if fmt is None else sub.signature_format(fmt)


def event_of(sub: WebhookSubscription) -> WebhookEvent:
    return sub.build_event("order.created", PAYLOAD, now=NOW)


@pytest.fixture
def queue() -> MemoryQueue:
    return MemoryQueue(clock=VirtualClock(NOW))


def test_timestamped_formats_are_the_ones_expected() -> None:
    assert [fmt for fmt in SignatureFormat if fmt.timestamped] == TIMESTAMPED


# --- constructor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "/hooks", "example.com", "https://", "https://a b/", ""]
)
def test_constructor_refuses_a_bad_url(url: str) -> None:
    with pytest.raises(InvalidTargetError):
        WebhookSubscription(url, SECRET)


@pytest.mark.parametrize("secret", ["", b"", [], [""], None, 42, ["ok", ""]], ids=repr)
def test_constructor_refuses_a_bad_secret(secret: Any) -> None:
    with pytest.raises(InvalidSecretError):
        WebhookSubscription(URL, secret)


@pytest.mark.parametrize("subscription_id", ["", 5])
def test_constructor_refuses_a_bad_subscription_id(subscription_id: Any) -> None:
    with pytest.raises(InvalidInputError):
        WebhookSubscription(URL, SECRET, subscription_id=subscription_id)


def test_constructor_keeps_url_and_id() -> None:
    sub = WebhookSubscription(URL, [SECRET, "older"], subscription_id="sub_1")
    event = event_of(sub)
    assert event.target_url == URL
    assert event.subscription_id == "sub_1"
    assert event_of(WebhookSubscription(URL, SECRET)).subscription_id is None


# --- builder -------------------------------------------------------------------------------


def test_builder_methods_return_new_subscriptions_and_leave_the_original_alone() -> None:
    original = subscription()
    before = event_of(original)
    changed: list[tuple[WebhookSubscription, str, object]] = [
        (original.signature_format(SignatureFormat.STRIPE), "signature_format", "stripe"),
        (original.header("X-Tenant-Id", "acme"), "headers", (("X-Tenant-Id", "acme"),)),
        (original.retry_status_codes([409]), "retry_status_codes", frozenset({409})),
        (original.retry_policy(RetryPolicy(max_attempts=2)), "retry_policy", RetryPolicy(2)),
        (original.timeout(5), "timeout", 5.0),
        (original.allow_private_targets(True), "network", NetworkPolicy(allow_private=True)),
    ]
    for new, attribute, value in changed:
        assert new is not original
        assert getattr(event_of(new), attribute) == value
        assert getattr(before, attribute) != value
    after = event_of(original)
    assert (
        after.signature_format is before.signature_format is SignatureFormat.HEX_SHA256_WITH_PREFIX
    )
    assert after.headers == before.headers == ()
    assert after.retry_status_codes == before.retry_status_codes == frozenset()
    assert after.retry_policy == before.retry_policy == RetryPolicy()
    assert (after.timeout, after.connect_timeout) == (before.timeout, before.connect_timeout)
    assert (after.timeout, after.connect_timeout) == (30.0, 10.0)
    assert after.network == before.network == NetworkPolicy()


def test_builder_settings_reach_the_event() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=0)
    sub = (
        WebhookSubscription(URL, SECRET, subscription_id="sub_9")
        .signature_format(SignatureFormat.BASE64_SHA256)
        .header("X-Tenant-Id", "acme")
        .header("User-Agent", "acme-hooks/2")
        .retry_status_codes([409, 425])
        .retry_policy(policy)
        .timeout(8, connect=2)
        .allow_private_targets(["10.0.0.0/8"])
    )
    event = event_of(sub)
    assert event.signature_format is SignatureFormat.BASE64_SHA256
    assert event.headers == (("X-Tenant-Id", "acme"), ("User-Agent", "acme-hooks/2"))
    assert event.retry_status_codes == frozenset({409, 425})
    assert event.retry_policy == policy
    assert (event.timeout, event.connect_timeout) == (8.0, 2.0)
    assert event.network == NetworkPolicy.from_networks(["10.0.0.0/8"])
    assert event.subscription_id == "sub_9"


def test_header_replaces_a_same_name_header_case_insensitively() -> None:
    sub = (
        subscription()
        .header("X-Tenant-Id", "acme")
        .header("X-Other", "1")
        .header("x-tenant-id", "globex")
    )
    assert event_of(sub).headers == (("X-Other", "1"), ("x-tenant-id", "globex"))


@pytest.mark.parametrize(
    ("name", "value"),
    [("Bad Header", "v"), ("X-A", "a\r\nb"), ("Content-Type", "text/plain"), ("webhook-id", "x")],
)
def test_header_refuses_bad_headers(name: str, value: str) -> None:
    with pytest.raises(InvalidHeaderError):
        subscription().header(name, value)


def test_signature_format_refuses_a_bad_whsec_secret_at_that_call() -> None:
    sub = WebhookSubscription(URL, "whsec_!!!not-base64")  # a plain HMAC key for the default
    with pytest.raises(InvalidSecretError):
        sub.signature_format(SignatureFormat.STANDARD_WEBHOOKS)
    sub.signature_format(SignatureFormat.HEX_SHA256)
    sub.signature_format(SignatureFormat.STRIPE)  # Stripe uses the secret as-is


def test_signature_format_accepts_a_good_whsec_secret() -> None:
    sub = WebhookSubscription(URL, WHSEC).signature_format(SignatureFormat.STANDARD_WEBHOOKS)
    assert event_of(sub).signature_format is SignatureFormat.STANDARD_WEBHOOKS


def test_signature_format_refuses_a_verify_only_key_at_that_call() -> None:
    # Was a bug: a whpk_ key cannot sign; the format was accepted and every attempt then
    # dead-lettered
    # with InvalidSecretError instead of the call that received it raising.
    public_key = "whpk_" + base64.b64encode(bytes(32)).decode()
    sub = WebhookSubscription(URL, public_key)
    with pytest.raises(InvalidSecretError):
        sub.signature_format(SignatureFormat.STANDARD_WEBHOOKS)


@pytest.mark.parametrize("fmt", ["stripe", None, 1])
def test_signature_format_refuses_what_is_not_a_format(fmt: Any) -> None:
    with pytest.raises(InvalidInputError):
        subscription().signature_format(fmt)


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf, True, "5"])
def test_timeout_refuses_bad_values(seconds: Any) -> None:
    with pytest.raises(InvalidInputError):
        subscription().timeout(seconds)


@pytest.mark.parametrize("connect", [-1, math.nan, math.inf, True, "5"])
def test_timeout_refuses_a_bad_connect_timeout(connect: Any) -> None:
    with pytest.raises(InvalidInputError):
        subscription().timeout(10, connect=connect)


@pytest.mark.parametrize("connect", [0, 0.0])
def test_timeout_refuses_a_zero_connect_timeout(connect: float) -> None:
    # Was a bug: ``if connect`` treats 0 as "not given", so a zero connect timeout is silently
    # replaced by the total instead of being refused.
    with pytest.raises(InvalidInputError):
        subscription().timeout(10, connect=connect)


def test_timeout_values() -> None:
    assert (event_of(subscription().timeout(5)).timeout, event_of(subscription()).timeout) == (
        5.0,
        30.0,
    )
    assert event_of(subscription().timeout(5)).connect_timeout == 5.0
    assert event_of(subscription().timeout(5, connect=1.5)).connect_timeout == 1.5
    assert event_of(subscription().timeout(5, connect=60)).connect_timeout == 5.0


def test_allow_private_targets() -> None:
    assert event_of(subscription().allow_private_targets(True)).network == NetworkPolicy(
        allow_private=True
    )
    allowed = subscription().allow_private_targets(True).allow_private_targets(False)
    assert event_of(allowed).network == NetworkPolicy()
    listed = subscription().allow_private_targets(["10.20.0.0/16", "fd00::/8"])
    assert event_of(listed).network.allowed_networks == (
        ipaddress.ip_network("10.20.0.0/16"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert not event_of(listed).network.allow_private
    single = subscription().allow_private_targets("10.20.0.0/16")
    assert event_of(single).network.allowed_networks == (ipaddress.ip_network("10.20.0.0/16"),)
    network = ipaddress.ip_network("192.168.1.0/24")
    assert event_of(subscription().allow_private_targets([network])).network.allowed_networks == (
        network,
    )


@pytest.mark.parametrize("allowed", [["not-a-network"], "intranet", ["10.0.0.0/8", "x"]])
def test_allow_private_targets_refuses_what_is_not_a_network(allowed: Any) -> None:
    with pytest.raises(InvalidInputError):
        subscription().allow_private_targets(allowed)


def test_allow_private_targets_refuses_none_at_the_call() -> None:
    with pytest.raises((InvalidInputError, TypeError)):
        subscription().allow_private_targets(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("codes", [[200], [302], [600], [True], ["500"]], ids=repr)
def test_retry_status_codes_refuses_bad_codes(codes: list[Any]) -> None:
    with pytest.raises(InvalidInputError):
        subscription().retry_status_codes(codes)


@pytest.mark.parametrize("policy", [None, {"max_attempts": 3}, 3])
def test_retry_policy_refuses_what_is_not_a_policy(policy: Any) -> None:
    with pytest.raises(InvalidInputError):
        subscription().retry_policy(policy)


# --- build_event ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(SignatureFormat))
def test_build_event_serialises_compact_json_once(fmt: SignatureFormat) -> None:
    event = subscription(fmt).build_event("order.created", PAYLOAD, now=NOW)
    assert event.body == COMPACT
    assert event.event == "order.created"
    assert event.created_at == NOW
    assert uuid.UUID(event.id).version == 4


@pytest.mark.parametrize("fmt", BODY_ONLY)
def test_body_only_formats_are_signed_at_build(fmt: SignatureFormat) -> None:
    event = event_of(subscription(fmt))
    assert event.signature == sign(COMPACT.encode(), SECRET, scheme=fmt)


@pytest.mark.parametrize("fmt", TIMESTAMPED)
def test_timestamped_formats_are_not_signed_at_build(fmt: SignatureFormat) -> None:
    assert event_of(subscription(fmt)).signature is None


def test_each_build_gets_a_new_id() -> None:
    sub = subscription()
    assert len({event_of(sub).id for _ in range(20)}) == 20


@pytest.mark.parametrize("fmt", list(SignatureFormat))
def test_the_secret_is_never_stored_or_shown(fmt: SignatureFormat) -> None:
    sub = subscription(fmt)
    event = event_of(sub)
    assert SECRET not in event.to_json()
    assert SECRET not in repr(event)
    assert SECRET not in repr(sub)
    assert SECRET not in str(sub)


@pytest.mark.parametrize("payload", [{1, 2}, b"bytes", object(), math.nan, {"x": math.inf}])
def test_build_event_refuses_a_payload_that_is_not_json(payload: Any) -> None:
    with pytest.raises(InvalidPayloadError):
        subscription().build_event("order.created", payload, now=NOW)


@pytest.mark.parametrize("event", ["", "   ", "a\nb", "x" * 201])
def test_build_event_refuses_a_bad_event_name(event: str) -> None:
    with pytest.raises(InvalidInputError):
        subscription().build_event(event, PAYLOAD, now=NOW)


# --- dispatch ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", list(SignatureFormat))
async def test_dispatch_stores_exactly_one_pending_job(
    queue: MemoryQueue, fmt: SignatureFormat
) -> None:
    delivery_id = await subscription(fmt).dispatch(queue, "order.created", PAYLOAD)
    assert isinstance(delivery_id, str)
    assert str(uuid.UUID(delivery_id)) == delivery_id
    assert await queue.counts() == QueueCounts(pending=1, due=1, in_flight=0, delivered=0, dead=0)
    (claim,) = await queue.claim(10, lease_grace=5)
    assert claim.event.id == delivery_id
    assert claim.event.body == COMPACT
    assert claim.event.created_at == NOW
    assert json.loads(claim.event.body) == PAYLOAD


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", TIMESTAMPED)
async def test_timestamped_dispatch_keeps_the_secret_in_memory(
    queue: MemoryQueue, fmt: SignatureFormat
) -> None:
    delivery_id = await subscription(fmt).dispatch(queue, "order.created", PAYLOAD)
    assert secret_memory_of(queue).get(delivery_id) == SECRET
    assert len(secret_memory_of(queue)) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", BODY_ONLY)
async def test_body_only_dispatch_keeps_no_secret(
    queue: MemoryQueue, fmt: SignatureFormat
) -> None:
    delivery_id = await subscription(fmt).dispatch(queue, "order.created", PAYLOAD)
    assert secret_memory_of(queue).get(delivery_id) is None
    assert len(secret_memory_of(queue)) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", [SignatureFormat.HEX_SHA256_WITH_PREFIX, *TIMESTAMPED])
@pytest.mark.parametrize(
    ("event", "payload", "kwargs", "error"),
    [
        ("order.created", {1, 2}, {}, InvalidPayloadError),
        ("order.created", {"x": math.nan}, {}, InvalidPayloadError),
        ("", PAYLOAD, {}, InvalidInputError),
        ("a\r\nb", PAYLOAD, {}, InvalidInputError),
        ("order.created", PAYLOAD, {"connection": object()}, TypeError),
    ],
    ids=["set", "nan", "empty-event", "crlf-event", "connection"],
)
async def test_a_failed_dispatch_leaves_nothing_behind(
    queue: MemoryQueue,
    fmt: SignatureFormat,
    event: str,
    payload: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await subscription(fmt).dispatch(queue, event, payload, **kwargs)
    assert await queue.counts() == EMPTY
    assert len(secret_memory_of(queue)) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", [SignatureFormat.HEX_SHA256_WITH_PREFIX, *TIMESTAMPED])
async def test_dispatch_refuses_a_lone_surrogate_and_leaves_nothing_behind(
    queue: MemoryQueue, fmt: SignatureFormat
) -> None:
    # Was a bug: "\ud800" passes serialise_payload; body-only formats then fail with
    # UnicodeEncodeError and timestamped formats enqueue a job that can never be sent.
    with pytest.raises(InvalidPayloadError):
        await subscription(fmt).dispatch(queue, "order.created", {"note": "\ud800"})
    assert await queue.counts() == EMPTY
    assert len(secret_memory_of(queue)) == 0


class FailingQueue(MemoryQueue):
    async def enqueue(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        raise RuntimeError("database is down")

    def enqueue_sync(self, event: WebhookEvent, *, not_before: float | None = None) -> None:
        raise RuntimeError("database is down")


@pytest.mark.anyio
async def test_a_failed_enqueue_forgets_the_secret() -> None:
    queue = FailingQueue(clock=VirtualClock(NOW))
    sub = subscription(SignatureFormat.STANDARD_WEBHOOKS)
    with pytest.raises(RuntimeError, match="database is down"):
        await sub.dispatch(queue, "order.created", PAYLOAD)
    assert len(secret_memory_of(queue)) == 0
    with pytest.raises(RuntimeError, match="database is down"):
        sub.dispatch_sync(queue, "order.created", PAYLOAD)
    assert len(secret_memory_of(queue)) == 0


def test_dispatch_sync_from_sync_code() -> None:
    queue = MemoryQueue(clock=VirtualClock(NOW))
    sub = subscription(SignatureFormat.STRIPE)
    delivery_id = sub.dispatch_sync(queue, "order.created", PAYLOAD)
    assert str(uuid.UUID(delivery_id)) == delivery_id
    assert secret_memory_of(queue).get(delivery_id) == SECRET
    counts = anyio.run(queue.counts)
    assert counts == QueueCounts(pending=1, due=1, in_flight=0, delivered=0, dead=0)


def test_dispatch_sync_refuses_bad_input_and_leaves_nothing_behind() -> None:
    queue = MemoryQueue(clock=VirtualClock(NOW))
    sub = subscription(SignatureFormat.STANDARD_WEBHOOKS)
    with pytest.raises(InvalidPayloadError):
        sub.dispatch_sync(queue, "order.created", {1})
    with pytest.raises(InvalidInputError):
        sub.dispatch_sync(queue, "", PAYLOAD)
    assert anyio.run(queue.counts) == EMPTY
    assert len(secret_memory_of(queue)) == 0


@pytest.mark.anyio
async def test_dispatch_sync_from_another_thread_while_a_loop_runs(queue: MemoryQueue) -> None:
    sub = subscription()
    results: list[str] = []

    def view() -> None:  # e.g. a Django view in a worker thread
        results.append(sub.dispatch_sync(queue, "order.created", PAYLOAD))

    started = threading.Event()

    async def waiter() -> None:
        started.set()
        await queue.wait_for_work(3600)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(waiter)
            await anyio.lowlevel.checkpoint()
            assert started.is_set()
            await anyio.to_thread.run_sync(view)
    (delivery_id,) = results
    (claim,) = await queue.claim(10, lease_grace=5)
    assert claim.event.id == delivery_id
