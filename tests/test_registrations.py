"""`webhook_kit.registrations`: the handler and secrets this process keeps for each queue."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from webhook_kit import (
    MemoryQueue,
    NotRegisteredError,
    SignatureFormat,
    WebhookSubscription,
    Worker,
)
from webhook_kit.clock import VirtualClock
from webhook_kit.registrations import (
    SecretMemory,
    handler_of,
    registration_of,
    secret_memory_of,
)
from webhook_kit.testing import FakeQueue

pytestmark = pytest.mark.anyio

SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"


async def test_register_keeps_the_handler_for_that_queue_only() -> None:
    one, other = MemoryQueue(), MemoryQueue()
    handler = await WebhookSubscription.register(one)
    try:
        assert handler_of(one) is handler
        assert handler_of(other) is None
        assert registration_of(one).handler is handler
        with pytest.raises(NotRegisteredError):
            await Worker(other).run_until_idle()
    finally:
        await handler.aclose()


async def test_registering_again_replaces_and_closes_the_handler() -> None:
    queue = FakeQueue()
    first = await WebhookSubscription.register(queue)
    closed: list[bool] = []

    async def aclose() -> None:
        closed.append(True)

    first.aclose = aclose  # type: ignore[method-assign]
    second = await WebhookSubscription.register(queue)
    assert handler_of(queue) is second
    assert closed == [True]


async def test_secrets_are_kept_per_queue() -> None:
    clock = VirtualClock(1_700_000_000)
    one, other = MemoryQueue(clock=clock), MemoryQueue(clock=clock)
    sub = WebhookSubscription("https://example.com/hooks", SECRET).signature_format(
        SignatureFormat.STANDARD_WEBHOOKS
    )
    delivery_id = await sub.dispatch(one, "order.created", {"n": 1})
    assert secret_memory_of(one).get(delivery_id) == SECRET
    assert secret_memory_of(other).get(delivery_id) is None
    assert len(secret_memory_of(other)) == 0
    assert secret_memory_of(one) is secret_memory_of(one)  # the same object every time


async def test_a_registration_does_not_keep_its_queue_alive() -> None:
    queue = MemoryQueue()
    handler = await WebhookSubscription.register(queue)
    await handler.aclose()
    memory = secret_memory_of(queue)
    memory.remember("d1", SECRET)
    gone = weakref.ref(queue)
    del queue
    gc.collect()
    assert gone() is None
    fresh = MemoryQueue()  # may reuse the dead queue's id: it starts empty all the same
    assert handler_of(fresh) is None
    assert len(secret_memory_of(fresh)) == 0


def test_queues_that_compare_equal_are_kept_apart() -> None:
    class EqualQueue(MemoryQueue):
        def __eq__(self, other: object) -> bool:
            return isinstance(other, EqualQueue)

        def __hash__(self) -> int:
            return 1

    one, other = EqualQueue(), EqualQueue()
    assert one == other
    secret_memory_of(one).remember("d1", SECRET)
    assert secret_memory_of(other).get("d1") is None


def test_an_object_that_cannot_be_weakly_referenced_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot be registered"):
        secret_memory_of(42)


def test_threads_get_one_registration_per_queue() -> None:
    queue = MemoryQueue()
    barrier = threading.Barrier(8)
    found: list[SecretMemory] = []

    def look_up() -> None:
        barrier.wait(10)
        found.append(secret_memory_of(queue))

    threads = [threading.Thread(target=look_up) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(found) == 8
    assert all(memory is found[0] for memory in found)


def test_secret_memory_shows_no_secret() -> None:
    memory = SecretMemory()
    memory.remember("d1", SECRET)
    assert SECRET not in repr(memory)
    assert repr(memory) == "<SecretMemory: 1 deliveries>"
