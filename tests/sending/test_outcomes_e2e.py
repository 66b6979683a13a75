"""Every row of the outcome table, end to end: dispatch → queue → worker → receiver → outcome.

Statuses are answered by a real Starlette app on 127.0.0.1 through both network stacks;
transport errors are raised by respx under an injected ``httpx.AsyncClient``; a slow or
oversized answer comes from the real socket again. Retry schedules run on a `VirtualClock`.
"""

from __future__ import annotations

import httpx
import pytest
import respx

from webhook_kit import (
    MemoryQueue,
    QueueCounts,
    SystemClock,
    WebhookSubscription,
    Worker,
)
from webhook_kit.http_stacks import NetworkStack
from webhook_kit.outcomes import RESPONSE_EXCERPT_BYTES
from webhook_kit.registrations import secret_memory_of

from .conftest import PAYLOAD, SECRET, Receiver, Reply, exact, gaps, to

pytestmark = pytest.mark.anyio

RESPX_URL = "https://receiver.invalid/hooks"  # never resolvable: nothing can leave


async def deliver(
    queue: MemoryQueue, stack: NetworkStack, sub: WebhookSubscription, *, concurrency: int = 8
) -> str:
    """Register ``stack``, dispatch one ``order.created``, run the worker until idle."""
    await WebhookSubscription.register(queue, stack=stack)
    delivery_id = await sub.dispatch(queue, "order.created", PAYLOAD)
    await Worker(queue, concurrency=concurrency).run_until_idle()
    return delivery_id


def counts(*, delivered: int = 0, dead: int = 0, pending: int = 0) -> QueueCounts:
    return QueueCounts(pending=pending, due=0, in_flight=0, delivered=delivered, dead=dead)


# --- 2xx: delivered -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204])
async def test_2xx_is_delivered_in_one_attempt(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, status: int
) -> None:
    endpoint = live_receiver.endpoint(status)
    delivery_id = await deliver(queue, stack, to(endpoint))

    assert endpoint.ids == [delivery_id]
    [record] = await queue.history(delivery_id)
    assert (record.attempt, record.status, record.error, record.outcome) == (
        1,
        status,
        None,
        "delivered",
    )
    assert await queue.counts() == counts(delivered=1)
    assert queue.dead_letters == ()
    assert len(secret_memory_of(queue)) == 0


# --- 408, 429, 5xx and added codes: retried -------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_a_retryable_status_is_retried_until_it_turns_200(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, status: int
) -> None:
    endpoint = live_receiver.endpoint(Reply(status, b"try later"), status, 200)
    delivery_id = await deliver(queue, stack, to(endpoint))

    assert endpoint.ids == [delivery_id] * 3
    history = await queue.history(delivery_id)
    assert [(r.attempt, r.status, r.outcome) for r in history] == [
        (1, status, "retry"),
        (2, status, "retry"),
        (3, 200, "delivered"),
    ]
    assert history[0].response_excerpt == "try later"
    assert gaps(history) == [60.0, 120.0]  # exact(): base 60 s, factor 2
    assert await queue.counts() == counts(delivered=1)
    assert queue.dead_letters == ()


async def test_a_status_added_with_retry_status_codes_is_retried(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    endpoint = live_receiver.endpoint(409, 200)
    delivery_id = await deliver(queue, stack, to(endpoint).retry_status_codes([409]))

    assert endpoint.ids == [delivery_id] * 2
    history = await queue.history(delivery_id)
    assert [(r.status, r.outcome) for r in history] == [(409, "retry"), (200, "delivered")]
    assert await queue.counts() == counts(delivered=1)


# --- other 4xx: dead at once ----------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_a_client_error_is_dead_lettered_at_once(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, status: int
) -> None:
    body = b'{"error": "bad signature", "detail": "caf\xc3\xa9"}'
    endpoint = live_receiver.endpoint(Reply(status, body), 200)
    delivery_id = await deliver(queue, stack, to(endpoint))

    assert endpoint.ids == [delivery_id]  # exactly one request: the 200 is never reached
    [dead] = queue.dead_letters
    assert dead.id == delivery_id
    assert dead.last_status == status
    assert dead.last_error is None
    assert dead.attempts == 1
    assert dead.gone is False
    assert str(status) in dead.reason
    assert "client error" in dead.reason
    assert dead.response_excerpt == body.decode("utf-8")
    assert dead.dead_at == queue.clock.now()
    [record] = await queue.history(delivery_id)
    assert (record.status, record.outcome) == (status, "dead")
    assert await queue.counts() == counts(dead=1)
    assert len(secret_memory_of(queue)) == 0


async def test_the_dead_letter_keeps_a_capped_excerpt_of_a_long_body(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    body = b"e" * (RESPONSE_EXCERPT_BYTES * 2 + 17)
    endpoint = live_receiver.endpoint(Reply(422, body))
    await deliver(queue, stack, to(endpoint))

    [dead] = queue.dead_letters
    assert dead.response_excerpt == "e" * RESPONSE_EXCERPT_BYTES


# --- 3xx: dead, never followed --------------------------------------------------------------


@pytest.mark.parametrize("location", ["absolute", "relative"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_dead_lettered_and_not_followed(
    queue: MemoryQueue,
    stack: NetworkStack,
    live_receiver: Receiver,
    status: int,
    location: str,
) -> None:
    target = live_receiver.endpoint(200)
    redirect_to = target.url if location == "absolute" else target.path
    endpoint = live_receiver.endpoint(Reply(status, headers={"Location": redirect_to}))
    delivery_id = await deliver(queue, stack, to(endpoint))

    assert endpoint.ids == [delivery_id]
    assert target.requests == []  # the redirect target received nothing
    [dead] = queue.dead_letters
    assert dead.last_status == status
    assert dead.attempts == 1
    assert "redirect" in dead.reason
    assert "never followed" in dead.reason
    assert await queue.counts() == counts(dead=1)


# --- 410: dead and gone ---------------------------------------------------------------------


async def test_410_is_dead_lettered_as_gone(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    endpoint = live_receiver.endpoint(Reply(410, b"subscription removed"), 200)
    delivery_id = await deliver(queue, stack, to(endpoint))

    assert endpoint.ids == [delivery_id]
    [dead] = queue.dead_letters
    assert dead.gone is True
    assert dead.last_status == 410
    assert dead.attempts == 1
    assert "410" in dead.reason
    assert dead.response_excerpt == "subscription removed"


async def test_other_fatal_statuses_are_not_reported_gone(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    await deliver(queue, stack, to(live_receiver.endpoint(404)))
    [dead] = queue.dead_letters
    assert dead.gone is False


# --- the attempt budget ---------------------------------------------------------------------


async def test_after_max_attempts_the_delivery_is_dead_lettered_with_its_last_status(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    endpoint = live_receiver.endpoint(Reply(503, b"down for maintenance"))
    sub = to(endpoint).retry_policy(exact(max_attempts=4, base_delay=1))
    delivery_id = await deliver(queue, stack, sub)

    assert endpoint.ids == [delivery_id] * 4  # exactly max_attempts requests
    [dead] = queue.dead_letters
    assert dead.attempts == 4
    assert dead.last_status == 503
    assert dead.last_error is None
    assert dead.response_excerpt == "down for maintenance"
    assert "4 attempts" in dead.reason
    assert "503" in dead.reason
    history = await queue.history(delivery_id)
    assert [r.outcome for r in history] == ["retry", "retry", "retry", "dead"]
    assert [r.attempt for r in history] == [1, 2, 3, 4]
    assert await queue.counts() == counts(dead=1)


@pytest.mark.parametrize("max_attempts", [1, 2])
async def test_a_small_budget_is_spent_exactly(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, max_attempts: int
) -> None:
    endpoint = live_receiver.endpoint(500)
    sub = to(endpoint).retry_policy(exact(max_attempts=max_attempts))
    await deliver(queue, stack, sub)

    assert len(endpoint.requests) == max_attempts
    [dead] = queue.dead_letters
    assert dead.attempts == max_attempts


# --- transport errors (respx): retried ------------------------------------------------------

TRANSPORT_ERRORS = {
    "connect": (httpx.ConnectError, ("connect:",)),
    "read_timeout": (httpx.ReadTimeout, ("timeout:",)),
    "protocol": (httpx.RemoteProtocolError, ("protocol:", "connection_lost:")),
}


@pytest.mark.parametrize("name", sorted(TRANSPORT_ERRORS))
async def test_a_transport_error_is_retried(queue: MemoryQueue, name: str) -> None:
    error, kinds = TRANSPORT_ERRORS[name]
    sub = WebhookSubscription(RESPX_URL, SECRET).retry_policy(exact())
    async with httpx.AsyncClient() as client:
        await WebhookSubscription.register(queue, client=client)
        with respx.mock(assert_all_mocked=True) as router:
            route = router.post(RESPX_URL).mock(
                side_effect=[error("boom"), error("boom"), httpx.Response(200)]
            )
            delivery_id = await sub.dispatch(queue, "order.created", PAYLOAD)
            await Worker(queue).run_until_idle()

    assert route.call_count == 3
    assert {call.request.headers["x-webhook-id"] for call in route.calls} == {delivery_id}
    history = await queue.history(delivery_id)
    assert [(r.status, r.outcome) for r in history] == [
        (None, "retry"),
        (None, "retry"),
        (200, "delivered"),
    ]
    for record in history[:2]:
        assert record.error is not None
        assert record.error.startswith(kinds), record.error
    assert gaps(history) == [60.0, 120.0]
    assert await queue.counts() == counts(delivered=1)


@pytest.mark.parametrize("name", sorted(TRANSPORT_ERRORS))
async def test_transport_errors_dead_letter_after_max_attempts(
    queue: MemoryQueue, name: str
) -> None:
    error, kinds = TRANSPORT_ERRORS[name]
    sub = WebhookSubscription(RESPX_URL, SECRET).retry_policy(exact(max_attempts=3))
    async with httpx.AsyncClient() as client:
        await WebhookSubscription.register(queue, client=client)
        with respx.mock(assert_all_mocked=True) as router:
            route = router.post(RESPX_URL).mock(side_effect=error)
            delivery_id = await sub.dispatch(queue, "order.created", PAYLOAD)
            await Worker(queue).run_until_idle()

    assert route.call_count == 3
    [dead] = queue.dead_letters
    assert dead.id == delivery_id
    assert dead.attempts == 3
    assert dead.last_status is None
    assert dead.last_error is not None
    assert dead.last_error.startswith(kinds), dead.last_error
    assert "3 attempts" in dead.reason
    assert dead.last_error in dead.reason
    assert await queue.counts() == counts(dead=1)


# --- slow and oversized answers on a real socket --------------------------------------------


async def test_a_trickling_receiver_times_out_and_the_attempt_is_retried(
    stack: NetworkStack, live_receiver: Receiver
) -> None:
    queue = MemoryQueue(clock=SystemClock())
    endpoint = live_receiver.endpoint(Reply(200, trickle=40))  # 20 s if it were let finish
    sub = to(endpoint).timeout(1.5).retry_policy(exact(max_attempts=1))
    delivery_id = await deliver(queue, stack, sub)

    assert endpoint.ids == [delivery_id]
    [record] = await queue.history(delivery_id)
    assert record.status is None
    assert record.error is not None
    assert record.error.startswith("timeout:"), record.error
    assert record.latency < 6  # the total timeout cut it off, not the 20 s stream
    [dead] = queue.dead_letters
    # Classified as a retry and turned into a dead letter only by the spent budget.
    assert dead.reason.startswith("gave up after 1 attempts")
    assert dead.last_error == record.error


@pytest.mark.parametrize("form", ["streamed", "declared"])
async def test_an_oversized_response_is_an_error_and_retried(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, form: str
) -> None:
    size = 4 * 1024 * 1024
    huge = Reply(200, stream_bytes=size) if form == "streamed" else Reply(200, b"x" * size)
    endpoint = live_receiver.endpoint(huge, 200)
    delivery_id = await deliver(queue, stack, to(endpoint))

    history = await queue.history(delivery_id)
    assert [(r.status, r.outcome) for r in history] == [(None, "retry"), (200, "delivered")]
    assert history[0].error is not None
    assert history[0].error.startswith("response_too_large:"), history[0].error
    assert endpoint.ids == [delivery_id] * 2
