"""Retries end to end: Retry-After, the backoff schedule, what every retry sends, signatures.

Clock-driven tests run in-process (``httpx.ASGITransport``) on a `VirtualClock`; what goes on
the wire (ids, bytes, headers, signatures) is checked on a real socket through both stacks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from webhook_kit import (
    DEFAULT_TOLERANCE,
    USER_AGENT,
    MemoryQueue,
    RetryPolicy,
    SecretResolver,
    SignatureFormat,
    VerificationError,
    VirtualClock,
    WebhookEvent,
    WebhookSubscription,
    Worker,
    __version__,
    verify,
)
from webhook_kit.http_stacks import NetworkStack
from webhook_kit.keys import SecretOrSecrets
from webhook_kit.registrations import secret_memory_of

from .conftest import (
    PAYLOAD,
    SECRET,
    START,
    Endpoint,
    InProcess,
    Receiver,
    Reply,
    exact,
    gaps,
    to,
)

pytestmark = pytest.mark.anyio

EVENT = "order.created"
BODY = json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False).encode()
TIMESTAMPED = [SignatureFormat.STANDARD_WEBHOOKS, SignatureFormat.STRIPE]
BODY_ONLY = [fmt for fmt in SignatureFormat if not fmt.timestamped]
NEW = "whsec_" + base64.b64encode(b"the-new-secret-after-rotation!!").decode()
OLD = "whsec_" + base64.b64encode(b"the-old-secret-before-rotation!").decode()


async def run_in_process(queue: MemoryQueue, asgi: InProcess, sub: WebhookSubscription) -> str:
    await WebhookSubscription.register(queue, client=asgi.client)
    delivery_id = await sub.dispatch(queue, EVENT, PAYLOAD)
    await Worker(queue).run_until_idle()
    return delivery_id


async def run_on_socket(queue: MemoryQueue, stack: NetworkStack, sub: WebhookSubscription) -> str:
    await WebhookSubscription.register(queue, stack=stack)
    delivery_id = await sub.dispatch(queue, EVENT, PAYLOAD)
    await Worker(queue).run_until_idle()
    return delivery_id


def http_date(when: float) -> str:
    return format_datetime(datetime.fromtimestamp(when, timezone.utc), usegmt=True)


# --- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 429])
async def test_retry_after_seconds_sets_the_next_attempt(
    queue: MemoryQueue, asgi: InProcess, status: int
) -> None:
    endpoint = asgi.receiver.endpoint(Reply(status, headers={"Retry-After": "120"}), 200)
    delivery_id = await run_in_process(queue, asgi, to(endpoint))

    history = await queue.history(delivery_id)
    assert [r.status for r in history] == [status, 200]
    assert history[0].started_at == START
    assert gaps(history) == [120.0]  # not the policy's 60


async def test_retry_after_as_an_http_date_sets_the_next_attempt(
    queue: MemoryQueue, clock: VirtualClock, asgi: InProcess
) -> None:
    retry_after = http_date(clock.now() + 300)
    endpoint = asgi.receiver.endpoint(Reply(503, headers={"Retry-After": retry_after}), 200)
    delivery_id = await run_in_process(queue, asgi, to(endpoint))

    history = await queue.history(delivery_id)
    assert [r.status for r in history] == [503, 200]
    assert gaps(history) == [300.0]


async def test_retry_after_in_the_past_means_retry_now(
    queue: MemoryQueue, clock: VirtualClock, asgi: InProcess
) -> None:
    retry_after = http_date(clock.now() - 3600)
    endpoint = asgi.receiver.endpoint(Reply(503, headers={"Retry-After": retry_after}), 200)
    delivery_id = await run_in_process(queue, asgi, to(endpoint))

    assert gaps(await queue.history(delivery_id)) == [0.0]


@pytest.mark.parametrize("form", ["seconds", "date"])
async def test_retry_after_beyond_max_delay_is_clamped(
    queue: MemoryQueue, clock: VirtualClock, asgi: InProcess, form: str
) -> None:
    retry_after = "86400" if form == "seconds" else http_date(clock.now() + 86400)
    endpoint = asgi.receiver.endpoint(Reply(503, headers={"Retry-After": retry_after}), 200)
    sub = to(endpoint).retry_policy(exact(base_delay=60, max_delay=900))
    delivery_id = await run_in_process(queue, asgi, sub)

    assert gaps(await queue.history(delivery_id)) == [900.0]


@pytest.mark.parametrize(
    "garbage", ["soon", "-5", "1.5", "120 seconds", "Wed, 99 Foo 2023 25:61:00 GMT", ""]
)
async def test_garbage_retry_after_falls_back_to_the_policy(
    queue: MemoryQueue, asgi: InProcess, garbage: str
) -> None:
    endpoint = asgi.receiver.endpoint(Reply(503, headers={"Retry-After": garbage}), 503, 200)
    sub = to(endpoint).retry_policy(exact(base_delay=45, factor=3))
    delivery_id = await run_in_process(queue, asgi, sub)

    history = await queue.history(delivery_id)
    assert [r.status for r in history] == [503, 503, 200]
    assert gaps(history) == [45.0, 135.0]


async def test_retry_after_on_a_fatal_status_does_not_make_it_retried(
    queue: MemoryQueue, asgi: InProcess
) -> None:
    endpoint = asgi.receiver.endpoint(Reply(400, headers={"Retry-After": "10"}), 200)
    await run_in_process(queue, asgi, to(endpoint))

    assert len(endpoint.requests) == 1
    [dead] = queue.dead_letters
    assert dead.last_status == 400


# --- the backoff schedule -------------------------------------------------------------------


async def test_backoff_gaps_double_exactly(queue: MemoryQueue, asgi: InProcess) -> None:
    endpoint = asgi.receiver.endpoint(503)
    policy = RetryPolicy(base_delay=1, factor=2, jitter=0, max_attempts=5)
    delivery_id = await run_in_process(queue, asgi, to(endpoint).retry_policy(policy))

    history = await queue.history(delivery_id)
    assert gaps(history) == [1.0, 2.0, 4.0, 8.0]
    assert len(endpoint.requests) == 5
    [dead] = queue.dead_letters
    assert (dead.attempts, dead.last_status) == (5, 503)


async def test_backoff_is_capped_at_max_delay(queue: MemoryQueue, asgi: InProcess) -> None:
    endpoint = asgi.receiver.endpoint(503)
    policy = RetryPolicy(base_delay=10, factor=3, jitter=0, max_attempts=6, max_delay=200)
    delivery_id = await run_in_process(queue, asgi, to(endpoint).retry_policy(policy))

    assert gaps(await queue.history(delivery_id)) == [10.0, 30.0, 90.0, 200.0, 200.0]


async def test_the_default_policy_runs_ten_hours_of_backoff_on_the_virtual_clock(
    queue: MemoryQueue, clock: VirtualClock, asgi: InProcess
) -> None:
    endpoint = asgi.receiver.endpoint(503)
    sub = WebhookSubscription(endpoint.url, SECRET)  # the default RetryPolicy, jitter included
    delivery_id = await run_in_process(queue, asgi, sub)

    history = await queue.history(delivery_id)
    assert len(history) == len(endpoint.requests) == 8
    nominal = RetryPolicy().schedule()
    assert nominal == [300.0 * 2**n for n in range(7)]
    for gap, expected in zip(gaps(history), nominal, strict=True):
        assert expected * 0.9 <= gap <= expected * 1.1
    assert clock.now() - START > 9 * 3600
    [dead] = queue.dead_letters
    assert dead.attempts == 8


# --- what every retry sends -----------------------------------------------------------------


async def test_every_retry_sends_the_same_id_and_the_same_bytes(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    endpoint = live_receiver.endpoint(500, 502, Reply(503, headers={"Retry-After": "5"}), 200)
    delivery_id = await run_on_socket(queue, stack, to(endpoint))

    assert len(endpoint.requests) == 4
    assert endpoint.ids == [delivery_id] * 4
    assert [request.body for request in endpoint.requests] == [BODY] * 4
    assert json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False).encode() == BODY
    for request in endpoint.requests:
        assert request.headers["content-length"] == str(len(BODY))
        assert json.loads(request.body) == PAYLOAD
    signatures = {request.headers["x-webhook-signature"] for request in endpoint.requests}
    assert len(signatures) == 1  # body-only format: signed once, at dispatch


async def test_the_headers_follow_the_wire_contract(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    endpoint = live_receiver.endpoint(503, 200)
    sub = to(endpoint).header("X-Tenant-Id", "acme").header("X-Trace", "t-1")
    delivery_id = await run_on_socket(queue, stack, sub)

    assert len(endpoint.requests) == 2
    for request in endpoint.requests:
        headers = request.headers
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == USER_AGENT == f"webhook-kit/{__version__}"
        assert headers["x-webhook-id"] == delivery_id
        assert headers["x-webhook-event"] == EVENT
        assert headers["x-webhook-signature"].startswith("sha256=")
        assert headers["x-tenant-id"] == "acme"
        assert headers["x-trace"] == "t-1"


async def test_a_subscription_user_agent_replaces_webhook_kits(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    endpoint = live_receiver.endpoint(200)
    await run_on_socket(queue, stack, to(endpoint).header("User-Agent", "acme-hooks/2.1"))

    [request] = endpoint.requests
    assert request.headers["user-agent"] == "acme-hooks/2.1"


async def test_the_target_url_is_requested_as_given(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    """A query with escaped reserved characters (a signed URL's token) arrives unchanged.

    RFC 3986 2.2: a reserved character and its percent-encoding are not equivalent, and a
    receiver checking a token over its raw query sees the difference.
    """
    endpoint = live_receiver.endpoint(200)
    query = "sig=ab%2Fcd%2B%3D%3D&next=%3F%40%3A&plain=a+b"
    sub = WebhookSubscription(f"{endpoint.url}?{query}", SECRET).allow_private_targets(True)
    await run_on_socket(queue, stack, sub)

    [request] = endpoint.requests
    assert request.query.decode() == query


# --- signatures -----------------------------------------------------------------------------


def verified_at(
    endpoint: Endpoint,
    starts: list[float],
    fmt: SignatureFormat,
    secret: SecretOrSecrets = SECRET,
) -> list[int | None]:
    """Verify every request the endpoint got at its attempt's time; return the timestamps."""
    timestamps = []
    for request, now in zip(endpoint.requests, starts, strict=True):
        webhook = verify(request.body, request.headers, secret, scheme=fmt, now=now)
        assert webhook.body == BODY
        assert webhook.id == request.id
        assert webhook.event == EVENT
        timestamps.append(webhook.timestamp)
    return timestamps


@pytest.mark.parametrize("fmt", list(SignatureFormat))
async def test_every_attempt_verifies_at_the_receiver(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, fmt: SignatureFormat
) -> None:
    endpoint = live_receiver.endpoint(503, 200)
    delivery_id = await run_on_socket(queue, stack, to(endpoint).signature_format(fmt))

    history = await queue.history(delivery_id)
    assert [r.outcome for r in history] == ["retry", "delivered"]
    verified_at(endpoint, [r.started_at for r in history], fmt)
    if fmt is SignatureFormat.STANDARD_WEBHOOKS:
        for request in endpoint.requests:
            assert request.headers["webhook-id"] == delivery_id
            assert request.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(VerificationError):
        verify(BODY, endpoint.requests[0].headers, b"another-secret", scheme=fmt, now=START)


@pytest.mark.parametrize("fmt", TIMESTAMPED)
async def test_a_timestamped_retry_hours_later_is_signed_at_its_own_time(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, fmt: SignatureFormat
) -> None:
    hour = Reply(503, headers={"Retry-After": "3600"})
    endpoint = live_receiver.endpoint(hour, hour, 200)
    delivery_id = await run_on_socket(queue, stack, to(endpoint).signature_format(fmt))

    history = await queue.history(delivery_id)
    starts = [r.started_at for r in history]
    assert starts == [START, START + 3600, START + 7200]
    # Each verifies with the default tolerance at its attempt's time, and carries that time.
    timestamps = verified_at(endpoint, starts, fmt)
    assert timestamps == [int(START), int(START + 3600), int(START + 7200)]
    if fmt is SignatureFormat.STANDARD_WEBHOOKS:
        assert endpoint.requests[2].headers["webhook-timestamp"] == str(int(START) + 7200)
    # A dispatch-time signature would have been refused two hours later.
    assert DEFAULT_TOLERANCE < 7200
    last = endpoint.requests[2]
    with pytest.raises(VerificationError):
        verify(last.body, last.headers, SECRET, scheme=fmt, now=START)
    assert secret_memory_of(queue).get(delivery_id) is None  # forgotten once delivered


# --- rotation -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", TIMESTAMPED)
async def test_during_rotation_a_receiver_knowing_only_the_old_secret_accepts(
    queue: MemoryQueue, asgi: InProcess, fmt: SignatureFormat
) -> None:
    endpoint = asgi.receiver.endpoint(503, 200)
    sub = to(endpoint, [NEW, OLD]).signature_format(fmt)
    delivery_id = await run_in_process(queue, asgi, sub)

    starts = [r.started_at for r in await queue.history(delivery_id)]
    verified_at(endpoint, starts, fmt, OLD)
    verified_at(endpoint, starts, fmt, NEW)


@pytest.mark.parametrize("fmt", BODY_ONLY)
async def test_during_rotation_a_body_only_format_signs_with_the_first_secret(
    queue: MemoryQueue, asgi: InProcess, fmt: SignatureFormat
) -> None:
    endpoint = asgi.receiver.endpoint(200)
    sub = to(endpoint, [NEW, OLD]).signature_format(fmt)
    await run_in_process(queue, asgi, sub)

    [request] = endpoint.requests
    verify(request.body, request.headers, NEW, scheme=fmt)
    verify(request.body, request.headers, [OLD, NEW], scheme=fmt)
    with pytest.raises(VerificationError):
        verify(request.body, request.headers, OLD, scheme=fmt)


# --- secrets across processes ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", TIMESTAMPED)
async def test_a_timestamped_job_without_its_secret_is_dead_lettered_with_the_fix(
    queue: MemoryQueue, asgi: InProcess, fmt: SignatureFormat
) -> None:
    endpoint = asgi.receiver.endpoint(200)
    await WebhookSubscription.register(queue, client=asgi.client)
    delivery_id = await to(endpoint).signature_format(fmt).dispatch(queue, EVENT, PAYLOAD)
    secret_memory_of(queue).forget(delivery_id)  # as if dispatched by another process
    await Worker(queue).run_until_idle()

    assert endpoint.requests == []
    [dead] = queue.dead_letters
    assert dead.id == delivery_id
    assert dead.attempts == 1
    assert "secrets=" in dead.reason
    assert "register" in dead.reason
    assert SECRET not in dead.event.to_json()


@pytest.mark.parametrize("fmt", TIMESTAMPED)
async def test_a_redriven_timestamped_dead_letter_is_signed_again_in_this_process(
    queue: MemoryQueue, clock: VirtualClock, asgi: InProcess, fmt: SignatureFormat
) -> None:
    endpoint = asgi.receiver.endpoint(400, 200)  # a receiver bug, fixed before the redrive
    delivery_id = await run_in_process(queue, asgi, to(endpoint).signature_format(fmt))
    [dead] = queue.dead_letters
    assert dead.last_status == 400

    clock.advance(86400)  # the operator redrives a day later
    await queue.redrive(delivery_id)
    await Worker(queue).run_until_idle()

    assert queue.dead_letters == ()
    history = await queue.history(delivery_id)
    assert [(r.status, r.outcome) for r in history] == [(400, "dead"), (200, "delivered")]
    timestamps = verified_at(endpoint, [r.started_at for r in history], fmt)
    assert timestamps == [int(START), int(START) + 86400]


def sync_resolver(seen: list[WebhookEvent]) -> Callable[[WebhookEvent], SecretOrSecrets]:
    def resolve(event: WebhookEvent) -> SecretOrSecrets:
        seen.append(event)
        return SECRET

    return resolve


def async_resolver(
    seen: list[WebhookEvent],
) -> Callable[[WebhookEvent], Awaitable[SecretOrSecrets]]:
    async def resolve(event: WebhookEvent) -> SecretOrSecrets:
        seen.append(event)
        return SECRET

    return resolve


@pytest.mark.parametrize("make_resolver", [sync_resolver, async_resolver], ids=["sync", "async"])
@pytest.mark.parametrize("fmt", TIMESTAMPED)
async def test_a_secrets_resolver_delivers_what_another_process_dispatched(
    queue: MemoryQueue,
    asgi: InProcess,
    fmt: SignatureFormat,
    make_resolver: Callable[[list[WebhookEvent]], SecretResolver],
) -> None:
    seen: list[WebhookEvent] = []
    endpoint = asgi.receiver.endpoint(503, 200)
    await WebhookSubscription.register(
        queue,
        client=asgi.client,
        secrets=make_resolver(seen),
    )
    delivery_id = await to(endpoint).signature_format(fmt).dispatch(queue, EVENT, PAYLOAD)
    secret_memory_of(queue).forget(delivery_id)
    await Worker(queue).run_until_idle()

    history = await queue.history(delivery_id)
    assert [r.outcome for r in history] == ["retry", "delivered"]
    assert [event.id for event in seen] == [delivery_id] * 2  # asked at each attempt
    assert seen[0].event == EVENT
    verified_at(endpoint, [r.started_at for r in history], fmt)
    assert queue.dead_letters == ()


@pytest.mark.parametrize("fmt", BODY_ONLY)
async def test_a_body_only_job_needs_no_secret_in_the_worker_process(
    queue: MemoryQueue, asgi: InProcess, fmt: SignatureFormat
) -> None:
    endpoint = asgi.receiver.endpoint(503, 200)
    await WebhookSubscription.register(queue, client=asgi.client)  # no resolver
    delivery_id = await to(endpoint).signature_format(fmt).dispatch(queue, EVENT, PAYLOAD)
    assert secret_memory_of(queue).get(delivery_id) is None  # signed at dispatch, nothing kept
    await Worker(queue).run_until_idle()

    history = await queue.history(delivery_id)
    assert [r.outcome for r in history] == ["retry", "delivered"]
    verified_at(endpoint, [r.started_at for r in history], fmt)


@pytest.mark.parametrize("fmt", list(SignatureFormat))
async def test_the_secret_is_never_in_the_stored_job(
    queue: MemoryQueue, asgi: InProcess, fmt: SignatureFormat
) -> None:
    endpoint = asgi.receiver.endpoint(400)  # dead-lettered: the stored job is then visible
    await run_in_process(queue, asgi, to(endpoint, [NEW, OLD]).signature_format(fmt))

    [dead] = queue.dead_letters
    stored = dead.event.to_json()
    assert WebhookEvent.from_json(stored) == dead.event
    for secret in (NEW, OLD):
        assert secret not in stored
        assert secret.removeprefix("whsec_") not in stored
        assert base64.b64decode(secret.removeprefix("whsec_")).decode() not in stored
        assert secret not in repr(dead)
        assert secret not in repr(queue)
