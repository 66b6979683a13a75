"""The fixtures, as a user's test file sees them: ``fake_queue``, ``webhook_receiver``,
``webhook_receiver_server`` and ``webhook_secret``."""

from __future__ import annotations

import pytest


def test_fake_queue_runs_on_a_virtual_clock_from_1_700_000_000(
    user_project: pytest.Pytester,
) -> None:
    user_project.makepyfile(
        """
        import pytest
        from webhook_kit import RetryPolicy, WebhookSubscription
        from webhook_kit.testing import FakeQueue

        def test_default_start(fake_queue):
            assert isinstance(fake_queue, FakeQueue)
            assert fake_queue.clock.is_virtual
            assert fake_queue.clock.now() == 1_700_000_000.0

        @pytest.mark.webhook_kit(start=1_800_000_000)
        def test_marker_start(fake_queue):
            assert fake_queue.clock.now() == 1_800_000_000.0

        @pytest.mark.webhook_kit(start=1_600_000_000)
        class TestClassMarker:
            def test_start(self, fake_queue):
                assert fake_queue.clock.now() == 1_600_000_000.0

        def test_advance(fake_queue):
            fake_queue.advance(90)
            assert fake_queue.clock.now() == 1_700_000_090.0

        @pytest.mark.anyio
        async def test_attempts_and_dead_letters(fake_queue, webhook_receiver):
            webhook_receiver.script([503, 200], event="order.created")
            webhook_receiver.script([404], event="order.deleted")
            await WebhookSubscription.register(fake_queue)
            sub = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(
                RetryPolicy(base_delay=30, factor=2, jitter=0)
            )
            created = await sub.dispatch(fake_queue, "order.created", {"order_id": 1})
            deleted = await sub.dispatch(fake_queue, "order.deleted", {"order_id": 2})
            await fake_queue.run_until_idle()

            attempts = [
                (a.delivery_id, a.attempt, a.status, a.outcome) for a in fake_queue.attempts
            ]
            assert sorted(attempts) == sorted([
                (created, 1, 503, "retry"),
                (deleted, 1, 404, "dead"),
                (created, 2, 200, "delivered"),
            ])
            retried = [a for a in fake_queue.attempts if a.delivery_id == created]
            assert [a.started_at for a in retried] == [1_700_000_000.0, 1_700_000_030.0]
            [dead] = fake_queue.dead_letters
            assert (dead.id, dead.attempts, dead.last_status) == (deleted, 1, 404)
            assert not dead.gone
            assert fake_queue.clock.now() == 1_700_000_030.0  # jumped, never slept
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(passed=5)


def test_webhook_receiver_shares_fake_queues_clock_and_is_routed_in_process(
    user_project: pytest.Pytester,
) -> None:
    user_project.makepyfile(
        """
        import pytest
        from webhook_kit import WebhookSubscription
        from webhook_kit.testing import TEST_DOMAIN, MockReceiver

        @pytest.mark.webhook_kit(start=1_750_000_000)
        @pytest.mark.anyio
        async def test_on_the_queue(fake_queue, webhook_receiver):
            assert isinstance(webhook_receiver, MockReceiver)
            assert webhook_receiver.clock is fake_queue.clock
            assert webhook_receiver.url.startswith("http://")
            assert webhook_receiver.host.endswith("." + TEST_DOMAIN)
            assert fake_queue.router.get(webhook_receiver.host) is webhook_receiver
            await WebhookSubscription.register(fake_queue)
            fake_queue.advance(5)
            delivery_id = await WebhookSubscription(webhook_receiver.url, "s").dispatch(
                fake_queue, "ping", {}
            )
            await fake_queue.run_until_idle()
            [delivery] = webhook_receiver.deliveries
            assert (delivery.id, delivery.received_at) == (delivery_id, 1_750_000_005.0)

        # Asked for first, the receiver still ends up on the queue.
        def test_order_of_arguments_does_not_matter(webhook_receiver, fake_queue):
            assert webhook_receiver.clock is fake_queue.clock
            assert fake_queue.router.receivers == [webhook_receiver]
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(passed=2)


def test_webhook_receiver_without_fake_queue_is_a_plain_mock_receiver(
    user_project: pytest.Pytester,
) -> None:
    user_project.makepyfile(
        """
        import time

        import httpx
        import pytest
        from webhook_kit.testing import MockReceiver

        @pytest.mark.anyio
        async def test_plain(webhook_receiver):
            assert type(webhook_receiver) is MockReceiver
            assert not webhook_receiver.clock.is_virtual
            webhook_receiver.script([202])
            transport = webhook_receiver.transport
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.post(
                    webhook_receiver.url,
                    content=b'{"n": 1}',
                    headers={"X-Webhook-Id": "d-1", "X-Webhook-Event": "ping"},
                )
            assert response.status_code == 202
            [delivery] = webhook_receiver.deliveries
            assert (delivery.id, delivery.event, delivery.json()) == ("d-1", "ping", {"n": 1})
            assert abs(delivery.received_at - time.time()) < 60  # the system clock
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(passed=1)


def test_each_test_gets_fresh_fixtures(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        """
        import httpx
        import pytest
        from webhook_kit import WebhookSubscription

        seen_receivers = []
        seen_queues = []
        seen_secrets = []

        @pytest.mark.anyio
        async def test_first(fake_queue, webhook_receiver, webhook_secret):
            seen_receivers.append(webhook_receiver)
            seen_queues.append(fake_queue)
            seen_secrets.append(webhook_secret)
            await WebhookSubscription.register(fake_queue)
            await WebhookSubscription(webhook_receiver.url, webhook_secret).dispatch(
                fake_queue, "ping", {}
            )
            fake_queue.advance(3600)
            await fake_queue.run_until_idle()
            assert len(webhook_receiver.deliveries) == 1

        @pytest.mark.anyio
        async def test_second(fake_queue, webhook_receiver, webhook_secret):
            seen_receivers.append(webhook_receiver)
            seen_queues.append(fake_queue)
            seen_secrets.append(webhook_secret)
            assert webhook_receiver.deliveries == []
            assert fake_queue.attempts == []
            assert fake_queue.clock.now() == 1_700_000_000.0
            assert fake_queue.router.receivers == [webhook_receiver]

        @pytest.mark.anyio
        async def test_third_without_the_queue(webhook_receiver, webhook_secret):
            seen_receivers.append(webhook_receiver)
            seen_secrets.append(webhook_secret)
            assert webhook_receiver.deliveries == []
            async with httpx.AsyncClient(transport=webhook_receiver.transport) as client:
                await client.post(webhook_receiver.url, content=b"{}")
            assert len(webhook_receiver.deliveries) == 1

        def test_they_were_all_different(webhook_secret):
            seen_secrets.append(webhook_secret)
            assert len({id(r) for r in seen_receivers}) == 3
            assert len({r.url for r in seen_receivers}) == 3
            assert seen_queues[0] is not seen_queues[1]
            assert len(set(seen_secrets)) == 4
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(passed=4)


def test_webhook_secret_is_a_fresh_non_empty_string(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        """
        import pytest

        secrets_seen = []

        @pytest.fixture
        def uses_the_secret_too(webhook_secret):
            return webhook_secret

        @pytest.mark.parametrize("n", range(3))
        def test_secret(webhook_secret, uses_the_secret_too, n):
            assert isinstance(webhook_secret, str)
            assert len(webhook_secret) >= 32
            assert webhook_secret.strip() == webhook_secret
            assert uses_the_secret_too == webhook_secret  # one value per test
            secrets_seen.append(webhook_secret)

        def test_all_different():
            assert len(set(secrets_seen)) == 3
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(passed=4)


SERVER_TESTS = """
import asyncio
import re

import pytest
from webhook_kit import MemoryQueue, WebhookSubscription, Worker

URL = re.compile(r"http://127\\.0\\.0\\.1:[0-9]+/hooks")


async def deliver(url, secret):
    queue = MemoryQueue()
    handler = await WebhookSubscription.register(queue)
    try:
        subscription = WebhookSubscription(url, secret).allow_private_targets(True)
        delivery_id = await subscription.dispatch(queue, "order.created", {"order_id": 42})
        await Worker(queue).run_until_idle()
    finally:
        await handler.aclose()
    return delivery_id, queue


def test_from_a_sync_test(webhook_receiver_server, webhook_secret):
    assert URL.fullmatch(webhook_receiver_server.url), webhook_receiver_server.url
    webhook_receiver_server.expect_signature(webhook_secret)
    delivery_id, queue = asyncio.run(deliver(webhook_receiver_server.url, webhook_secret))
    assert queue.dead_letters == ()
    [delivery] = webhook_receiver_server.deliveries
    assert (delivery.id, delivery.verified) == (delivery_id, True)
    assert delivery.json() == {"order_id": 42}
    webhook_receiver_server.assert_delivered(event="order.created", times=1)


@pytest.mark.anyio
async def test_from_an_async_test(webhook_receiver_server, webhook_secret):
    assert URL.fullmatch(webhook_receiver_server.url), webhook_receiver_server.url
    webhook_receiver_server.script([201])
    delivery_id, _ = await deliver(webhook_receiver_server.url, webhook_secret)
    webhook_receiver_server.assert_delivered(id=delivery_id, payload={"order_id": 42}, times=1)
    assert [d.status for d in webhook_receiver_server.deliveries] == [201]


def test_a_fresh_server_per_test(webhook_receiver_server):
    assert webhook_receiver_server.deliveries == []
"""


def test_webhook_receiver_server_serves_a_real_socket_from_sync_and_async_tests(
    user_project: pytest.Pytester,
) -> None:
    user_project.makepyfile(SERVER_TESTS)
    result = user_project.runpytest()
    result.assert_outcomes(passed=3)
