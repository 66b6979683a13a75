"""`FakeQueue`: virtual time, in-process receivers, every attempt recorded."""

from __future__ import annotations

import itertools
import socket
from typing import NoReturn

import anyio
import pytest

from webhook_kit import (
    InvalidInputError,
    RetryPolicy,
    SignatureFormat,
    VirtualClock,
    WebhookSubscription,
)
from webhook_kit.testing import FakeQueue, MockReceiver, UnroutableTargetError
from webhook_kit.testing.in_process_stack import InProcessStack

pytestmark = pytest.mark.anyio

START = 1_700_000_000.0
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST = RetryPolicy(base_delay=1, factor=2, jitter=0)
# 1 + 2 + 4 + 8 + 10 + 10 + 10 hours between eight attempts: 45 hours of backoff.
LONG = RetryPolicy(max_attempts=8, base_delay=3600, factor=2, max_delay=36000, jitter=0)


async def dispatch(
    queue: FakeQueue,
    url: str,
    *,
    policy: RetryPolicy = FAST,
    event: str = "order.created",
    payload: object = None,
) -> str:
    sub = WebhookSubscription(url, SECRET).retry_policy(policy)
    return await sub.dispatch(queue, event, {"order_id": 42} if payload is None else payload)


async def test_the_issues_example_passes_as_written() -> None:
    fake_queue = FakeQueue()
    webhook_receiver = fake_queue.receiver()

    webhook_receiver.script([503, 503, 200])
    await WebhookSubscription.register(fake_queue)
    sub = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(
        RetryPolicy(base_delay=1, factor=2, jitter=0)
    )
    delivery_id = await sub.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()
    assert [d.id for d in webhook_receiver.deliveries] == [delivery_id] * 3
    assert webhook_receiver.gaps() == [1.0, 2.0]  # on the virtual clock
    assert webhook_receiver.unique_ids() == [delivery_id]


def test_the_clock_starts_at_a_whole_number() -> None:
    queue = FakeQueue()
    assert isinstance(queue.clock, VirtualClock)
    assert queue.clock.now() == START == 1_700_000_000.0
    assert FakeQueue(start=1_000).clock.now() == 1_000.0
    assert repr(queue) == "FakeQueue(now=1700000000.0, receivers=0)"


def test_receivers_share_the_queues_clock_and_are_routed() -> None:
    queue = FakeQueue()
    receiver = queue.receiver(name="shop")
    assert receiver.clock is queue.clock
    assert receiver.url == "http://shop.webhook-kit.test/hooks"
    assert queue.router.receivers == [receiver]
    assert queue.router.get("shop.webhook-kit.test") is receiver


async def test_a_long_schedule_runs_instantly_and_moves_the_clock_by_its_sum() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([503])
    await WebhookSubscription.register(queue)
    # 45 hours of backoff on the virtual clock: the bound stops a real sleep hanging the suite.
    with anyio.fail_after(60):
        delivery_id = await dispatch(queue, receiver.url, policy=LONG)
        await queue.run_until_idle()
    schedule = LONG.schedule()
    assert schedule == [3600.0, 7200.0, 14400.0, 28800.0, 36000.0, 36000.0, 36000.0]
    assert queue.clock.now() - START == sum(schedule) == 162_000.0
    times = [attempt.started_at for attempt in queue.attempts]
    assert all(t.is_integer() for t in times)
    assert [later - earlier for earlier, later in itertools.pairwise(times)] == schedule
    assert [d.received_at for d in receiver.deliveries] == times  # nothing moves mid-attempt
    assert receiver.gaps() == schedule
    assert [a.attempt for a in queue.attempts] == list(range(1, 9))
    assert [a.outcome for a in queue.attempts] == ["retry"] * 7 + ["dead"]
    (dead,) = queue.dead_letters
    assert (dead.id, dead.attempts, dead.last_status) == (delivery_id, 8, 503)
    assert dead.dead_at == START + 162_000.0
    assert "gave up after 8 attempts" in dead.reason


async def test_a_delivery_on_the_last_attempt_ends_the_schedule_there() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([503] * 7 + [200])
    await WebhookSubscription.register(queue)
    delivery_id = await dispatch(queue, receiver.url, policy=LONG)
    await queue.run_until_idle()
    assert queue.dead_letters == []
    assert queue.clock.now() == START + 162_000.0
    assert queue.attempts[-1].outcome == "delivered"
    receiver.assert_delivered(id=delivery_id, times=1)


async def test_attempts_record_every_attempt_with_its_time_and_outcome() -> None:
    queue = FakeQueue()
    flaky = queue.receiver(name="flaky").script([503, 200])
    gone = queue.receiver(name="gone").script([410])
    fine = queue.receiver(name="fine")
    await WebhookSubscription.register(queue)
    flaky_id = await dispatch(queue, flaky.url)
    gone_id = await dispatch(queue, gone.url)
    fine_id = await dispatch(queue, fine.url)
    assert len(queue.attempts) == 0
    await queue.run_until_idle()
    by_delivery = {
        (a.delivery_id, a.attempt): (a.started_at - START, a.status, a.error, a.outcome)
        for a in queue.attempts
    }
    assert by_delivery == {
        (flaky_id, 1): (0.0, 503, None, "retry"),
        (gone_id, 1): (0.0, 410, None, "dead"),
        (fine_id, 1): (0.0, 200, None, "delivered"),
        (flaky_id, 2): (1.0, 200, None, "delivered"),
    }
    assert len(queue.attempts) == 4
    assert queue.attempts[-1].delivery_id == flaky_id  # in the order they happened
    assert [d.id for d in queue.dead_letters] == [gone_id]
    assert queue.dead_letters[0].gone


async def test_attempts_and_dead_letters_are_snapshots() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([400])
    await WebhookSubscription.register(queue)
    await dispatch(queue, receiver.url)
    await queue.run_until_idle()
    attempts, dead_letters = queue.attempts, queue.dead_letters
    assert isinstance(attempts, list)  # copies, as MockReceiver.deliveries is
    assert isinstance(dead_letters, list)
    with pytest.raises(AttributeError):
        queue.dead_letters = []  # type: ignore[misc]
    with pytest.raises(AttributeError):
        queue.attempts = []  # type: ignore[misc]
    await dispatch(queue, receiver.url)
    await queue.run_until_idle()
    assert (len(attempts), len(dead_letters)) == (1, 1)  # the old snapshots do not change
    assert (len(queue.attempts), len(queue.dead_letters)) == (2, 2)


async def test_advance_moves_the_clock_and_nothing_else_does_when_idle() -> None:
    queue = FakeQueue()
    receiver = queue.receiver()
    await WebhookSubscription.register(queue)
    queue.advance(3600)
    assert queue.clock.now() == START + 3600
    queue.advance(0.5)
    assert queue.clock.now() == START + 3600.5
    await dispatch(queue, receiver.url)
    await queue.run_until_idle()
    await queue.run_until_idle()  # idle: the clock stays where it is
    assert queue.clock.now() == START + 3600.5
    assert receiver.deliveries[0].received_at == START + 3600.5
    assert queue.attempts[0].started_at == START + 3600.5
    with pytest.raises(InvalidInputError):
        queue.advance(-1)
    assert queue.clock.now() == START + 3600.5


async def test_register_with_no_client_delivers_in_process_without_a_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("fake_queue touched the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    queue = FakeQueue()
    receiver = queue.receiver()
    handler = await WebhookSubscription.register(queue)
    assert isinstance(handler.stack, InProcessStack)
    assert handler.stack.router is queue.router
    delivery_id = await dispatch(queue, receiver.url)
    await queue.run_until_idle()
    receiver.assert_delivered(id=delivery_id, times=1)
    assert queue.router.refused == []


async def test_a_url_no_receiver_serves_is_dead_lettered_at_once() -> None:
    queue = FakeQueue()
    receiver = queue.receiver(name="known")
    await WebhookSubscription.register(queue)
    delivery_id = await dispatch(
        queue, "https://api.example.com/hooks?token=abc", policy=RetryPolicy(jitter=0)
    )
    await queue.run_until_idle()
    (dead,) = queue.dead_letters
    assert (dead.id, dead.attempts, dead.dead_at, dead.last_status) == (
        delivery_id,
        1,
        START,
        None,
    )
    expected = str(
        UnroutableTargetError(
            "https://api.example.com/hooks", ["http://known.webhook-kit.test/hooks"]
        )
    )
    assert dead.reason == expected
    assert "https://api.example.com/hooks is not a receiver of this test" in dead.reason
    assert "Known receivers: http://known.webhook-kit.test/hooks." in dead.reason
    assert "token=abc" not in dead.reason  # a query string may hold a secret
    assert queue.router.refused == ["https://api.example.com/hooks"]
    (attempt,) = queue.attempts
    assert (attempt.status, attempt.error, attempt.outcome) == (None, dead.reason, "dead")
    receiver.assert_no_deliveries()
    assert queue.clock.now() == START


async def test_with_no_receivers_the_refusal_says_none_yet() -> None:
    queue = FakeQueue()
    await WebhookSubscription.register(queue)
    await dispatch(queue, "https://example.com/x")
    await queue.run_until_idle()
    assert "Known receivers: none yet." in queue.dead_letters[0].reason


async def test_add_receiver_routes_a_receiver_created_separately() -> None:
    queue = FakeQueue()
    receiver = MockReceiver(clock=queue.clock, name="separate").script([503, 200])
    assert queue.add_receiver(receiver) is receiver
    await WebhookSubscription.register(queue)
    delivery_id = await dispatch(queue, receiver.url)
    await queue.run_until_idle()
    assert [d.status for d in receiver.deliveries] == [503, 200]
    assert receiver.unique_ids() == [delivery_id]
    assert receiver.gaps() == [1.0]
    assert queue.router.refused == []


async def test_a_receiver_added_with_its_own_default_clock_runs_on_virtual_time() -> None:
    # Was a bug: add_receiver() keeps the receiver's SystemClock, so a receiver created with
    # MockReceiver() and added to a fake_queue stamps real time: gaps() are ~0 instead of the
    # virtual backoff, and timestamped signatures (signed at virtual time) fail expect_signature.
    queue = FakeQueue()
    receiver = queue.add_receiver(MockReceiver(name="own-clock").script([503, 503, 200]))
    receiver.expect_signature(SECRET, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    await WebhookSubscription.register(queue)
    sub = (
        WebhookSubscription(receiver.url, SECRET)
        .signature_format(SignatureFormat.STANDARD_WEBHOOKS)
        .retry_policy(FAST)
    )
    await sub.dispatch(queue, "order.created", {"order_id": 42})
    await queue.run_until_idle()
    assert len(receiver.deliveries) == 3
    assert receiver.problems == []
    assert receiver.gaps() == [1.0, 2.0]


async def test_several_receivers_are_routed_by_host() -> None:
    queue = FakeQueue()
    orders = queue.receiver(name="orders").script([201])
    users = queue.receiver(name="users").script([202])
    await WebhookSubscription.register(queue)
    to_orders = await dispatch(queue, orders.url, event="order.created")
    to_users = await dispatch(queue, "http://users.webhook-kit.test/other/path", event="user.x")
    await queue.run_until_idle()
    assert [(d.id, d.status, d.path) for d in orders.deliveries] == [(to_orders, 201, "/hooks")]
    assert [(d.id, d.status, d.path) for d in users.deliveries] == [(to_users, 202, "/other/path")]
    assert repr(queue) == "FakeQueue(now=1700000000.0, receivers=2)"


async def test_a_receiver_name_with_capitals_is_still_routed() -> None:
    # Was a bug: hosts are compared case-sensitively. The router keys receivers by
    # receiver.host ("Orders.webhook-kit.test") but looks up the URL's lower-cased hostname,
    # so deliveries to receiver.url are refused with a message that lists that very URL.
    queue = FakeQueue()
    receiver = queue.receiver(name="Orders")
    await WebhookSubscription.register(queue)
    await dispatch(queue, receiver.url)
    await queue.run_until_idle()
    assert queue.dead_letters == [], queue.dead_letters[0].reason
    assert len(receiver.deliveries) == 1


async def test_many_deliveries_run_concurrently_to_completion() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([503, 200], event="flaky")
    await WebhookSubscription.register(queue)
    ids = [
        await dispatch(queue, receiver.url, event="flaky" if n % 2 else "steady", payload={"n": n})
        for n in range(40)
    ]
    await queue.run_until_idle(concurrency=8)
    assert sorted(receiver.unique_ids()) == sorted(ids)
    assert sum(d.delivered for d in receiver.deliveries) == 40
    assert len(queue.attempts) == 41  # one flaky delivery met the one scripted 503
    assert queue.dead_letters == []


async def test_a_long_run_keeps_only_the_latest_deliveries_and_their_attempts() -> None:
    queue = FakeQueue(keep_delivered=10)
    receiver = queue.receiver()
    receiver.script([503, 200])
    await WebhookSubscription.register(queue)
    sub = WebhookSubscription(receiver.url, "s3cret").retry_policy(
        RetryPolicy(base_delay=1, factor=2, jitter=0)
    )
    ids = [await sub.dispatch(queue, "order.created", {"n": n}) for n in range(25)]
    await queue.run_until_idle()
    kept = {a.delivery_id for a in queue.attempts}
    assert len(kept) == 10
    assert kept <= set(ids)
    histories = [await queue.history(delivery_id) for delivery_id in kept]
    assert len(queue.attempts) == sum(map(len, histories))
    assert all(history[-1].status == 200 for history in histories)
    assert (await queue.counts()).delivered == 25


async def test_purged_and_pruned_deliveries_leave_the_attempt_log() -> None:
    queue = FakeQueue(retention=3600)
    receiver = queue.receiver()
    receiver.script([410], event="gone")
    await WebhookSubscription.register(queue)
    sub = WebhookSubscription(receiver.url, "s3cret")
    gone = await sub.dispatch(queue, "gone", {})
    await queue.run_until_idle()
    queue.advance(60)
    kept = await sub.dispatch(queue, "kept", {})
    await queue.run_until_idle()
    assert [a.delivery_id for a in queue.attempts] == [gone, kept]
    assert await queue.purge_dead_letters() == 1
    assert [a.delivery_id for a in queue.attempts] == [kept]
    assert queue.dead_letters == []
    queue.advance(3601)
    assert await queue.prune() == 1
    assert queue.attempts == []
