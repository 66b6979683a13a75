"""An app that already mocks httpx with respx: mount the receiver on the respx router."""

from __future__ import annotations

import httpx
import pytest
import respx

from webhook_kit import WebhookQueue, WebhookSubscription
from webhook_kit.testing import FakeQueue, MockReceiver, mount_on_respx

pytestmark = pytest.mark.anyio

PAYMENTS = "https://payments.example.com/charges"


async def place_order(
    client: httpx.AsyncClient, queue: WebhookQueue, subscription: WebhookSubscription
) -> str:
    """The app's code: charge through the payments API, then tell the customer's endpoint."""
    charge = await client.post(PAYMENTS, json={"order_id": 42, "amount": "19.99"})
    charge.raise_for_status()
    payload = {"order_id": 42, "charge_id": charge.json()["id"]}
    return await subscription.dispatch(queue, "order.paid", payload)


async def test_order_is_charged_then_announced(
    respx_mock: respx.MockRouter, fake_queue: FakeQueue, webhook_receiver: MockReceiver
) -> None:
    charges = respx_mock.post(PAYMENTS).respond(201, json={"id": "ch_1"})
    mount_on_respx(webhook_receiver.script([503, 200]), respx_mock)

    async with httpx.AsyncClient() as client:  # respx answers for every httpx client
        await WebhookSubscription.register(fake_queue, client=client)
        subscription = WebhookSubscription(webhook_receiver.url, "s3cret")
        delivery_id = await place_order(client, fake_queue, subscription)
        await fake_queue.run_until_idle()

    assert charges.call_count == 1
    webhook_receiver.assert_delivered(
        id=delivery_id, payload={"order_id": 42, "charge_id": "ch_1"}, times=1
    )
    assert [d.status for d in webhook_receiver.deliveries] == [503, 200]
    assert webhook_receiver.gaps() == [pytest.approx(300, rel=0.1)]  # still on virtual time
