"""The network guard end to end: a loopback target is refused unless the subscription opts in.

Only 127.0.0.1 and ``localhost`` are ever targeted; how other ranges are classified is
unit-tested in ``tests/http_stacks/test_netguard.py``.
"""

from __future__ import annotations

import pytest

from webhook_kit import MemoryQueue, QueueCounts, WebhookSubscription, Worker
from webhook_kit.http_stacks import NetworkStack
from webhook_kit.registrations import handler_of

from .conftest import PAYLOAD, SECRET, Endpoint, Receiver, exact

pytestmark = pytest.mark.anyio

HOSTS = ["127.0.0.1", "localhost"]


def url_on(endpoint: Endpoint, host: str) -> str:
    return endpoint.url.replace("127.0.0.1", host, 1)


async def send(queue: MemoryQueue, stack: NetworkStack | None, sub: WebhookSubscription) -> str:
    await WebhookSubscription.register(queue, stack=stack)
    delivery_id = await sub.dispatch(queue, "order.created", PAYLOAD)
    await Worker(queue).run_until_idle()
    return delivery_id


async def assert_refused(queue: MemoryQueue, endpoint: Endpoint, delivery_id: str) -> None:
    assert endpoint.requests == []  # no request left
    [dead] = queue.dead_letters
    assert dead.id == delivery_id
    assert dead.attempts == 1  # fatal: the 8-attempt budget is not spent on it
    assert dead.last_status is None
    assert "network guard" in dead.reason.lower(), dead.reason
    assert "allow_private_targets" in dead.reason  # says how to opt in
    [record] = await queue.history(delivery_id)
    assert record.outcome == "dead"
    assert record.error is not None
    assert "refused" in record.error
    assert await queue.counts() == QueueCounts(pending=0, due=0, in_flight=0, delivered=0, dead=1)


@pytest.mark.parametrize("host", HOSTS)
async def test_the_default_settings_refuse_a_loopback_target(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, host: str
) -> None:
    endpoint = live_receiver.endpoint(200)
    sub = WebhookSubscription(url_on(endpoint, host), SECRET)  # no allow_private_targets
    delivery_id = await send(queue, stack, sub)
    await assert_refused(queue, endpoint, delivery_id)


@pytest.mark.parametrize("host", HOSTS)
async def test_the_default_stack_refuses_a_loopback_target(
    queue: MemoryQueue, live_receiver: Receiver, host: str
) -> None:
    endpoint = live_receiver.endpoint(200)
    sub = WebhookSubscription(url_on(endpoint, host), SECRET)
    try:
        delivery_id = await send(queue, None, sub)  # register(queue): the default stack
    finally:
        assert handler_of(queue) is not None
        await handler_of(queue).aclose()
    await assert_refused(queue, endpoint, delivery_id)


@pytest.mark.parametrize("host", HOSTS)
async def test_an_allow_list_that_misses_loopback_still_refuses(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, host: str
) -> None:
    endpoint = live_receiver.endpoint(200)
    sub = WebhookSubscription(url_on(endpoint, host), SECRET).allow_private_targets(
        ["10.0.0.0/8", "192.168.0.0/16"]
    )
    delivery_id = await send(queue, stack, sub)
    await assert_refused(queue, endpoint, delivery_id)


@pytest.mark.parametrize("host", HOSTS)
async def test_allow_private_targets_false_refuses(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver, host: str
) -> None:
    endpoint = live_receiver.endpoint(200)
    sub = (
        WebhookSubscription(url_on(endpoint, host), SECRET)
        .allow_private_targets(True)
        .allow_private_targets(False)
    )
    delivery_id = await send(queue, stack, sub)
    await assert_refused(queue, endpoint, delivery_id)


@pytest.mark.parametrize("allowed", [["127.0.0.0/8"], True], ids=["allow_list", "all"])
@pytest.mark.parametrize("host", HOSTS)
async def test_opting_in_delivers_to_loopback(
    queue: MemoryQueue,
    stack: NetworkStack,
    live_receiver: Receiver,
    host: str,
    allowed: list[str] | bool,
) -> None:
    endpoint = live_receiver.endpoint(200)
    sub = (
        WebhookSubscription(url_on(endpoint, host), SECRET)
        .allow_private_targets(allowed)
        .retry_policy(exact(max_attempts=1))
    )
    delivery_id = await send(queue, stack, sub)

    assert endpoint.ids == [delivery_id]
    assert queue.dead_letters == ()
    [record] = await queue.history(delivery_id)
    assert (record.status, record.outcome) == (200, "delivered")


async def test_the_guard_is_per_subscription_on_one_stack(
    queue: MemoryQueue, stack: NetworkStack, live_receiver: Receiver
) -> None:
    """A connection pooled for an opted-in subscription is not reused by a default one."""
    opted_in = live_receiver.endpoint(200)
    default = live_receiver.endpoint(200)
    await WebhookSubscription.register(queue, stack=stack)
    allowed_id = await (
        WebhookSubscription(opted_in.url, SECRET)
        .allow_private_targets(True)
        .dispatch(queue, "order.created", PAYLOAD)
    )
    await Worker(queue).run_until_idle()
    refused_id = await WebhookSubscription(default.url, SECRET).dispatch(
        queue, "order.created", PAYLOAD
    )
    await Worker(queue).run_until_idle()

    assert opted_in.ids == [allowed_id]
    assert default.requests == []
    [dead] = queue.dead_letters
    assert dead.id == refused_id
    assert "network guard" in dead.reason.lower()
