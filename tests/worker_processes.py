"""What the multi-process tests share: waiting on helper worker processes, and the checks a
crash test makes of what the receiver got."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio
import pytest

from webhook_kit import WebhookSubscription
from webhook_kit.queues import DeliveryStore
from webhook_kit.testing import MockReceiver


class HelperProcess(Protocol):
    """A helper worker process the test started."""

    name: str
    process: subprocess.Popen[bytes]

    def describe(self) -> str:
        """Its pid, exit status and the tail of its log, for a failure message."""
        ...


async def wait_for(
    condition: Callable[[], Awaitable[bool]],
    *,
    within: float,
    what: str,
    workers: Sequence[HelperProcess],
) -> None:
    """Poll ``condition`` until it holds; fail with the workers' logs if one exits first, or
    when ``within`` seconds have passed."""
    with anyio.move_on_after(within):
        while True:
            if await condition():
                return
            dead = [worker for worker in workers if worker.process.poll() is not None]
            if dead:
                pytest.fail(f"a worker exited waiting for {what}:\n{dead[0].describe()}")
            await anyio.sleep(0.01)
    details = "\n".join(worker.describe() for worker in workers)
    pytest.fail(f"timed out waiting for {what}\n{details}")


async def dispatch_orders(
    subscription: WebhookSubscription, queue: DeliveryStore, count: int
) -> dict[str, dict[str, object]]:
    """Dispatch ``count`` distinct orders; their payloads by delivery id."""
    payloads: dict[str, dict[str, object]] = {}
    for n in range(count):
        payload = {"n": n, "order": f"A-{n:05d}", "note": "crash ✓"}
        payloads[await subscription.dispatch(queue, "order.created", payload)] = payload
    assert len(payloads) == count
    return payloads


def assert_every_delivery_arrived_intact(
    receiver: MockReceiver, payloads: dict[str, Any], *, redelivered: bool = True
) -> None:
    """Each dispatched delivery arrived, signed; redeliveries carry the same id, body and
    signature; nothing arrived that was not dispatched."""
    deliveries = receiver.deliveries
    assert len(deliveries) >= len(payloads)
    assert receiver.problems == []  # every delivery, redeliveries too, signed correctly
    assert all(delivery.verified for delivery in deliveries)
    assert sorted(receiver.unique_ids()) == sorted(payloads)
    for delivery in deliveries:
        assert delivery.id is not None
        assert json.loads(delivery.body) == payloads[delivery.id]
    duplicates = receiver.duplicates()
    if redelivered:
        assert duplicates, "no kill interrupted an attempt the receiver had seen"
    for delivery_id, copies in duplicates.items():
        assert {copy.id for copy in copies} == {delivery_id}
        assert len({copy.body for copy in copies}) == 1, delivery_id
        assert len({copy.headers["x-webhook-signature"] for copy in copies}) == 1
