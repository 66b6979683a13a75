"""`MockReceiver`: scripted answers, recorded deliveries, signature checks, queries, assertions,
and serving on a real socket."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import anyio
import httpx
import pytest

from webhook_kit import (
    MemoryQueue,
    RetryPolicy,
    SignatureFormat,
    VirtualClock,
    WebhookSubscription,
    Worker,
    providers,
)
from webhook_kit.schemes import SignatureScheme
from webhook_kit.testing import TEST_DOMAIN, Delay, FakeQueue, MockReceiver, Reply

pytestmark = pytest.mark.anyio

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LW9mLTMyLWJ5dGVzLWxvbmchIQ=="
START = 1_700_000_000.0
PAYLOAD = {"order_id": 42, "note": "José ✓"}
FAST = RetryPolicy(base_delay=1, factor=2, jitter=0)


async def post(
    receiver: MockReceiver,
    *,
    path: str = "/hooks",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"{}",
) -> httpx.Response:
    """POST straight into the receiver's ASGI app (no queue, no socket)."""
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        return await client.post(
            f"http://{receiver.host}{path}", content=body, headers=dict(headers or {})
        )


async def dispatch_and_run(
    queue: FakeQueue,
    url: str,
    *,
    secret: str = SECRET,
    signature_format: SignatureFormat = SignatureFormat.HEX_SHA256_WITH_PREFIX,
    policy: RetryPolicy = FAST,
    sender_timeout: float | None = None,
    event: str = "order.created",
    payload: Any = PAYLOAD,
) -> str:
    await WebhookSubscription.register(queue)
    sub = WebhookSubscription(url, secret).signature_format(signature_format).retry_policy(policy)
    if sender_timeout is not None:
        sub = sub.timeout(sender_timeout)
    delivery_id = await sub.dispatch(queue, event, payload)
    await queue.run_until_idle()
    return delivery_id


def resendable(headers: Mapping[str, str]) -> dict[str, str]:
    """A recorded delivery's headers, minus those the client sets itself."""
    return {k: v for k, v in headers.items() if k not in ("content-length", "host")}


# -- identity -------------------------------------------------------------------------------


def test_url_and_host_live_under_the_test_domain() -> None:
    receiver = MockReceiver(name="shop")
    assert receiver.host == f"shop.{TEST_DOMAIN}" == "shop.webhook-kit.test"
    assert receiver.url == "http://shop.webhook-kit.test/hooks"
    assert MockReceiver().name != MockReceiver().name  # unnamed receivers never share a host
    assert "deliveries=0" in repr(receiver)


# -- scripting ------------------------------------------------------------------------------


async def test_with_no_script_every_request_is_answered_200() -> None:
    receiver = MockReceiver()
    statuses = [(await post(receiver)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert [d.status for d in receiver.deliveries] == [200, 200, 200]
    assert all(d.delivered for d in receiver.deliveries)


async def test_a_script_plays_in_order_then_repeats_its_last_step() -> None:
    receiver = MockReceiver().script([503, 503, 200])
    statuses = [(await post(receiver)).status_code for _ in range(5)]
    assert statuses == [503, 503, 200, 200, 200]
    assert [d.status for d in receiver.deliveries] == statuses
    assert [d.delivered for d in receiver.deliveries] == [False, False, True, True, True]


async def test_a_script_that_runs_out_with_then_fail_answers_500_and_records_a_problem() -> None:
    receiver = MockReceiver().script([200], then="fail")
    first = await post(receiver, headers={"X-Webhook-Id": "first"})
    second = await post(receiver, headers={"X-Webhook-Id": "late-one"})
    assert (first.status_code, second.status_code) == (200, 500)
    assert b"script ran out" in second.content
    assert receiver.deliveries[1].status == 500
    assert len(receiver.problems) == 1
    problem = receiver.problems[0]
    assert "'late-one'" in problem
    assert "/hooks" in problem
    assert "then='fail'" in problem


async def test_then_a_status_answers_every_request_after_the_script() -> None:
    receiver = MockReceiver().script([503], then=204)
    statuses = [(await post(receiver)).status_code for _ in range(3)]
    assert statuses == [503, 204, 204]
    assert receiver.problems == []


async def test_then_a_reply_answers_every_request_after_the_script() -> None:
    receiver = MockReceiver().script([500], then=Reply(410, body="gone"))
    answers = [await post(receiver) for _ in range(3)]
    assert [(a.status_code, a.text) for a in answers] == [(500, ""), (410, "gone"), (410, "gone")]


async def test_scripts_per_path_and_per_event_and_their_precedence() -> None:
    receiver = MockReceiver()
    receiver.script([201])  # the default script
    receiver.script([202], path="/a")
    receiver.script([203], event="ev")
    receiver.script([204], path="/a", event="ev")

    async def status(path: str, event: str | None) -> int:
        headers = {} if event is None else {"X-Webhook-Event": event}
        return (await post(receiver, path=path, headers=headers)).status_code

    assert await status("/a", "ev") == 204  # path + event beats everything
    assert await status("/b", "ev") == 203  # event
    assert await status("/a", "other") == 202  # path
    assert await status("/a", None) == 202
    assert await status("/b", "other") == 201  # the default script
    assert await status("/b", None) == 201


async def test_an_event_script_beats_a_path_script() -> None:
    receiver = MockReceiver()
    receiver.script([202], path="/a")
    receiver.script([203], event="ev")
    assert (await post(receiver, path="/a", headers={"X-Webhook-Event": "ev"})).status_code == 203


async def test_a_path_script_beats_the_default_script_and_unscripted_paths_get_200() -> None:
    with_default = MockReceiver().script([201]).script([202], path="/a")
    assert (await post(with_default, path="/a")).status_code == 202
    without_default = MockReceiver().script([202], path="/a")
    assert (await post(without_default, path="/b")).status_code == 200
    assert (await post(without_default, path="/a")).status_code == 202


async def test_each_script_keeps_its_own_place() -> None:
    receiver = MockReceiver().script([500, 200], path="/a").script([503, 201])
    statuses = [
        (await post(receiver, path=path)).status_code for path in ("/b", "/b", "/a", "/b", "/a")
    ]
    assert statuses == [503, 201, 500, 201, 200]


async def test_scripting_again_replaces_the_script_and_starts_over() -> None:
    receiver = MockReceiver().script([500, 501])
    assert (await post(receiver)).status_code == 500
    receiver.script([502, 200])
    assert [(await post(receiver)).status_code for _ in range(2)] == [502, 200]


async def test_a_reply_sends_its_headers_and_a_str_body() -> None:
    receiver = MockReceiver().script([Reply(429, headers={"Retry-After": "120"}, body="slow ✓")])
    response = await post(receiver)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "120"
    assert response.content == "slow ✓".encode()
    assert receiver.deliveries[0].response_headers == {"Retry-After": "120"}


async def test_a_reply_sends_a_bytes_body_unchanged() -> None:
    body = b"\x00\xff binary \xfe"
    receiver = MockReceiver().script([Reply(503, body=body)])
    response = await post(receiver)
    assert (response.status_code, response.content) == (503, body)


async def test_a_scripted_retry_after_is_honoured_on_the_virtual_clock() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([Reply(429, headers={"Retry-After": "120"}), 200])
    await dispatch_and_run(queue, receiver.url)
    assert [d.status for d in receiver.deliveries] == [429, 200]
    assert receiver.gaps() == [120.0]


# -- delays ---------------------------------------------------------------------------------


async def test_a_delay_past_the_timeout_on_a_virtual_clock_is_a_timeout() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([Delay(31), 200])  # default timeout: 30 s
    with anyio.fail_after(60):
        delivery_id = await dispatch_and_run(queue, receiver.url)
    timed_out, delivered = receiver.deliveries
    assert (timed_out.id, timed_out.status, timed_out.timed_out) == (delivery_id, None, True)
    assert not timed_out.delivered
    assert timed_out.response_headers == {}
    assert (delivered.status, delivered.timed_out) == (200, False)
    first, second = queue.attempts
    assert first.status is None
    assert first.error is not None
    assert first.error.startswith("timeout:")
    assert "31s" in first.error
    assert first.outcome == "retry"
    assert second.outcome == "delivered"
    assert receiver.gaps() == [1.0]  # the clock never moves during an attempt


async def test_a_delay_past_a_subscriptions_own_timeout_is_a_timeout() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([Delay(6), 200])
    await dispatch_and_run(queue, receiver.url, sender_timeout=5)
    assert [d.status for d in receiver.deliveries] == [None, 200]


async def test_a_delay_under_the_timeout_is_answered_without_sleeping() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([Delay(600, then=Reply(201, body="late"))])
    with anyio.fail_after(60):  # the delay is 10 minutes: on the virtual clock, not slept
        await dispatch_and_run(queue, receiver.url, sender_timeout=3600)
    (delivery,) = receiver.deliveries
    assert (delivery.status, delivery.timed_out, delivery.received_at) == (201, False, START)
    (attempt,) = queue.attempts
    assert (attempt.status, attempt.response_excerpt, attempt.outcome) == (
        201,
        "late",
        "delivered",
    )
    assert queue.clock.now() == START


async def test_a_delay_on_the_system_clock_really_sleeps() -> None:
    receiver = MockReceiver().script([Delay(0.25, then=202)])
    async with receiver.serve() as url, httpx.AsyncClient() as client:
        started = time.perf_counter()
        response = await client.post(url, content=b"{}")
        elapsed = time.perf_counter() - started
    assert response.status_code == 202
    assert elapsed >= 0.25


async def test_a_delay_past_the_clients_timeout_on_a_socket_is_recorded_as_timed_out() -> None:
    # Was a bug: on a real socket the receiver sleeps, then records its scripted status even though
    # the sender gave up: the delivery reads status=200, timed_out=False, delivered=True, while
    # the sender saw a timeout (and will retry). Delivery documents status None in that case.
    receiver = MockReceiver().script([Delay(0.3, then=200)])
    async with receiver.serve() as url:
        async with httpx.AsyncClient(timeout=0.05) as client:
            with pytest.raises(httpx.TimeoutException):
                await client.post(url, content=b"{}")
        for _ in range(100):  # the receiver records once its delay is over
            if receiver.deliveries:
                break
            await anyio.sleep(0.02)
    (delivery,) = receiver.deliveries
    assert (delivery.status, delivery.timed_out, delivery.delivered) == (None, True, False)


# -- recording ------------------------------------------------------------------------------


async def test_a_delivery_records_what_was_sent_and_answered() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([Reply(201, headers={"X-Seen": "yes"})])
    delivery_id = await dispatch_and_run(queue, receiver.url)
    (delivery,) = receiver.deliveries
    assert delivery.id == delivery_id
    assert delivery.event == "order.created"
    assert (delivery.method, delivery.path) == ("POST", "/hooks")
    assert delivery.headers["X-WEBHOOK-ID"] == delivery.headers["x-webhook-id"] == delivery_id
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["x-webhook-signature"].startswith("sha256=")
    assert delivery.body == json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
    assert delivery.json() == PAYLOAD
    assert delivery.status == 201
    assert delivery.response_headers == {"X-Seen": "yes"}
    assert delivery.received_at == START
    assert (delivery.verified, delivery.verification_error) == (None, None)
    assert receiver.problems == []


async def test_received_at_is_on_the_receivers_clock() -> None:
    clock = VirtualClock(1_234.0)
    receiver = MockReceiver(clock=clock)
    await post(receiver)
    clock.advance(10)
    await post(receiver)
    assert [d.received_at for d in receiver.deliveries] == [1_234.0, 1_244.0]


@pytest.mark.parametrize("header", ["X-Webhook-Id", "webhook-id", "svix-id", "SVIX-ID"])
async def test_the_delivery_id_comes_from_any_id_header(header: str) -> None:
    receiver = MockReceiver()
    await post(receiver, headers={header: "msg_123"})
    assert receiver.deliveries[0].id == "msg_123"


async def test_x_webhook_id_wins_over_webhook_id_and_no_id_is_none() -> None:
    receiver = MockReceiver()
    await post(receiver, headers={"webhook-id": "second", "X-Webhook-Id": "first"})
    await post(receiver, headers={"X-Webhook-Event": "ping"})
    assert [d.id for d in receiver.deliveries] == ["first", None]
    assert receiver.deliveries[1].event == "ping"


async def test_a_non_json_body_is_recorded_raw_and_json_raises() -> None:
    receiver = MockReceiver()
    await post(receiver, body=b"\xffnot json")
    delivery = receiver.deliveries[0]
    assert delivery.body == b"\xffnot json"
    with pytest.raises(ValueError):  # noqa: PT011 (json and unicode errors are both ValueErrors)
        delivery.json()


async def test_deliveries_is_a_copy() -> None:
    receiver = MockReceiver()
    await post(receiver)
    receiver.deliveries.clear()
    assert len(receiver.deliveries) == 1


# -- signatures -----------------------------------------------------------------------------


@pytest.mark.parametrize("signature_format", list(SignatureFormat))
async def test_expect_signature_marks_good_deliveries_verified(
    signature_format: SignatureFormat,
) -> None:
    queue = FakeQueue()
    receiver = queue.receiver().expect_signature(SECRET, scheme=signature_format)
    await dispatch_and_run(queue, receiver.url, signature_format=signature_format)
    (delivery,) = receiver.deliveries
    assert (delivery.verified, delivery.verification_error) == (True, None)
    assert receiver.problems == []
    assert "signature ok" in delivery.summary()


@pytest.mark.parametrize("signature_format", list(SignatureFormat))
async def test_expect_signature_flags_a_wrong_secret(signature_format: SignatureFormat) -> None:
    queue = FakeQueue()
    receiver = queue.receiver().expect_signature(OTHER_SECRET, scheme=signature_format)
    delivery_id = await dispatch_and_run(queue, receiver.url, signature_format=signature_format)
    (delivery,) = receiver.deliveries
    assert delivery.verified is False
    assert delivery.verification_error is not None
    assert delivery.verification_error.startswith("signature check failed (")
    assert delivery.status == 200  # a signature problem fails the test, not the delivery
    assert len(receiver.problems) == 1
    assert repr(delivery_id) in receiver.problems[0]
    assert "SIGNATURE FAILED" in delivery.summary()


@pytest.mark.parametrize("signature_format", list(SignatureFormat))
async def test_expect_signature_flags_a_tampered_body(signature_format: SignatureFormat) -> None:
    queue = FakeQueue()
    receiver = queue.receiver().expect_signature(SECRET, scheme=signature_format)
    await dispatch_and_run(queue, receiver.url, signature_format=signature_format)
    good = receiver.deliveries[0]
    tampered = good.body.replace(b"42", b"43")
    assert tampered != good.body
    await post(receiver, headers=resendable(good.headers), body=tampered)
    assert [d.verified for d in receiver.deliveries] == [True, False]
    assert len(receiver.problems) == 1
    assert repr(good.id) in receiver.problems[0]


@pytest.mark.parametrize(
    ("signature_format", "scheme"),
    [
        (SignatureFormat.STANDARD_WEBHOOKS, providers.STANDARD_WEBHOOKS),
        (SignatureFormat.HEX_SHA256_WITH_PREFIX, SignatureFormat.HEX_SHA256_WITH_PREFIX.scheme),
    ],
)
async def test_expect_signature_takes_a_scheme_too(
    signature_format: SignatureFormat, scheme: SignatureScheme
) -> None:
    queue = FakeQueue()
    receiver = queue.receiver().expect_signature(SECRET, scheme=scheme)
    await dispatch_and_run(queue, receiver.url, signature_format=signature_format)
    assert [d.verified for d in receiver.deliveries] == [True]


async def test_expect_signature_checks_timestamps_within_its_tolerance() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().expect_signature(
        SECRET, scheme=SignatureFormat.STRIPE, tolerance=10
    )
    await dispatch_and_run(queue, receiver.url, signature_format=SignatureFormat.STRIPE)
    good = receiver.deliveries[0]
    queue.advance(9)
    await post(receiver, headers=resendable(good.headers), body=good.body)
    queue.advance(2)
    await post(receiver, headers=resendable(good.headers), body=good.body)
    assert [d.verified for d in receiver.deliveries] == [True, True, False]
    assert len(receiver.problems) == 1


async def test_a_missing_signature_is_flagged() -> None:
    receiver = MockReceiver().expect_signature(SECRET)
    await post(receiver, headers={"X-Webhook-Id": "unsigned"})
    assert receiver.deliveries[0].verified is False
    assert "'unsigned'" in receiver.problems[0]


async def test_standard_webhooks_verify_at_the_virtual_time_hours_after_dispatch() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([503, 503, 200])
    receiver.expect_signature(SECRET, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    hourly = RetryPolicy(base_delay=3600, factor=2, jitter=0)
    await dispatch_and_run(
        queue,
        receiver.url,
        signature_format=SignatureFormat.STANDARD_WEBHOOKS,
        policy=hourly,
    )
    deliveries = receiver.deliveries
    assert [d.received_at - START for d in deliveries] == [0.0, 3600.0, 10800.0]
    assert [d.verified for d in deliveries] == [True, True, True]
    assert [d.headers["webhook-timestamp"] for d in deliveries] == [
        str(int(d.received_at)) for d in deliveries
    ]
    assert receiver.problems == []
    # The receiver checks the timestamp at its own (virtual) time: a replay an hour later fails.
    queue.advance(3600)
    await post(receiver, headers=resendable(deliveries[-1].headers), body=deliveries[-1].body)
    assert receiver.deliveries[-1].verified is False
    assert len(receiver.problems) == 1


# -- queries --------------------------------------------------------------------------------


async def test_unique_ids_in_first_seen_order_and_duplicates() -> None:
    receiver = MockReceiver()
    for delivery_id in ("b", "a", "b", "c", "a", "b"):
        await post(receiver, headers={"X-Webhook-Id": delivery_id})
    await post(receiver)  # no id: neither unique nor duplicate
    assert receiver.unique_ids() == ["b", "a", "c"]
    duplicates = receiver.duplicates()
    assert sorted(duplicates) == ["a", "b"]
    all_deliveries = receiver.deliveries
    assert duplicates["b"] == [all_deliveries[0], all_deliveries[2], all_deliveries[5]]
    assert duplicates["a"] == [all_deliveries[1], all_deliveries[4]]


async def test_no_duplicates_when_every_id_is_seen_once() -> None:
    receiver = MockReceiver()
    for delivery_id in ("x", "y"):
        await post(receiver, headers={"X-Webhook-Id": delivery_id})
    assert receiver.duplicates() == {}


async def test_gaps_are_measured_on_the_virtual_clock() -> None:
    queue = FakeQueue()
    receiver = queue.receiver()
    assert receiver.gaps() == []
    await post(receiver)
    assert receiver.gaps() == []
    for seconds in (5, 0, 60.5):
        queue.advance(seconds)
        await post(receiver)
    assert receiver.gaps() == [5.0, 0.0, 60.5]


# -- assertions -----------------------------------------------------------------------------


async def deliver_three(receiver: MockReceiver) -> None:
    await post(
        receiver,
        headers={"X-Webhook-Id": "one", "X-Webhook-Event": "order.created"},
        body=b'{"order_id": 42}',
    )
    await post(
        receiver,
        headers={"X-Webhook-Id": "two", "X-Webhook-Event": "order.created"},
        body=b'{"order_id": 7}',
    )
    await post(
        receiver,
        headers={"X-Webhook-Id": "three", "X-Webhook-Event": "user.deleted"},
        body=b'{"user_id": 1}',
    )


async def test_assert_delivered_passes_and_returns_the_matches() -> None:
    receiver = MockReceiver()
    await deliver_three(receiver)
    assert len(receiver.assert_delivered()) == 3
    matched = receiver.assert_delivered(event="order.created", times=2)
    assert [d.id for d in matched] == ["one", "two"]
    (only,) = receiver.assert_delivered(event="order.created", payload={"order_id": 42}, times=1)
    assert only.id == "one"
    assert [d.id for d in receiver.assert_delivered(id="three", times=1)] == ["three"]
    assert receiver.assert_delivered(event="never.sent", times=0) == []


async def test_assert_delivered_fails_with_the_nearest_deliveries_and_a_payload_diff() -> None:
    receiver = MockReceiver()
    await deliver_three(receiver)
    await post(receiver, headers={"X-Webhook-Id": "four", "X-Webhook-Event": "zzz"}, body=b"[]")
    with pytest.raises(AssertionError) as failure:
        receiver.assert_delivered(event="order.created", payload={"order_id": 43}, times=1)
    message = str(failure.value)
    assert message.startswith(
        "expected a 2xx delivery matching event='order.created', payload={'order_id': 43} "
        "1 time(s); found 0 among 4 received."
    )
    assert "nearest deliveries:" in message
    lines = message.splitlines()
    summaries = [line.strip() for line in lines if line.startswith("  t=")]
    assert len(summaries) == 3  # the nearest three, not everything
    assert "id='four'" not in message  # the farthest is left out
    assert ["id='one'" in summaries[0], "id='two'" in summaries[1]] == [True, True]
    assert "event='order.created'" in summaries[0]
    assert "-> 200, unverified" in summaries[0]
    assert "--- expected" in message
    assert "+++ received" in message
    assert '-  "order_id": 43' in message
    assert '+  "order_id": 42' in message
    assert '+  "order_id": 7' in message


async def test_assert_delivered_counts_only_2xx_answers() -> None:
    receiver = MockReceiver().script([503, 503, 200])
    for _ in range(3):
        await post(receiver, headers={"X-Webhook-Id": "a", "X-Webhook-Event": "ev"})
    assert [d.id for d in receiver.assert_delivered(event="ev", times=1)] == ["a"]
    with pytest.raises(AssertionError, match=r"found 1 among 3 received"):
        receiver.assert_delivered(event="ev", times=3)


async def test_assert_delivered_fails_on_a_wrong_count() -> None:
    receiver = MockReceiver()
    await deliver_three(receiver)
    with pytest.raises(AssertionError) as failure:
        receiver.assert_delivered(event="order.created", times=1)
    assert "matching event='order.created' 1 time(s); found 2 among 3" in str(failure.value)


async def test_assert_delivered_fails_on_an_unknown_id() -> None:
    receiver = MockReceiver()
    await deliver_three(receiver)
    with pytest.raises(AssertionError, match=r"matching id='nine' at least once; found 0"):
        receiver.assert_delivered(id="nine")


async def test_assert_delivered_says_when_nothing_came_at_all() -> None:
    receiver = MockReceiver()
    with pytest.raises(AssertionError) as failure:
        receiver.assert_delivered(event="order.created")
    assert "found 0 among 0 received" in str(failure.value)
    assert "nothing was received at all." in str(failure.value)


async def test_assert_no_deliveries() -> None:
    receiver = MockReceiver()
    receiver.assert_no_deliveries()
    await post(receiver, headers={"X-Webhook-Id": "oops", "X-Webhook-Event": "ev"})
    with pytest.raises(AssertionError) as failure:
        receiver.assert_no_deliveries()
    message = str(failure.value)
    assert message.startswith("expected no deliveries; received 1:")
    assert "id='oops'" in message
    assert "event='ev'" in message


# -- reset ----------------------------------------------------------------------------------


async def test_reset_forgets_deliveries_scripts_problems_and_expectations() -> None:
    receiver = MockReceiver().script([503], then="fail").expect_signature(SECRET)
    await post(receiver, headers={"X-Webhook-Id": "a"})
    await post(receiver, headers={"X-Webhook-Id": "a"})
    assert receiver.problems
    receiver.reset()
    assert receiver.deliveries == []
    assert receiver.problems == []
    assert receiver.unique_ids() == []
    assert receiver.duplicates() == {}
    assert receiver.gaps() == []
    receiver.assert_no_deliveries()
    response = await post(receiver, headers={"X-Webhook-Id": "b"})
    assert response.status_code == 200  # the script is gone
    assert receiver.deliveries[0].verified is None  # so is the expectation
    assert receiver.problems == []


# -- a real socket --------------------------------------------------------------------------


async def test_serve_answers_on_a_free_loopback_port() -> None:
    receiver = MockReceiver().script([503, 200])
    async with receiver.serve() as url:
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/hooks")
        async with httpx.AsyncClient() as client:
            first = await client.post(url, json={"a": 1}, headers={"X-Webhook-Id": "sock"})
            second = await client.post(url, json={"a": 1}, headers={"X-Webhook-Id": "sock"})
    assert (first.status_code, second.status_code) == (503, 200)
    assert receiver.unique_ids() == ["sock"]
    assert receiver.deliveries[1].json() == {"a": 1}
    assert receiver.deliveries[1].path == "/hooks"


async def test_serve_receives_from_a_memory_queue_and_worker() -> None:
    receiver = MockReceiver().script([503, 200]).expect_signature(SECRET)
    async with receiver.serve() as url:
        queue = MemoryQueue()
        await WebhookSubscription.register(queue)
        sub = (
            WebhookSubscription(url, SECRET)
            .allow_private_targets(True)
            .retry_policy(RetryPolicy(base_delay=0.01, jitter=0))
        )
        delivery_id = await sub.dispatch(queue, "order.created", PAYLOAD)
        await Worker(queue).run_until_idle()
    assert [d.id for d in receiver.deliveries] == [delivery_id, delivery_id]
    assert [d.status for d in receiver.deliveries] == [503, 200]
    assert all(d.verified for d in receiver.deliveries)
    receiver.assert_delivered(event="order.created", payload=PAYLOAD, id=delivery_id, times=1)
    assert receiver.problems == []


def test_serve_in_thread_works_from_synchronous_code() -> None:
    receiver = MockReceiver().script([Reply(202, body="thanks")])
    with receiver.serve_in_thread() as url:
        assert url.startswith("http://127.0.0.1:")
        response = httpx.post(url, json={"b": 2}, headers={"X-Webhook-Event": "ping"})
        assert (response.status_code, response.text) == (202, "thanks")
        assert len(receiver.deliveries) == 1  # recorded as it arrives
    receiver.assert_delivered(event="ping", payload={"b": 2}, times=1)
    with pytest.raises(httpx.TransportError):
        httpx.post(url, content=b"{}", timeout=2)  # the server is gone
