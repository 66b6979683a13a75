"""Testing code that sends webhooks: an in-process receiver, and retries on a virtual clock.

Run with pytest and the anyio plugin (``pip install 'webhook-kit[test]'``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from webhook_kit import (
    MemoryQueue,
    SignatureFormat,
    VirtualClock,
    WebhookSubscription,
    Worker,
    verify,
)


@dataclass(frozen=True)
class ReceivedDelivery:
    path: str
    headers: Headers  # case-insensitive: verify() takes it as it is
    body: bytes


class RecordingReceiver:
    """Answers each POST with the next entry of ``script``, and 200 once the script runs out.

    An entry is a status code, or a Starlette `Response` for headers and a body.
    """

    def __init__(self, script: Iterable[int | Response] = ()) -> None:
        self.script = list(script)
        self.deliveries: list[ReceivedDelivery] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        self.deliveries.append(ReceivedDelivery(request.url.path, request.headers, body))
        answer = self.script.pop(0) if self.script else 200
        return answer if isinstance(answer, Response) else Response(status_code=answer)

    def client(self) -> httpx.AsyncClient:
        """A client whose requests this receiver answers in-process, whatever their host."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app))


URL = "https://customer.example.com/hooks"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.anyio
async def test_a_delivery_outlasts_an_outage() -> None:
    clock = VirtualClock()
    queue = MemoryQueue(clock=clock)
    receiver = RecordingReceiver([503, 503, 503, 503, 503])  # then 200
    subscription = WebhookSubscription(URL, SECRET).signature_format(
        SignatureFormat.STANDARD_WEBHOOKS
    )
    async with receiver.client() as client:
        await WebhookSubscription.register(queue, client=client)
        delivery_id = await subscription.dispatch(queue, "order.created", {"order_id": 42})
        await Worker(queue).run_until_idle()  # 2.6 hours of backoff, in milliseconds

    attempts = await queue.history(delivery_id)
    assert [attempt.status for attempt in attempts] == [503, 503, 503, 503, 503, 200]
    waited = attempts[-1].started_at - attempts[0].started_at
    assert 0.9 * 155 * 60 <= waited <= 1.1 * 155 * 60  # 5 + 10 + 20 + 40 + 80 minutes, ±10%
    for attempt, delivery in zip(attempts, receiver.deliveries, strict=True):
        assert delivery.headers["X-Webhook-Id"] == delivery_id  # the same on every attempt
        assert delivery.body == b'{"order_id":42}'  # and so are the bytes
        # Signed when it was sent: the receiver's 5-minute window holds for every attempt.
        scheme = SignatureFormat.STANDARD_WEBHOOKS
        verify(delivery.body, delivery.headers, SECRET, scheme=scheme, now=attempt.started_at)


@pytest.mark.anyio
async def test_a_client_error_is_dead_lettered_at_once() -> None:
    queue = MemoryQueue(clock=VirtualClock())
    receiver = RecordingReceiver([JSONResponse({"error": "unknown hook"}, status_code=404)])
    async with receiver.client() as client:
        await WebhookSubscription.register(queue, client=client)
        await WebhookSubscription(URL, SECRET).dispatch(queue, "order.created", {"order_id": 42})
        await Worker(queue).run_until_idle()

    [dead] = queue.dead_letters
    assert (dead.attempts, dead.last_status, dead.gone) == (1, 404, False)
    assert dead.response_excerpt == '{"error":"unknown hook"}'
