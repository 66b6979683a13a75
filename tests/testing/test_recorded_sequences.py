"""`FakeQueue.dead_letters`, `FakeQueue.attempts` and `MockReceiver.deliveries` are one kind of
sequence: lists (copies), so ``== []``, indexing, ``len``, iteration and slicing behave alike."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.testing import FakeQueue

pytestmark = pytest.mark.anyio


def recorded(queue: FakeQueue) -> dict[str, Sequence[object]]:
    (receiver,) = queue.router.receivers
    return {
        "dead_letters": queue.dead_letters,
        "attempts": queue.attempts,
        "deliveries": receiver.deliveries,
    }


async def test_empty_ones_compare_equal_to_an_empty_list() -> None:
    queue = FakeQueue()
    queue.receiver()
    for name, sequence in recorded(queue).items():
        assert sequence == [], name
        assert type(sequence) is list, name


async def test_full_ones_index_slice_and_iterate_alike() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([503, 404])
    await WebhookSubscription.register(queue)
    sub = WebhookSubscription(receiver.url, "s3cret").retry_policy(
        RetryPolicy(base_delay=1, jitter=0)
    )
    first = await sub.dispatch(queue, "order.created", {"order_id": 1})
    await queue.run_until_idle()
    second = await sub.dispatch(queue, "order.created", {"order_id": 2})
    await queue.run_until_idle()
    sequences = recorded(queue)
    assert {name: len(s) for name, s in sequences.items()} == {
        "dead_letters": 2,
        "attempts": 3,
        "deliveries": 3,
    }
    for name, sequence in sequences.items():
        assert type(sequence[:1]) is list, name  # a slice is of the same kind
        assert sequence[:] == list(sequence) == [*iter(sequence)], name
        assert sequence[-1] == sequence[len(sequence) - 1], name
    assert [d.event.id for d in queue.dead_letters] == [first, second]
    assert [a.delivery_id for a in queue.attempts] == [first, first, second]
    assert [d.id for d in receiver.deliveries] == [first, first, second]


async def test_they_are_copies_a_test_cannot_change_the_record_through() -> None:
    queue = FakeQueue()
    receiver = queue.receiver().script([410])
    await WebhookSubscription.register(queue)
    await WebhookSubscription(receiver.url, "s3cret").dispatch(queue, "gone", {})
    await queue.run_until_idle()
    for sequence in recorded(queue).values():
        assert isinstance(sequence, list)
        sequence.clear()
    assert [len(s) for s in recorded(queue).values()] == [1, 1, 1]
