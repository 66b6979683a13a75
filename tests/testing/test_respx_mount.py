"""`mount_on_respx`: a `MockReceiver` answering a respx route, for apps that mock httpx."""

from __future__ import annotations

import httpx
import pytest
import respx

from webhook_kit import MemoryQueue, RetryPolicy, VirtualClock, WebhookSubscription, Worker
from webhook_kit.testing import MockReceiver, Reply
from webhook_kit.testing.respx_mount import mount_on_respx

pytestmark = pytest.mark.anyio

SECRET = "s3cret-for-respx"


async def app_sends_webhook(url: str, delivery_id: str, order_id: int) -> httpx.Response:
    """The application's own code: it POSTs with its own httpx client."""
    async with httpx.AsyncClient() as client:
        return await client.post(
            url,
            json={"order_id": order_id},
            headers={"X-Webhook-Id": delivery_id, "X-Webhook-Event": "order.created"},
        )


async def test_the_apps_own_client_is_answered_by_the_receivers_script() -> None:
    receiver = MockReceiver().script([503, Reply(200, headers={"X-Ok": "1"}, body="ok")])
    async with respx.mock as router:
        route = mount_on_respx(receiver, router)
        first = await app_sends_webhook(receiver.url, "d-1", 42)
        second = await app_sends_webhook(receiver.url, "d-1", 42)
    assert (first.status_code, second.status_code) == (503, 200)
    assert (second.headers["x-ok"], second.text) == ("1", "ok")
    assert route.call_count == 2
    assert [d.status for d in receiver.deliveries] == [503, 200]
    assert receiver.unique_ids() == ["d-1"]
    assert list(receiver.duplicates()) == ["d-1"]
    assert receiver.deliveries[0].json() == {"order_id": 42}
    assert receiver.deliveries[0].path == "/hooks"
    receiver.assert_delivered(event="order.created", payload={"order_id": 42}, times=1)
    with pytest.raises(AssertionError, match="nearest deliveries"):
        receiver.assert_delivered(payload={"order_id": 43})


async def test_the_route_answers_only_posts_to_its_url() -> None:
    receiver = MockReceiver()
    async with respx.mock(assert_all_called=False) as router:
        mount_on_respx(receiver, router)
        other = router.post("https://elsewhere.example/hooks").respond(418)
        async with httpx.AsyncClient() as client:
            response = await client.post("https://elsewhere.example/hooks", content=b"{}")
    assert response.status_code == 418
    assert other.called
    receiver.assert_no_deliveries()


async def test_mounting_on_another_url() -> None:
    receiver = MockReceiver().script([202], path="/custom/path")
    url = "https://customer.example.com/custom/path"
    async with respx.mock as router:
        route = mount_on_respx(receiver, router, url)
        response = await app_sends_webhook(url, "d-2", 7)
    assert response.status_code == 202
    assert route.called
    (delivery,) = receiver.deliveries
    assert (delivery.id, delivery.path, delivery.headers["host"]) == (
        "d-2",
        "/custom/path",
        "customer.example.com",
    )


async def test_webhook_kit_delivering_through_a_respx_mocked_client() -> None:
    clock = VirtualClock()
    queue = MemoryQueue(clock=clock)
    receiver = MockReceiver(clock=clock).script([503, 503, 200]).expect_signature(SECRET)
    async with respx.mock as router:
        mount_on_respx(receiver, router)
        async with httpx.AsyncClient() as client:
            await WebhookSubscription.register(queue, client=client)
            sub = WebhookSubscription(receiver.url, SECRET).retry_policy(
                RetryPolicy(base_delay=60, factor=2, jitter=0)
            )
            delivery_id = await sub.dispatch(queue, "order.created", {"order_id": 42})
            await Worker(queue).run_until_idle()
    assert [d.id for d in receiver.deliveries] == [delivery_id] * 3
    assert receiver.gaps() == [60.0, 120.0]
    assert all(d.verified for d in receiver.deliveries)
    receiver.assert_delivered(id=delivery_id, payload={"order_id": 42}, times=1)
    assert receiver.problems == []
