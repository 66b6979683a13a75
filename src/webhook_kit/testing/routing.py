"""In-process routing: an httpx transport that hands each request to the right `MockReceiver`."""

from __future__ import annotations

import httpx

from ..netguard import TargetRefusedError
from .receiver import MockReceiver

__all__ = ["ReceiverRouter", "UnroutableTargetError"]


class UnroutableTargetError(TargetRefusedError):
    """A delivery in a test aimed at a URL that no `MockReceiver` of the test serves."""

    def __init__(self, url: str, known: list[str]) -> None:
        listing = ", ".join(known) if known else "none yet"
        Exception.__init__(
            self,
            f"{url} is not a receiver of this test, so fake_queue refused it (nothing leaves the "
            f"process). Known receivers: {listing}. Aim the subscription at "
            "webhook_receiver.url, or add your MockReceiver with fake_queue.add_receiver().",
        )
        self.host = httpx.URL(url).host
        self.address = ""


class ReceiverRouter(httpx.AsyncBaseTransport):
    """Routes requests by host to registered receivers' ASGI apps; refuses every other host."""

    def __init__(self) -> None:
        self._receivers: dict[str, MockReceiver] = {}
        self.refused: list[str] = []

    def add(self, receiver: MockReceiver) -> MockReceiver:
        """Route ``receiver.host`` to ``receiver``."""
        self._receivers[receiver.host.lower()] = receiver  # host names are case-insensitive
        return receiver

    def get(self, host: str) -> MockReceiver | None:
        """The receiver for ``host``, if any."""
        return self._receivers.get(host.lower())

    @property
    def receivers(self) -> list[MockReceiver]:
        """The receivers routed to."""
        return list(self._receivers.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Hand ``request`` to its receiver in-process."""
        receiver = self._receivers.get(request.url.host.lower())
        if receiver is None:
            url = str(request.url.copy_with(query=None))
            self.refused.append(url)
            raise UnroutableTargetError(url, [r.url for r in self._receivers.values()])
        return await receiver.transport.handle_async_request(request)
