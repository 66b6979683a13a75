"""What `dispatch` refuses in a payload — keys that are not strings, bodies over the cap — on
every queue and through both dispatch calls, leaving nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from webhook_kit import (
    DEFAULT_MAX_BODY_BYTES,
    InvalidInputError,
    InvalidPayloadError,
    SignatureFormat,
    SQLiteQueue,
    WebhookSubscription,
    verify,
)
from webhook_kit.clock import VirtualClock
from webhook_kit.queues import MemoryQueue, QueueCounts
from webhook_kit.registrations import secret_memory_of
from webhook_kit.testing import FakeQueue

URL = "https://customer.example.com/hooks"
SECRET = "payload-safety-secret-4f1b"
NOW = 1_700_000_000.0
EMPTY = QueueCounts(pending=0, due=0, in_flight=0, delivered=0, dead=0)

NON_STRING_KEYS: list[Any] = [
    {1: "a"},
    {1: "int", "1": "str"},  # json.dumps would write {"1":"int","1":"str"}
    {True: "yes"},
    {None: "nothing"},
    {1.5: "float"},
    {"order": {"lines": [{"sku": "A", 2: "qty"}]}},
    [{"ok": 1}, {False: 0}],
    ({"nested": ({None: 1},)},),
]
NON_STRING_IDS = ["int", "int-and-str", "bool", "none", "float", "nested", "in-list", "in-tuple"]


@pytest.fixture(params=["memory", "sqlite", "fake"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryQueue | SQLiteQueue]:
    if request.param == "memory":
        yield MemoryQueue(clock=VirtualClock(NOW))
    elif request.param == "fake":
        yield FakeQueue()
    else:
        opened = SQLiteQueue(tmp_path / "queue.sqlite3", clock=VirtualClock(NOW))
        try:
            yield opened
        finally:
            opened.close()


def subscription(fmt: SignatureFormat = SignatureFormat.STANDARD_WEBHOOKS) -> WebhookSubscription:
    secret = "whsec_" + "cGF5bG9hZC1zYWZldHktdGVzdC1rZXktMzItYnl0ZXMh"
    if fmt is not SignatureFormat.STANDARD_WEBHOOKS:
        secret = SECRET
    return WebhookSubscription(URL, secret).signature_format(fmt)


async def dispatch_both_ways(
    queue: MemoryQueue | SQLiteQueue, sub: WebhookSubscription, payload: Any
) -> list[InvalidPayloadError]:
    """Dispatch ``payload`` with `dispatch` and with `dispatch_sync`; the errors raised."""
    errors = []
    with pytest.raises(InvalidPayloadError) as raised:
        await sub.dispatch(queue, "order.created", payload)
    errors.append(raised.value)
    with pytest.raises(InvalidPayloadError) as raised:
        await anyio.to_thread.run_sync(sub.dispatch_sync, queue, "order.created", payload)
    errors.append(raised.value)
    return errors


@pytest.mark.anyio
@pytest.mark.parametrize("payload", NON_STRING_KEYS, ids=NON_STRING_IDS)
async def test_a_key_that_is_not_a_string_is_refused_and_nothing_is_stored(
    queue: MemoryQueue | SQLiteQueue, payload: Any
) -> None:
    for error in await dispatch_both_ways(queue, subscription(), payload):
        assert "keys must be strings" in str(error)
    assert await queue.counts() == EMPTY
    assert len(secret_memory_of(queue)) == 0


@pytest.mark.anyio
async def test_the_message_says_where_the_key_is(queue: MemoryQueue | SQLiteQueue) -> None:
    payload = {"order": {"lines": [{"sku": "A", 2: "qty"}]}}
    (error, _) = await dispatch_both_ways(queue, subscription(), payload)
    assert "payload['order']['lines'][0] has the key 2 (int)" in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", [SignatureFormat.HEX_SHA256_WITH_PREFIX, SignatureFormat.STRIPE])
async def test_a_payload_over_the_cap_is_refused_naming_both_sizes(
    queue: MemoryQueue | SQLiteQueue, fmt: SignatureFormat
) -> None:
    sub = subscription(fmt).max_payload_bytes(1000)
    payload = {"note": "é" * 500}  # 500 characters, 1,000 bytes of UTF-8: 1,011 in all
    for error in await dispatch_both_ways(queue, sub, payload):
        assert "1011 bytes" in str(error)
        assert "1000 bytes" in str(error)
    assert await queue.counts() == EMPTY
    assert len(secret_memory_of(queue)) == 0


@pytest.mark.anyio
async def test_a_payload_at_the_cap_is_sent(queue: MemoryQueue | SQLiteQueue) -> None:
    sub = subscription().max_payload_bytes(1011)
    await sub.dispatch(queue, "order.created", {"note": "é" * 500})
    assert (await queue.counts()).pending == 1


def body_of(size: int) -> dict[str, str]:
    """A payload whose JSON body is exactly ``size`` bytes."""
    payload = {"p": "x" * (size - len('{"p":""}'))}
    assert len(json.dumps(payload, separators=(",", ":"))) == size
    return payload


def test_the_default_cap_is_what_a_default_receiver_verifies() -> None:
    sub = subscription(SignatureFormat.HEX_SHA256_WITH_PREFIX)
    largest = sub.build_event("order.created", body_of(DEFAULT_MAX_BODY_BYTES), now=NOW)
    assert largest.signature is not None
    verify(largest.body_bytes, {"X-Webhook-Signature": largest.signature}, SECRET)
    with pytest.raises(InvalidPayloadError, match=f"over the cap of {DEFAULT_MAX_BODY_BYTES}"):
        sub.build_event("order.created", body_of(DEFAULT_MAX_BODY_BYTES + 1), now=NOW)


def test_a_raised_cap_sends_larger_bodies() -> None:
    sub = subscription().max_payload_bytes(DEFAULT_MAX_BODY_BYTES * 2)
    event = sub.build_event("order.created", body_of(DEFAULT_MAX_BODY_BYTES + 1), now=NOW)
    assert len(event.body_bytes) == DEFAULT_MAX_BODY_BYTES + 1


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "100", None])
def test_the_cap_must_be_a_positive_int(limit: Any) -> None:
    with pytest.raises(InvalidInputError, match="max_payload_bytes"):
        subscription().max_payload_bytes(limit)


def test_the_cap_is_per_subscription() -> None:
    template = subscription()
    small: Callable[..., Any] = template.max_payload_bytes(10).build_event
    with pytest.raises(InvalidPayloadError):
        small("order.created", body_of(11), now=NOW)
    assert template.build_event("order.created", body_of(11), now=NOW).body == '{"p":"xxx"}'


@pytest.mark.anyio
async def test_nothing_is_stored_in_postgresql_either(postgres_url: str) -> None:
    from webhook_kit.queues.postgres import PostgresQueue

    async with PostgresQueue(postgres_url) as queue:
        sub = subscription().max_payload_bytes(1000)
        for payload in ({1: "int", "1": "str"}, {"order": [{None: 0}]}, {"big": "x" * 2000}):
            with pytest.raises(InvalidPayloadError):
                await sub.dispatch(queue, "order.created", payload)
        assert await queue.counts() == EMPTY
        assert len(secret_memory_of(queue)) == 0
