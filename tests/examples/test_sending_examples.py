"""Run every sending example the docs show (docs/examples/sending_*.py), and check the page's
figures (the wire sample, the retry schedule) against the code, so docs/sending.md cannot drift.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest
from example_modules import load_example
from starlette.responses import Response

import webhook_kit
from uvicorn_threads import loopback_socket, serve_in_thread
from webhook_kit import (
    DEFAULT_RETRY_STATUS_CODES,
    HEADER_EVENT,
    HEADER_ID,
    HEADER_SIGNATURE,
    MAX_ATTEMPTS,
    USER_AGENT,
    MemoryQueue,
    RetryPolicy,
    SignatureFormat,
    VirtualClock,
    WebhookSubscription,
    Worker,
    verify,
)
from webhook_kit.http_stacks.httpx_stack import HttpxStack
from webhook_kit.registrations import handler_of, secret_memory_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
PAGE = ROOT / "docs" / "sending.md"
URL = "https://customer.example.com/hooks"
SECRET = "customer-secret"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ORDER = {"order_id": 42, "total": "19.99"}
BODY = b'{"order_id":42,"total":"19.99"}'


# The examples' own test receiver is the receiver of every test here.
testing = load_example("sending_testing")
RecordingReceiver = testing.RecordingReceiver


def section(heading: str) -> str:
    """The text of the page's section under ``heading`` (up to the next heading of any level)."""
    text = PAGE.read_text()
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#)", text, re.MULTILINE | re.DOTALL)
    assert match is not None, f"no section {heading!r} in {PAGE.name}"
    return match.group(1)


async def deliver(
    subscription: WebhookSubscription,
    receiver: Any,
    payload: Any = ORDER,
    *,
    clock: VirtualClock | None = None,
) -> tuple[MemoryQueue, str]:
    """Dispatch one delivery to ``receiver`` and run a worker until nothing is pending."""
    queue = MemoryQueue(clock=clock or VirtualClock())
    async with receiver.client() as client:
        await WebhookSubscription.register(queue, client=client)
        delivery_id = await subscription.dispatch(queue, "order.created", payload)
        await Worker(queue).run_until_idle()
    return queue, delivery_id


# -- sending_quickstart ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_quickstart_delivers_one_signed_webhook() -> None:
    example = load_example("sending_quickstart")
    receiver = RecordingReceiver()
    delivery_id = await example.main(client=receiver.client())
    [delivery] = receiver.deliveries
    assert delivery.path == "/hooks"
    assert delivery.body == BODY
    assert delivery.headers[HEADER_ID] == delivery_id
    assert delivery.headers["User-Agent"] == USER_AGENT
    webhook = verify(delivery.body, delivery.headers, SECRET)
    assert (webhook.id, webhook.event, webhook.json()) == (delivery_id, "order.created", ORDER)


# -- "What a delivery looks like": the wire sample on the page -------------------------------


def wire_sample() -> tuple[str, dict[str, str], bytes]:
    block = re.search(r"```http\n(.*?)```", section("What a delivery looks like"), re.DOTALL)
    assert block is not None
    head, _, body = block.group(1).partition("\n\n")
    request_line, *lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in lines)
    return request_line, headers, body.strip().encode()


@pytest.mark.anyio
async def test_the_wire_sample_is_what_a_delivery_sends() -> None:
    request_line, shown, body = wire_sample()
    assert request_line == "POST /hooks HTTP/1.1"
    subscription = WebhookSubscription(URL, SECRET).header("X-Tenant-Id", "acme")
    receiver = RecordingReceiver()
    _, delivery_id = await deliver(subscription, receiver)
    [delivery] = receiver.deliveries
    assert body == delivery.body == BODY
    # The sample shows webhook-kit's headers and Host; the HTTP client adds its own as well.
    sent = {name.lower(): value for name, value in delivery.headers.items()}
    expected = {name.lower(): value for name, value in shown.items()}
    client_headers = {"host", "accept", "accept-encoding", "connection", "content-length"}
    assert set(expected) - {"host"} == set(sent) - client_headers
    assert expected["user-agent"].startswith("webhook-kit/")
    assert sent["user-agent"] == USER_AGENT
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", delivery_id
    )
    for name in ("content-type", "x-webhook-event", "x-webhook-signature", "x-tenant-id"):
        assert sent[name] == expected[name], name
    assert expected["x-webhook-signature"] == webhook_kit.sign(BODY, SECRET)


@pytest.mark.anyio
async def test_standard_webhooks_headers_are_the_ones_the_page_lists() -> None:
    subscription = WebhookSubscription(URL, WHSEC).signature_format(
        SignatureFormat.STANDARD_WEBHOOKS
    )
    receiver = RecordingReceiver()
    queue, delivery_id = await deliver(subscription, receiver)
    [delivery] = receiver.deliveries
    assert delivery.headers["webhook-id"] == delivery.headers[HEADER_ID] == delivery_id
    assert delivery.headers["webhook-timestamp"] == str(int(queue.clock.now()))
    assert delivery.headers["webhook-signature"] == delivery.headers[HEADER_SIGNATURE]
    assert delivery.headers[HEADER_SIGNATURE].startswith("v1,")
    assert delivery.headers[HEADER_EVENT] == "order.created"
    # The Standard Webhooks preset (and so the standardwebhooks and svix libraries) accept it.
    now = queue.clock.now()
    verify(BODY, delivery.headers, WHSEC, scheme=webhook_kit.providers.STANDARD_WEBHOOKS, now=now)


@pytest.mark.anyio
async def test_a_body_only_signature_is_made_once_and_a_timestamped_one_at_each_attempt() -> None:
    body_only = WebhookSubscription(URL, SECRET)
    receiver = RecordingReceiver([503, 503])
    await deliver(body_only, receiver)
    assert len({d.headers[HEADER_SIGNATURE] for d in receiver.deliveries}) == 1

    timestamped = body_only.signature_format(SignatureFormat.STRIPE)
    receiver = RecordingReceiver([503, 503])
    queue, delivery_id = await deliver(timestamped, receiver)
    attempts = await queue.history(delivery_id)
    assert len({d.headers[HEADER_SIGNATURE] for d in receiver.deliveries}) == 3
    first, last = receiver.deliveries[0], receiver.deliveries[-1]
    # The first attempt's signature, checked when the last attempt arrives, is too old:
    # signing at each attempt is what keeps a retry within the receiver's window.
    scheme = SignatureFormat.STRIPE
    with pytest.raises(webhook_kit.VerificationError):
        verify(first.body, first.headers, SECRET, scheme=scheme, now=attempts[-1].started_at)
    verify(last.body, last.headers, SECRET, scheme=scheme, now=attempts[-1].started_at)


@pytest.mark.anyio
async def test_the_body_is_compact_json_serialised_once() -> None:
    receiver = RecordingReceiver([500])
    payload = {"note": "José", "items": [1, 2]}
    await deliver(WebhookSubscription(URL, SECRET), receiver, payload)
    assert [d.body for d in receiver.deliveries] == ['{"note":"José","items":[1,2]}'.encode()] * 2


def test_a_dispatch_that_raises_stores_nothing() -> None:
    queue = MemoryQueue(clock=VirtualClock())
    subscription = WebhookSubscription(URL, SECRET)
    with pytest.raises(webhook_kit.InvalidPayloadError):
        subscription.dispatch_sync(queue, "order.created", {"ids": {1, 2}})
    with pytest.raises(webhook_kit.InvalidInputError):
        subscription.dispatch_sync(queue, "", ORDER)
    assert anyio.run(queue.counts).pending == 0
    with pytest.raises(webhook_kit.InvalidHeaderError):
        subscription.header("X-Evil", "a\r\nInjected: 1")
    with pytest.raises(webhook_kit.InvalidTargetError):
        WebhookSubscription("ftp://customer.example.com/", SECRET)


# -- sending_subscriptions ------------------------------------------------------------------


def endpoint() -> Any:
    example = load_example("sending_subscriptions")
    return example.Endpoint(id="ep_1", url=URL, secret=WHSEC, tenant="acme")


@pytest.mark.anyio
async def test_subscription_for_applies_the_settings() -> None:
    example = load_example("sending_subscriptions")
    event = example.subscription_for(endpoint()).build_event("order.created", ORDER, now=0)
    assert event.subscription_id == "ep_1"
    assert event.signature_format is SignatureFormat.STANDARD_WEBHOOKS
    assert event.headers == (("X-Tenant-Id", "acme"),)
    assert (event.timeout, event.connect_timeout) == (10.0, 3.0)
    assert event.retry_policy == RetryPolicy()
    receiver = RecordingReceiver([409])  # retried, as the subscription asks
    queue, delivery_id = await deliver(example.subscription_for(endpoint()), receiver)
    assert [a.status for a in await queue.history(delivery_id)] == [409, 200]
    assert receiver.deliveries[-1].headers["X-Tenant-Id"] == "acme"
    scheme = SignatureFormat.STANDARD_WEBHOOKS
    last = receiver.deliveries[-1]
    verify(last.body, last.headers, WHSEC, scheme=scheme, now=queue.clock.now())


def test_billing_subscription_is_a_variant_that_leaves_the_template_alone() -> None:
    example = load_example("sending_subscriptions")
    billing = example.billing_subscription(endpoint()).build_event("invoice.paid", {}, now=0)
    assert billing.retry_policy == RetryPolicy(max_attempts=12, max_delay=12 * 3600)
    assert billing.retry_policy.schedule()[-3:] == [12 * 3600.0] * 3
    assert billing.headers == (("X-Tenant-Id", "acme"),)
    usual = example.subscription_for(endpoint())
    assert usual.retry_policy(RetryPolicy(2)) is not usual
    assert usual.build_event("x", {}, now=0).retry_policy == RetryPolicy()


# -- sending_service ------------------------------------------------------------------------


async def wait_for(condition: Any, limit: float = 60.0) -> None:
    for _ in range(int(limit / 0.01)):
        if condition():
            return
        await anyio.sleep(0.01)
    raise AssertionError("the condition did not come true in time")


@pytest.mark.anyio
async def test_service_delivers_while_it_runs_and_stops_with_the_app() -> None:
    example = load_example("sending_service")
    receiver = RecordingReceiver([503])  # the retry is 5 minutes away at shutdown
    app = example.create_app(URL, SECRET, client=receiver.client())
    # Leaving the lifespan stops the worker: it does not wait for the 5-minute retry (a stop
    # that did would outlast this bound).
    with anyio.fail_after(120):
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop") as shop:
                created = await shop.post("/orders", json=ORDER)
                second = await shop.post("/orders", json={**ORDER, "order_id": 43})
            assert created.status_code == 201
            await wait_for(lambda: len(receiver.deliveries) == 2)
    queue = app.state.webhook_queue
    counts = await queue.counts()
    assert (counts.delivered, counts.pending, counts.in_flight) == (1, 1, 0)
    ids = {created.json()["webhook"], second.json()["webhook"]}
    assert {d.headers[HEADER_ID] for d in receiver.deliveries} == ids
    for delivery in receiver.deliveries:
        verify(delivery.body, delivery.headers, SECRET)


# -- sending_flask_app ----------------------------------------------------------------------


def test_flask_view_dispatches_and_the_worker_thread_delivers() -> None:
    example = load_example("sending_flask_app")
    receiver = RecordingReceiver()
    client = receiver.client()
    queue = MemoryQueue()
    app = example.create_app(queue, URL, SECRET)
    with example.worker_thread(queue, client=client):
        response = app.test_client().post("/orders", json=ORDER)
        assert response.status_code == 201
        deadline = time.monotonic() + 60
        while not receiver.deliveries and time.monotonic() < deadline:
            time.sleep(0.01)
    anyio.run(client.aclose)
    [delivery] = receiver.deliveries
    assert delivery.headers[HEADER_ID] == response.get_json()["webhook"]
    assert verify(delivery.body, delivery.headers, SECRET).json() == ORDER


# -- "What happens to an attempt": the outcome table -----------------------------------------


async def first_outcome(status: int | Response, subscription: WebhookSubscription) -> str:
    queue = MemoryQueue(clock=VirtualClock())
    receiver = RecordingReceiver([status])
    async with receiver.client() as client:
        await WebhookSubscription.register(queue, client=client)
        delivery_id = await subscription.dispatch(queue, "order.created", ORDER)
        await Worker(queue).run_until_idle()
    outcome: str = (await queue.history(delivery_id))[0].outcome
    assert len(receiver.deliveries) == (2 if outcome == "retry" else 1)
    return outcome


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (202, "delivered"),
        (204, "delivered"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
        (599, "retry"),
        (301, "dead"),
        (302, "dead"),
        (307, "dead"),
        (400, "dead"),
        (401, "dead"),
        (404, "dead"),
        (409, "dead"),
        (422, "dead"),
        (410, "dead"),
    ],
)
async def test_outcome_table(status: int, outcome: str) -> None:
    assert await first_outcome(status, WebhookSubscription(URL, SECRET)) == outcome


@pytest.mark.anyio
async def test_added_retry_codes_are_retried() -> None:
    subscription = WebhookSubscription(URL, SECRET).retry_status_codes([409, 425])
    assert await first_outcome(409, subscription) == "retry"
    assert await first_outcome(425, subscription) == "retry"
    assert await first_outcome(422, subscription) == "dead"
    assert {408, 429, 500, 599} <= DEFAULT_RETRY_STATUS_CODES


@pytest.mark.anyio
async def test_a_redirect_is_not_followed() -> None:
    redirect = Response(status_code=302, headers={"Location": "https://elsewhere.example/"})
    assert await first_outcome(redirect, WebhookSubscription(URL, SECRET)) == "dead"


@pytest.mark.anyio
async def test_410_is_dead_and_gone() -> None:
    queue, _ = await deliver(WebhookSubscription(URL, SECRET), RecordingReceiver([410]))
    [dead] = queue.dead_letters
    assert dead.gone
    assert dead.reason == "the receiver answered 410 Gone: the endpoint is gone"


async def delays(script: list[int | Response], policy: RetryPolicy | None = None) -> list[float]:
    subscription = WebhookSubscription(URL, SECRET)
    if policy is not None:
        subscription = subscription.retry_policy(policy)
    queue, delivery_id = await deliver(subscription, RecordingReceiver(script))
    starts = [attempt.started_at for attempt in await queue.history(delivery_id)]
    return [later - earlier for earlier, later in itertools.pairwise(starts)]


@pytest.mark.anyio
async def test_retry_after_in_seconds_and_as_a_date_is_honoured_and_clamped() -> None:
    start = VirtualClock().now()
    in_ten_minutes = email.utils.formatdate(start + 600, usegmt=True)
    script: list[int | Response] = [
        Response(status_code=503, headers={"Retry-After": "120"}),
        Response(status_code=429, headers={"Retry-After": in_ten_minutes}),
        Response(status_code=503, headers={"Retry-After": str(3 * 24 * 3600)}),
    ]
    assert (await delays(script))[:3] == [120.0, 600.0 - 120.0, 6 * 3600.0]


@pytest.mark.anyio
async def test_a_delivery_is_dead_lettered_after_max_attempts() -> None:
    queue, delivery_id = await deliver(
        WebhookSubscription(URL, SECRET), RecordingReceiver([503] * 8)
    )
    [dead] = queue.dead_letters
    assert (dead.attempts, dead.last_status) == (MAX_ATTEMPTS, 503)
    assert dead.reason == "gave up after 8 attempts; the last: status 503"
    waited = queue.clock.now() - (await queue.history(delivery_id))[0].started_at
    assert 0.9 * 635 * 60 <= waited <= 1.1 * 635 * 60


# -- sending_dead_letters -------------------------------------------------------------------


@pytest.mark.anyio
async def test_dead_letters_are_redriven_except_the_gone(caplog: pytest.LogCaptureFixture) -> None:
    example = load_example("sending_dead_letters")
    queue = MemoryQueue(clock=VirtualClock())
    not_found = Response('{"error":"no such hook"}', status_code=404)
    receiver = RecordingReceiver([not_found, 410])
    async with receiver.client() as client:
        await WebhookSubscription.register(queue, client=client)
        worker = Worker(queue)
        subscription = WebhookSubscription(URL + "?token=hidden", SECRET)
        broken = await subscription.dispatch(queue, "order.created", ORDER)
        await worker.run_until_idle()
        # Another endpoint: a 410 disables its endpoint, and the redrive below goes to the first.
        retired = WebhookSubscription(URL + "/retired?token=hidden", SECRET)
        gone = await retired.dispatch(queue, "order.created", ORDER)
        await worker.run_until_idle()

        [first, second] = await queue.list_dead_letters()
        assert (first.id, first.last_status, first.attempts) == (broken, 404, 1)
        assert first.response_excerpt == '{"error":"no such hook"}'
        assert first.reason == "the receiver answered 404, a client error: not retried"
        assert (second.id, second.gone) == (gone, True)

        with caplog.at_level(logging.WARNING):
            report = await example.redrive_dead_letters(queue)
        assert report.redriven == [broken]
        assert [dead.id for dead in report.gone] == [gone]
        assert "no such hook" in caplog.text
        assert "hidden" not in caplog.text  # the URL's query string is not logged
        await worker.run_until_idle()  # the receiver answers 200 now

    assert [dead.id for dead in queue.dead_letters] == [gone]
    history = await queue.history(broken)
    assert [(a.attempt, a.status, a.outcome) for a in history] == [
        (1, 404, "dead"),
        (1, 200, "delivered"),
    ]
    redelivered = [d for d in receiver.deliveries if d.headers[HEADER_ID] == broken]
    assert len(redelivered) == 2
    assert redelivered[0].body == redelivered[1].body
    with pytest.raises(webhook_kit.UnknownDeliveryError):
        await queue.redrive(broken)


# -- "The retry schedule": the table on the page, and sending_retry_policies ----------------


def minutes(text: str) -> float:
    hours = re.search(r"(\d+) h", text)
    mins = re.search(r"(\d+) min", text)
    assert hours or mins, text
    return (int(hours.group(1)) if hours else 0) * 60 + (int(mins.group(1)) if mins else 0)


def test_the_schedule_table_is_the_default_policy() -> None:
    rows = re.findall(
        r"^\| (\d) \| ([^|]+) \| ([^|]+) \|$", section("The retry schedule"), re.MULTILINE
    )
    assert [int(attempt) for attempt, _, _ in rows] == list(range(1, MAX_ATTEMPTS + 1))
    schedule = RetryPolicy().schedule()
    assert [minutes(delay) for _, delay, _ in rows[1:]] == [s / 60 for s in schedule]
    elapsed = [sum(schedule[:n]) / 60 for n in range(len(schedule) + 1)]
    assert [0.0] + [minutes(since) for _, _, since in rows[1:]] == elapsed
    assert sum(schedule) / 3600 == pytest.approx(10.58, abs=0.01)  # "10.6 hours"
    assert (RetryPolicy().jitter, RetryPolicy().max_delay) == (0.1, 6 * 3600)


def test_the_reference_schedules_add_up_to_what_the_page_says() -> None:
    prototype = RetryPolicy(base_delay=1, factor=2, jitter=0).schedule()
    assert sum(prototype) == 127  # "about two minutes"
    svix = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600]
    assert len(svix) + 1 == MAX_ATTEMPTS
    assert sum(svix) / 3600 == pytest.approx(27.6, abs=0.05)  # "about 27 hours"


def test_the_long_policy_is_about_26_hours() -> None:
    example = load_example("sending_retry_policies")
    assert RetryPolicy() == example.DEFAULT
    assert example.LONG.schedule() == [60, 240, 960, 3840, 15360, 36000, 36000]
    assert sum(example.LONG.schedule()) / 3600 == pytest.approx(25.7, abs=0.05)
    assert example.QUICK.schedule() == [0.05, 0.1]
    sub = example.long_lived(WebhookSubscription(URL, SECRET))
    assert sub.build_event("x", {}, now=0).retry_policy == example.LONG


@pytest.mark.anyio
async def test_the_long_policy_on_a_virtual_clock() -> None:
    example = load_example("sending_retry_policies")
    waits = await delays([503] * 7, example.LONG)
    for wait, planned in zip(waits, example.LONG.schedule(), strict=True):
        assert planned * 0.9 <= wait <= planned * 1.1


@pytest.mark.anyio
async def test_the_quick_policy_on_a_real_clock() -> None:
    example = load_example("sending_retry_policies")
    queue = MemoryQueue()  # the system clock: real sleeps
    receiver = RecordingReceiver([503, 503])
    subscription = WebhookSubscription(URL, SECRET).retry_policy(example.QUICK)
    async with receiver.client() as client:
        await WebhookSubscription.register(queue, client=client)
        delivery_id = await subscription.dispatch(queue, "order.created", ORDER)
        with anyio.fail_after(60):
            await Worker(queue).run_until_idle()
    attempts = await queue.history(delivery_id)
    assert [a.status for a in attempts] == [503, 503, 200]
    assert attempts[2].started_at - attempts[0].started_at >= 0.15


# -- sending_secret_resolver ----------------------------------------------------------------


@pytest.fixture
def resolver_example() -> Iterator[ModuleType]:
    example = load_example("sending_secret_resolver")
    example.ENDPOINT_SECRETS.clear()
    example.ENDPOINT_SECRETS["ep_1"] = WHSEC
    yield example
    example.ENDPOINT_SECRETS.clear()


async def deliver_from_another_process(
    queue: MemoryQueue, subscription: WebhookSubscription, receiver: Any, *, resolver: bool
) -> str:
    """Enqueue the way another process would: the queue's memory never sees the secret."""
    example = load_example("sending_secret_resolver")
    job = subscription.build_event("order.created", ORDER, now=queue.clock.now())
    await queue.enqueue(job)
    async with receiver.client() as client:
        secrets = example.secret_for if resolver else None
        await WebhookSubscription.register(queue, client=client, secrets=secrets)
        await Worker(queue).run_until_idle()
    return str(job.id)


@pytest.mark.anyio
async def test_a_worker_in_another_process_signs_with_the_resolved_secret(
    resolver_example: ModuleType,
) -> None:
    queue = MemoryQueue(clock=VirtualClock())
    subscription = resolver_example.subscription_for("ep_1", URL)
    receiver = RecordingReceiver()
    await deliver_from_another_process(queue, subscription, receiver, resolver=True)
    [delivery] = receiver.deliveries
    scheme = SignatureFormat.STANDARD_WEBHOOKS
    verify(delivery.body, delivery.headers, WHSEC, scheme=scheme, now=queue.clock.now())


@pytest.mark.anyio
async def test_without_a_resolver_the_delivery_is_dead_lettered_with_the_fix(
    resolver_example: ModuleType,
) -> None:
    queue = MemoryQueue(clock=VirtualClock())
    subscription = resolver_example.subscription_for("ep_1", URL)
    receiver = RecordingReceiver()
    await deliver_from_another_process(queue, subscription, receiver, resolver=False)
    [dead] = queue.dead_letters
    assert dead.reason == (  # quoted on the page
        "standard_webhooks is signed at each attempt and this process has no secret for it: "
        "register the worker with WebhookSubscription.register(queue, secrets=resolver)"
    )
    assert dead.attempts == 1
    assert receiver.deliveries == []


@pytest.mark.anyio
async def test_a_resolver_that_finds_nothing_dead_letters_the_delivery(
    resolver_example: ModuleType,
) -> None:
    queue = MemoryQueue(clock=VirtualClock())
    subscription = resolver_example.subscription_for("ep_1", URL)
    resolver_example.ENDPOINT_SECRETS.clear()  # the subscription was deleted meanwhile
    await deliver_from_another_process(queue, subscription, RecordingReceiver(), resolver=True)
    assert "no secret" in queue.dead_letters[0].reason


@pytest.mark.anyio
async def test_body_only_formats_need_no_resolver() -> None:
    queue = MemoryQueue(clock=VirtualClock())
    receiver = RecordingReceiver()
    subscription = WebhookSubscription(URL, SECRET)
    await deliver_from_another_process(queue, subscription, receiver, resolver=False)
    [delivery] = receiver.deliveries
    verify(delivery.body, delivery.headers, SECRET)


@pytest.mark.anyio
async def test_the_secret_is_never_in_the_stored_job(resolver_example: ModuleType) -> None:
    for subscription in (
        resolver_example.subscription_for("ep_1", URL),
        WebhookSubscription(URL, WHSEC),
    ):
        stored = subscription.build_event("order.created", ORDER, now=0).to_json()
        assert WHSEC not in stored
        assert WHSEC.removeprefix("whsec_") not in stored


@pytest.mark.anyio
async def test_start_delivering_registers_the_resolver(resolver_example: ModuleType) -> None:
    queue = MemoryQueue(clock=VirtualClock())
    handler: webhook_kit.DeliveryHandler = await resolver_example.start_delivering(queue)
    try:
        assert handler_of(queue) is handler
        assert handler.secrets is resolver_example.secret_for
    finally:
        await handler.aclose()


@pytest.mark.anyio
async def test_redriving_a_timestamped_delivery_in_process_needs_no_resolver(
    resolver_example: ModuleType,
) -> None:
    # In-process, the secret is kept while the delivery is a dead letter: a redrive signs again.
    queue = MemoryQueue(clock=VirtualClock())
    subscription = resolver_example.subscription_for("ep_1", URL)
    receiver = RecordingReceiver([400])
    async with receiver.client() as client:
        await WebhookSubscription.register(queue, client=client)
        delivery_id = await subscription.dispatch(queue, "order.created", ORDER)
        await Worker(queue).run_until_idle()
        assert len(queue.dead_letters) == 1
        await queue.redrive(delivery_id)
        await Worker(queue).run_until_idle()
    assert [a.status for a in await queue.history(delivery_id)] == [400, 200]
    assert secret_memory_of(queue).get(delivery_id) is None  # dropped once delivered


@pytest.mark.anyio
async def test_a_resolver_that_raises_makes_a_retry(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def flaky(event: webhook_kit.WebhookEvent) -> str:
        calls.append(event.id)
        if len(calls) == 1:
            raise ConnectionError("the database is down")
        return WHSEC

    queue = MemoryQueue(clock=VirtualClock())
    subscription = WebhookSubscription(URL, WHSEC).signature_format(SignatureFormat.STRIPE)
    job = subscription.build_event("order.created", ORDER, now=queue.clock.now())
    await queue.enqueue(job)
    receiver = RecordingReceiver()
    with caplog.at_level(logging.ERROR, logger="webhook_kit.delivery"):
        async with receiver.client() as client:
            await WebhookSubscription.register(queue, client=client, secrets=flaky)
            await Worker(queue).run_until_idle()
    history = await queue.history(job.id)
    assert [(a.outcome, a.error) for a in history] == [
        ("retry", "ConnectionError: the database is down"),
        ("delivered", None),
    ]
    assert "the database is down" in caplog.text


@pytest.mark.anyio
async def test_each_attempt_is_logged_with_structured_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="webhook_kit.delivery"):
        _, delivery_id = await deliver(WebhookSubscription(URL, SECRET), RecordingReceiver())
    [record] = [r for r in caplog.records if r.name == "webhook_kit.delivery"]
    fields = ("webhook_id", "webhook_event", "attempt", "status", "error", "latency", "outcome")
    values = {name: getattr(record, name) for name in fields}
    assert {k: v for k, v in values.items() if k != "latency"} == {
        "webhook_id": delivery_id,
        "webhook_event": "order.created",
        "attempt": 1,
        "status": 200,
        "error": None,
        "outcome": "delivered",
    }


# -- sending_payload_limits -----------------------------------------------------------------


@pytest.mark.anyio
async def test_payload_limits_example() -> None:
    example = load_example("sending_payload_limits")
    queue = MemoryQueue(clock=VirtualClock(0))
    large = {"rows": "x" * (6 * 1024 * 1024)}  # over the default 5 MiB, under the export cap
    default = WebhookSubscription(URL, SECRET)
    assert await example.dispatch_or_log(default, queue, "export.ready", large) is None
    assert await example.dispatch_or_log(default, queue, "stock.changed", {7: 1}) is None
    assert (await queue.counts()).pending == 0
    export = example.export_subscription(URL, SECRET)
    event = export.build_event("export.ready", large, now=0)
    assert event.signature is not None
    headers = {HEADER_SIGNATURE: event.signature}
    verify(event.body_bytes, headers, SECRET, max_body_bytes=example.EXPORT_LIMIT)
    delivery_id = await example.send_stock_levels(default, queue, {7: 1, 8: 0})
    [claim] = await queue.claim(1, lease_grace=5)
    assert claim.event.id == delivery_id
    assert json.loads(claim.event.body) == {"levels": {"7": 1, "8": 0}}


# -- sending_private_targets: the network guard, on real sockets ----------------------------


@contextmanager
def served(app: Any) -> Iterator[int]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a background thread; yield its port."""
    sock = loopback_socket()
    with serve_in_thread(app, sock):
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[Any, int]]:
    receiver = RecordingReceiver()
    with served(receiver.app) as port:
        yield receiver, port


STACKS = {"aiohttp": None, "httpx": HttpxStack}


@asynccontextmanager
async def real_network(stack_name: str) -> AsyncIterator[MemoryQueue]:
    """A queue whose deliveries go through a real, guarded network stack."""
    queue = MemoryQueue(clock=VirtualClock())
    factory = STACKS[stack_name]
    handler = await WebhookSubscription.register(
        queue, stack=None if factory is None else factory()
    )
    try:
        yield queue
    finally:
        await handler.aclose()
        if factory is not None:
            await handler.stack.aclose()


async def attempt_once(stack_name: str, subscription: WebhookSubscription) -> Any:
    async with real_network(stack_name) as queue:
        delivery_id = await subscription.dispatch(queue, "order.created", ORDER)
        await Worker(queue).run_until_idle()
        return (await queue.history(delivery_id))[0]


@pytest.mark.anyio
@pytest.mark.parametrize("stack_name", STACKS)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_guard_refuses_loopback_by_default(
    loopback: tuple[Any, int], stack_name: str, host: str
) -> None:
    receiver, port = loopback
    before = len(receiver.deliveries)
    attempt = await attempt_once(stack_name, WebhookSubscription(f"http://{host}:{port}/", SECRET))
    assert attempt.outcome == "dead"
    assert f"refused to connect to {host} (127.0.0.1): not a public address; " in attempt.error
    assert len(receiver.deliveries) == before  # no request left


@pytest.mark.anyio
@pytest.mark.parametrize("stack_name", STACKS)
async def test_the_guard_refuses_the_metadata_address(stack_name: str) -> None:
    url = "http://169.254.169.254/latest/meta-data/"
    attempt = await attempt_once(stack_name, WebhookSubscription(url, SECRET))
    assert (attempt.outcome, attempt.status) == ("dead", None)
    assert "169.254.169.254" in attempt.error


@pytest.mark.anyio
@pytest.mark.parametrize("stack_name", STACKS)
async def test_opted_in_subscriptions_reach_loopback(
    loopback: tuple[Any, int], stack_name: str
) -> None:
    example = load_example("sending_private_targets")
    receiver, port = loopback
    url = f"http://localhost:{port}/hooks"
    attempt = await attempt_once(stack_name, example.development_subscription(url, SECRET))
    assert (attempt.outcome, attempt.status) == ("delivered", 200)
    delivery = receiver.deliveries[-1]
    assert verify(delivery.body, delivery.headers, SECRET).json() == ORDER
    # An allow-list opens only its own networks: loopback stays refused.
    attempt = await attempt_once(stack_name, example.internal_subscription(url, SECRET))
    assert attempt.outcome == "dead"
    listed = WebhookSubscription(url, SECRET).allow_private_targets(["127.0.0.0/8"])
    assert (await attempt_once(stack_name, listed)).outcome == "delivered"


def test_internal_subscription_allows_its_networks_only() -> None:
    import ipaddress

    example = load_example("sending_private_targets")
    network = example.internal_subscription(URL, SECRET).build_event("x", {}, now=0).network
    assert network.allows(ipaddress.ip_address("10.20.1.5"))
    assert network.allows(ipaddress.ip_address("fd12:3456:789a::1"))
    assert network.allows(ipaddress.ip_address("8.8.8.8"))  # public addresses always
    for refused in ("10.21.0.1", "127.0.0.1", "169.254.169.254", "100.64.0.1", "fd00::1"):
        assert not network.allows(ipaddress.ip_address(refused)), refused


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",  # noqa: S104 (an address to refuse, not one to bind)
        "::",
        "::1",
        "fd00::1",
        "fe80::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
    ],
)
def test_the_addresses_the_page_says_are_refused(address: str) -> None:
    import ipaddress

    policy = WebhookSubscription(URL, SECRET).build_event("x", {}, now=0).network
    assert not policy.allows(ipaddress.ip_address(address))


# -- sending_testing: the examples' own tests -----------------------------------------------


@pytest.mark.anyio
async def test_the_outage_example() -> None:
    await testing.test_a_delivery_outlasts_an_outage()


@pytest.mark.anyio
async def test_the_client_error_example() -> None:
    await testing.test_a_client_error_is_dead_lettered_at_once()


def test_the_recording_receiver_records_and_follows_its_script() -> None:
    receiver = RecordingReceiver([503, Response("busy", status_code=429)])

    async def post_three() -> list[int]:
        async with receiver.client() as client:
            return [
                (await client.post("http://any.host/a/b", content=b"x")).status_code
                for _ in range(3)
            ]

    assert anyio.run(post_three) == [503, 429, 200]
    assert [d.path for d in receiver.deliveries] == ["/a/b"] * 3


def test_the_page_shows_json_in_the_wire_sample() -> None:
    _, _, body = wire_sample()
    assert json.loads(body) == ORDER
