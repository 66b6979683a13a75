"""Endpoint health end to end: pauses, probes, disabling, 410, re-enabling, persistence, and a
hanging endpoint that cannot take the worker's slots from the healthy ones.

The circuit tests run on the virtual clock (``FakeQueue`` or a queue on a `VirtualClock` with
in-process receivers), so a pause of minutes takes no time. The hanging-endpoint proof runs on
real sockets and the system clock, and counts at the receiver.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.types import Receive, Scope, Send

import webhook_kit.worker as worker_module
from hang_ups import until_hang_up
from webhook_kit import (
    InvalidInputError,
    InvalidTargetError,
    MemoryQueue,
    RetryPolicy,
    SignatureFormat,
    SQLiteQueue,
    VirtualClock,
    WebhookQueue,
    WebhookSubscription,
    Worker,
)
from webhook_kit.health import EndpointHealth, EndpointState, HealthPolicy, endpoint_of
from webhook_kit.queues.protocol import EndpointRecord
from webhook_kit.registrations import secret_memory_of
from webhook_kit.testing import Delay, FakeQueue, MockReceiver, ReceiverRouter
from webhook_kit.testing.in_process_stack import InProcessStack
from webhook_kit.worker import enable_endpoint

from .conftest import PAYLOAD, START

pytestmark = pytest.mark.anyio

EVENT = "order.created"
SECRET = "endpointHealthE2eSecret"  # valid base64: Standard Webhooks decodes it


def every(seconds: float, *, max_attempts: int = 8) -> RetryPolicy:
    """Retries at a fixed interval, no jitter: the schedule is exact."""
    return RetryPolicy(
        max_attempts=max_attempts, base_delay=seconds, factor=1, max_delay=seconds, jitter=0
    )


def to(url: str, *, retry: RetryPolicy | None = None) -> WebhookSubscription:
    return WebhookSubscription(url, SECRET).retry_policy(retry or every(10))


def offsets(history: list[Any], start: float = START) -> list[tuple[int, float, int | None]]:
    """(attempt number, seconds after ``start``, status) of each recorded attempt."""
    return [(record.attempt, record.started_at - start, record.status) for record in history]


# --- the circuit, on the virtual clock ------------------------------------------------------


async def test_a_failing_endpoint_is_paused_probed_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = FakeQueue(start=START)
    receiver = queue.receiver().script([503, 503, 503, 200])
    await WebhookSubscription.register(queue)
    delivery_id = await to(receiver.url).dispatch(queue, EVENT, PAYLOAD)

    with caplog.at_level(logging.INFO, logger="webhook_kit.worker"):
        await queue.run_until_idle(health=HealthPolicy(pause_after=3, first_pause=60))

    # The retry due at +30 fell in the pause (until +80): it waited for the probe, uncounted.
    assert offsets(await queue.history(delivery_id)) == [
        (1, 0, 503),
        (2, 10, 503),
        (3, 20, 503),
        (4, 80, 200),
    ]
    receiver.assert_delivered(times=1)
    endpoint = endpoint_of(receiver.url)
    changes = [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.getMessage().startswith("endpoint ")
    ]
    assert changes == [
        ("WARNING", f"endpoint {endpoint} is paused: 3 failures in a row (last: status 503)"),
        ("INFO", f"endpoint {endpoint} is healthy: recovered after 3 failures in a row"),
    ]
    assert await queue.endpoint_records() == [
        EndpointRecord(
            endpoint=endpoint,
            state="healthy",
            reason="recovered after 3 failures in a row",
            updated_at=START + 80,
            probe_at=None,
        )
    ]


async def test_deliveries_held_back_by_a_pause_are_not_charged_attempts() -> None:
    queue = FakeQueue(start=START)
    receiver = queue.receiver().script([503, 503, 503, 200])
    await WebhookSubscription.register(queue)
    worker = Worker(queue, health=HealthPolicy(pause_after=3, first_pause=300))
    first = await to(receiver.url, retry=every(10, max_attempts=3)).dispatch(queue, EVENT, {})
    await worker.run_until_idle()
    assert worker.health is not None
    [paused] = worker.health.status()
    assert (paused.state, paused.probe_at) == (EndpointState.PAUSED, START + 320)
    [record] = await queue.endpoint_records()
    assert (record.state, record.probe_at) == ("paused", START + 320)

    # Two more deliveries while it is paused: held back until the probe, no attempt charged.
    later = [
        await to(receiver.url, retry=every(10, max_attempts=1)).dispatch(queue, EVENT, {"n": n})
        for n in (1, 2)
    ]
    await worker.run_until_idle()

    assert offsets(await queue.history(first)) == [(1, 0, 503), (2, 10, 503), (3, 20, 503)]
    probe, after = [await queue.history(delivery_id) for delivery_id in later]
    assert offsets(probe) == [(1, 320, 200)]
    [(number, offset, status)] = offsets(after)
    assert (number, status) == (1, 200)
    # Only once the probe came back healthy: at once, on this clock (no timer to wait out).
    assert probe[0].started_at <= after[0].started_at
    assert 320 <= offset <= 321
    assert len(receiver.deliveries) == 5
    assert worker.health.state_of(endpoint_of(receiver.url)) is EndpointState.HEALTHY


async def test_fake_queue_leaves_health_off_unless_asked() -> None:
    # Off by default, a test's retry schedule is exactly its policy's ...
    queue = FakeQueue(start=START)
    receiver = queue.receiver().script([503])
    await WebhookSubscription.register(queue)
    delivery_id = await to(receiver.url).dispatch(queue, EVENT, PAYLOAD)
    await queue.run_until_idle()
    assert [offset for _, offset, _ in offsets(await queue.history(delivery_id))] == [
        0,
        10,
        20,
        30,
        40,
        50,
        60,
        70,
    ]
    assert await queue.endpoint_records() == []

    # ... and with health=True the default policy pauses after five failures in a row,
    # doubling the pause at each failed probe (30 s, 60 s, 120 s).
    queue = FakeQueue(start=START)
    receiver = queue.receiver().script([503])
    await WebhookSubscription.register(queue)
    delivery_id = await to(receiver.url).dispatch(queue, EVENT, PAYLOAD)
    await queue.run_until_idle(health=True)
    assert [offset for _, offset, _ in offsets(await queue.history(delivery_id))] == [
        0,
        10,
        20,
        30,
        40,
        70,
        130,
        250,
    ]
    # The last attempt's 503 dead-lettered the delivery; it was still the endpoint failing
    # (a failed probe), so the endpoint is paused again, until +250 + 240.
    [record] = await queue.endpoint_records()
    assert (record.state, record.probe_at) == ("paused", START + 250 + 240)


async def test_an_endpoint_failing_past_the_window_is_disabled() -> None:
    queue = FakeQueue(start=START)
    receiver = queue.receiver().script([503])
    await WebhookSubscription.register(queue)
    policy = HealthPolicy(pause_after=2, first_pause=60, max_pause=600, disable_after=1800)
    retry = every(30, max_attempts=20)
    delivery_id = await to(receiver.url, retry=retry).dispatch(queue, EVENT, PAYLOAD)

    await queue.run_until_idle(health=policy)

    # Attempts at the retry schedule, then only at probes (pauses of 60, 120, 240, 480 s, then
    # 600 s at most), until one fails 1800 s or more after the first failure.
    received = [delivery.received_at - START for delivery in receiver.deliveries]
    assert received == [0, 30, 90, 210, 450, 930, 1530, 2130]
    [record] = await queue.endpoint_records()
    assert record.state == "disabled"
    assert record.reason == "failing for 2130s (last: status 503)"
    assert record.updated_at == START + 2130
    # The delivery's next claim found the endpoint disabled: dead-lettered, saying why.
    [letter] = await queue.list_dead_letters()
    assert letter.id == delivery_id
    assert "endpoint is disabled" in letter.reason
    assert "failing for 2130s" in letter.reason
    assert "re-enable it first (await worker.enable_endpoint(" in letter.reason
    history = await queue.history(delivery_id)
    assert [record.attempt for record in history] == list(range(1, 10))  # 8 made, 1 refused
    assert history[-1].status is None
    assert (history[-1].error or "").startswith("endpoint disabled: failing for 2130s")

    # A new worker reads the disabled endpoint from the queue: no request is made.
    another = await to(receiver.url).dispatch(queue, EVENT, PAYLOAD)
    await queue.run_until_idle(health=policy)
    assert len(receiver.deliveries) == 8
    assert [letter.id for letter in await queue.list_dead_letters()] == [delivery_id, another]


async def test_410_disables_the_endpoint_until_it_is_enabled_and_redriven() -> None:
    queue = FakeQueue(start=START)
    receiver = queue.receiver().script([410, 200])
    await WebhookSubscription.register(queue)
    gone = await to(receiver.url).dispatch(queue, EVENT, PAYLOAD)
    await queue.run_until_idle(health=True)

    endpoint = endpoint_of(receiver.url)
    assert await queue.endpoint_records() == [
        EndpointRecord(endpoint, "disabled", "the endpoint answered 410 Gone", START)
    ]
    [letter] = await queue.list_dead_letters()
    assert letter.gone

    # Later deliveries to the endpoint (a query makes no other endpoint) are dead-lettered
    # without a request, and say it is disabled.
    later = [
        await to(receiver.url).dispatch(queue, EVENT, PAYLOAD),
        await to(f"{receiver.url}?tenant=7").dispatch(queue, EVENT, PAYLOAD),
    ]
    await queue.run_until_idle(health=True)
    assert len(receiver.deliveries) == 1
    letters = {letter.id: letter for letter in await queue.list_dead_letters()}
    assert set(letters) == {gone, *later}
    for delivery_id in later:
        assert letters[delivery_id].reason == (
            "the endpoint is disabled (the endpoint answered 410 Gone): re-enable it first "
            "(await worker.enable_endpoint(url))"
        )
        assert not letters[delivery_id].gone
        assert letters[delivery_id].last_status is None

    # One call re-enables it; the dead letters stay dead until redriven.
    await enable_endpoint(queue, receiver.url)
    [record] = await queue.endpoint_records()
    assert (record.endpoint, record.state, record.reason) == (endpoint, "healthy", "re-enabled")
    await queue.run_until_idle(health=True)
    assert len(receiver.deliveries) == 1
    for delivery_id in (gone, *later):
        await queue.redrive(delivery_id)
    await queue.run_until_idle(health=True)
    assert sorted(d.id or "" for d in receiver.deliveries if d.delivered) == sorted([gone, *later])
    assert await queue.list_dead_letters() == []


async def test_worker_enable_endpoint_takes_effect_at_once() -> None:
    queue = FakeQueue(start=START)
    receiver = queue.receiver().script([410, 200])
    await WebhookSubscription.register(queue)
    worker = Worker(queue, health=True)
    gone = await to(receiver.url).dispatch(queue, EVENT, PAYLOAD)
    await worker.run_until_idle()
    assert worker.health is not None
    endpoint = endpoint_of(receiver.url)
    assert worker.health.state_of(endpoint) is EndpointState.DISABLED

    await worker.enable_endpoint(receiver.url + "?any=query")
    assert worker.health.state_of(endpoint) is EndpointState.HEALTHY
    [record] = await queue.endpoint_records()
    assert record.state == "healthy"
    await queue.redrive(gone)
    await worker.run_until_idle()
    receiver.assert_delivered(id=gone, times=1)


async def test_a_healthy_endpoint_grows_to_the_whole_capacity() -> None:
    """Its limit reaches every slot and every delivery claimed ahead (8 + 4 here)."""
    queue = FakeQueue(start=START)
    receiver = queue.receiver()
    await WebhookSubscription.register(queue)
    for n in range(40):
        await to(receiver.url).dispatch(queue, EVENT, {"n": n})
    worker = Worker(queue, concurrency=8, health=True)
    await worker.run_until_idle()
    receiver.assert_delivered(times=40)
    assert worker.health is not None
    [status] = worker.health.status()
    assert worker.claim_ahead == 4
    assert (status.state, status.limit, status.in_flight) == (EndpointState.HEALTHY, 12, 0)


async def test_deliveries_this_worker_cannot_sign_are_not_the_endpoints_failures() -> None:
    queue = FakeQueue(start=START)
    receiver = queue.receiver()
    await WebhookSubscription.register(queue)
    timestamped = to(receiver.url).signature_format(SignatureFormat.STANDARD_WEBHOOKS)
    for n in range(6):
        delivery_id = await timestamped.dispatch(queue, EVENT, {"n": n})
        secret_memory_of(queue).forget(delivery_id)  # as in a worker started without --secret
    worker = Worker(queue, health=HealthPolicy(pause_after=5))
    await worker.run_until_idle()
    assert len(await queue.list_dead_letters()) == 6  # "… has no secret for it"
    assert receiver.deliveries == []  # no request was made

    assert worker.health is not None
    assert worker.health.state_of(endpoint_of(receiver.url)) is EndpointState.HEALTHY
    signed = await to(receiver.url).dispatch(queue, EVENT, PAYLOAD)
    await worker.run_until_idle()
    assert offsets(await queue.history(signed)) == [(1, 0, 200)]  # not held back by a pause


# --- persistence: every worker and the command line see the same records ---------------------


@pytest.fixture(params=["memory", "sqlite"])
async def durable(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[WebhookQueue, ReceiverRouter]]:
    """A queue of each kind on the virtual clock, delivering in-process to a router."""
    clock = VirtualClock(START)
    queue: WebhookQueue
    if request.param == "memory":
        queue = MemoryQueue(clock=clock)
    else:
        queue = SQLiteQueue(tmp_path / "queue.sqlite3", clock=clock)
    router = ReceiverRouter()
    await WebhookSubscription.register(queue, stack=InProcessStack(router))
    yield queue, router
    if isinstance(queue, SQLiteQueue):
        queue.close()


async def test_endpoint_records_are_kept_by_the_queue(
    durable: tuple[WebhookQueue, ReceiverRouter],
) -> None:
    queue, router = durable
    receiver = router.add(MockReceiver(clock=queue.clock)).script([410])
    await to(receiver.url).dispatch(queue, EVENT, PAYLOAD)
    await Worker(queue).run_until_idle()
    endpoint = endpoint_of(receiver.url)
    disabled = EndpointRecord(endpoint, "disabled", "the endpoint answered 410 Gone", START)
    assert await queue.endpoint_records() == [disabled]

    # A second worker on the queue takes the record in: no request is made.
    second = await to(receiver.url).dispatch(queue, EVENT, PAYLOAD)
    await Worker(queue).run_until_idle()
    assert len(receiver.deliveries) == 1
    assert any(letter.id == second for letter in await queue.list_dead_letters())

    # Saving again replaces the record; records come sorted by endpoint.
    other = EndpointRecord("https://b.example/", "paused", "5 failures", START, START + 30)
    await queue.save_endpoint(other)
    await enable_endpoint(queue, receiver.url)
    records = await queue.endpoint_records()
    assert records == sorted(records, key=lambda record: record.endpoint)
    assert {record.endpoint: record.state for record in records} == {
        endpoint: "healthy",
        "https://b.example/": "paused",
    }
    assert other in records


async def test_a_second_worker_on_the_same_sqlite_file_sees_the_disabled_endpoint(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.sqlite3"
    router = ReceiverRouter()
    clock = VirtualClock(START)
    receiver = router.add(MockReceiver(clock=clock)).script([410, 200])
    first = SQLiteQueue(path, clock=clock)
    await WebhookSubscription.register(first, stack=InProcessStack(router))
    gone = await to(receiver.url).dispatch(first, EVENT, PAYLOAD)
    await Worker(first).run_until_idle()
    first.close()

    # Another process: its own queue object on the file, its own worker.
    second = SQLiteQueue(path, clock=clock)
    try:
        await WebhookSubscription.register(second, stack=InProcessStack(router))
        [record] = await second.endpoint_records()
        assert (record.state, record.reason) == ("disabled", "the endpoint answered 410 Gone")
        held = await to(receiver.url).dispatch(second, EVENT, PAYLOAD)
        worker = Worker(second)
        await worker.run_until_idle()
        assert len(receiver.deliveries) == 1
        assert worker.health is not None
        assert worker.health.state_of(endpoint_of(receiver.url)) is EndpointState.DISABLED
        letters = {letter.id: letter for letter in await second.list_dead_letters()}
        assert "endpoint is disabled" in letters[held].reason

        await enable_endpoint(second, receiver.url)
        for delivery_id in (gone, held):
            await second.redrive(delivery_id)
        await Worker(second).run_until_idle()
        assert sorted(d.id or "" for d in receiver.deliveries if d.delivered) == sorted(
            [gone, held]
        )
    finally:
        second.close()


async def until(condition: Callable[[], Any], what: str) -> None:
    """Poll ``condition`` (sync or async) until it is true; the caller bounds the time."""
    while True:
        result = condition()
        if hasattr(result, "__await__"):
            result = await result
        if result:
            return
        await anyio.sleep(0.02)


async def test_a_running_worker_picks_up_an_enable_from_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A running worker reads the queue's endpoint records every few seconds; shortened here.
    monkeypatch.setattr(worker_module, "_ENDPOINT_SYNC_INTERVAL", 0.05)
    path = tmp_path / "queue.sqlite3"
    router = ReceiverRouter()
    receiver = router.add(MockReceiver()).script([410, 200])
    endpoint = endpoint_of(receiver.url)
    app = SQLiteQueue(path)  # what the app and `webhook-kit endpoints enable` use
    running = SQLiteQueue(path)  # the worker's
    try:
        await WebhookSubscription.register(running, stack=InProcessStack(router))
        worker = Worker(running, health=True)
        assert worker.health is not None
        health = worker.health
        gone = await to(receiver.url).dispatch(app, EVENT, PAYLOAD)

        async def delivered() -> bool:
            return (await app.counts()).delivered == 1

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            with anyio.fail_after(60):
                await until(lambda: health.state_of(endpoint) is EndpointState.DISABLED, "410")
                await enable_endpoint(app, receiver.url)
                await until(lambda: health.state_of(endpoint) is EndpointState.HEALTHY, "sync")
                await app.redrive(gone)
                await until(delivered, "the redriven delivery")
            await worker.stop()
        receiver.assert_delivered(id=gone, times=1)
    finally:
        app.close()
        running.close()


async def test_a_redrive_right_after_an_enable_is_delivered(tmp_path: Path) -> None:
    # `webhook-kit endpoints enable URL` then `webhook-kit dlq redrive …` at once: the running
    # worker has not read the records since (it does every few seconds), and must not
    # dead-letter the redriven delivery again for an endpoint that is no longer disabled.
    path = tmp_path / "queue.sqlite3"
    router = ReceiverRouter()
    receiver = router.add(MockReceiver()).script([410, 200])
    endpoint = endpoint_of(receiver.url)
    app = SQLiteQueue(path)
    running = SQLiteQueue(path)
    try:
        await WebhookSubscription.register(running, stack=InProcessStack(router))
        worker = Worker(running, health=True)
        assert worker.health is not None
        health = worker.health
        gone = await to(receiver.url).dispatch(app, EVENT, PAYLOAD)

        async def settled() -> bool:
            counts = await app.counts()
            return counts.delivered + counts.dead == 1 and counts.pending == 0

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker.run)
            with anyio.fail_after(60):
                await until(lambda: health.state_of(endpoint) is EndpointState.DISABLED, "410")
                await enable_endpoint(app, receiver.url)
                await app.redrive(gone)
                await until(settled, "the redriven delivery")
            await worker.stop()
        assert await app.list_dead_letters() == []
        receiver.assert_delivered(id=gone, times=1)
    finally:
        app.close()
        running.close()


# --- bad input ------------------------------------------------------------------------------


async def test_worker_health_argument(queue: MemoryQueue) -> None:
    assert Worker(queue, health=False).health is None
    assert Worker(queue, health=None).health is None
    default = Worker(queue, concurrency=32).health
    assert isinstance(default, EndpointHealth)
    assert (default.policy, default.floor) == (HealthPolicy(), 8)
    shared = Worker(queue, concurrency=10, health=HealthPolicy(share=0.5)).health
    assert shared is not None
    assert shared.floor == 5
    for bad in ("yes", 1, 0.5, HealthPolicy):
        with pytest.raises(InvalidInputError, match="health"):
            Worker(queue, health=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["", "receiver.example/hooks", "ftp://receiver.example/x", "https:///hooks", " x"]
)
async def test_enable_endpoint_refuses_a_bad_url(queue: MemoryQueue, url: str) -> None:
    with pytest.raises(InvalidTargetError):
        await enable_endpoint(queue, url)
    with pytest.raises(InvalidTargetError):
        await Worker(queue).enable_endpoint(url)
    assert await queue.endpoint_records() == []


# --- a hanging endpoint on real sockets -----------------------------------------------------

CONCURRENCY = 16
SHARE = max(1, int(CONCURRENCY * HealthPolicy().share))  # 4
HANGING_JOBS = 12
HEALTHY_JOBS = 20  # per healthy endpoint


class HangCountingReceiver(MockReceiver):
    """A `MockReceiver` that counts the requests its clients hold open at once.

    A request is open from its arrival until it is answered or its client hangs up. A hang-up
    also ends the handler (a scripted `Delay` would otherwise sleep on, and hold up the server's
    shutdown), so the count is what the sender holds, not what the server still sleeps on.
    """

    def __init__(self) -> None:
        super().__init__()
        self.arrived = 0
        self.open = 0
        self.max_open = 0

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        self.arrived += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            await until_hang_up(super().app, scope, receive, send)
        finally:
            self.open -= 1


def serve(stack: ExitStack, receiver: MockReceiver) -> str:
    return stack.enter_context(receiver.serve_in_thread())


@pytest.fixture
def receivers() -> Iterator[tuple[HangCountingReceiver, str, list[MockReceiver], list[str]]]:
    hanging = HangCountingReceiver().script([Delay(30)])
    healthy = [MockReceiver(), MockReceiver()]
    with ExitStack() as stack:
        hanging_url = serve(stack, hanging)
        healthy_urls = [serve(stack, receiver) for receiver in healthy]
        yield hanging, hanging_url, healthy, healthy_urls


async def deliver_around_a_hanging_endpoint(
    receivers: tuple[HangCountingReceiver, str, list[MockReceiver], list[str]],
    health: bool,
) -> MemoryQueue:
    """The hanging endpoint's jobs first, then the healthy ones; run until the healthy ones are
    all received, then stop (in-flight attempts end within their 1-second timeout)."""
    _, hanging_url, healthy, healthy_urls = receivers
    queue = MemoryQueue()  # the system clock
    await WebhookSubscription.register(queue)  # the default stack, guard on (loopback opted in)
    stuck = (
        WebhookSubscription(hanging_url, SECRET)
        .allow_private_targets(True)
        .timeout(1)
        .retry_policy(RetryPolicy(max_attempts=1))
    )
    for n in range(HANGING_JOBS):
        await stuck.dispatch(queue, EVENT, {"n": n})
    for url in healthy_urls:
        sub = WebhookSubscription(url, SECRET).allow_private_targets(True).timeout(5)
        for n in range(HEALTHY_JOBS):
            await sub.dispatch(queue, EVENT, {"n": n})
    worker = Worker(queue, concurrency=CONCURRENCY, health=health)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker.run)
        with anyio.fail_after(60):
            await until(lambda: all(len(r.deliveries) >= HEALTHY_JOBS for r in healthy), "healthy")
        await worker.stop()
    return queue


async def test_a_hanging_endpoint_holds_no_more_than_its_share(
    receivers: tuple[HangCountingReceiver, str, list[MockReceiver], list[str]],
) -> None:
    queue = await deliver_around_a_hanging_endpoint(receivers, health=True)
    hanging, _, healthy, _ = receivers
    for receiver in healthy:
        receiver.assert_delivered(times=HEALTHY_JOBS)
    counts = await queue.counts()
    assert counts.delivered == 2 * HEALTHY_JOBS
    assert hanging.arrived >= SHARE  # it was tried, with as many as its share
    assert hanging.max_open <= SHARE, (
        f"the hanging endpoint held {hanging.max_open} of {CONCURRENCY} workers"
    )
    # Every request it held ends: the server thread sees the hang-ups a moment after the
    # worker's timeouts, so wait for them (bounded) rather than race it.
    with anyio.fail_after(60):
        await until(lambda: hanging.open == 0, "the hanging endpoint's requests to close")
    # What it did not get to try waits (uncounted) or was dead-lettered after its timeout.
    assert counts.dead == hanging.arrived
    assert counts.pending == HANGING_JOBS - hanging.arrived


async def test_without_health_the_hanging_endpoint_takes_every_worker(
    receivers: tuple[HangCountingReceiver, str, list[MockReceiver], list[str]],
) -> None:
    # The counter's control: what the test above rules out does happen without health.
    await deliver_around_a_hanging_endpoint(receivers, health=False)
    hanging, _, healthy, _ = receivers
    assert hanging.max_open == min(CONCURRENCY, HANGING_JOBS)
    for receiver in healthy:
        receiver.assert_delivered(times=HEALTHY_JOBS)
