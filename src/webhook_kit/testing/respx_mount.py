"""Serving a respx route with a `MockReceiver`, for apps that already mock httpx with respx."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .receiver import MockReceiver

if TYPE_CHECKING:
    import respx

__all__ = ["mount_on_respx"]


def mount_on_respx(
    receiver: MockReceiver, router: respx.MockRouter, url: str | None = None
) -> respx.Route:
    """Answer POSTs to ``url`` (default ``receiver.url``) in ``router`` with ``receiver``.

    The receiver's scripts, recording and assertions work as they do under ``fake_queue``.

    Usage:

        async def test_with_respx(respx_mock, webhook_receiver):
            mount_on_respx(webhook_receiver.script([503, 200]), respx_mock)
            ...   # the app's code POSTs to webhook_receiver.url through httpx
            webhook_receiver.assert_delivered(event="order.created")

    Returns:
        The respx route (its ``calls`` are recorded by respx as usual).
    """
    import respx

    route = router.post(url or receiver.url)
    route.mock(side_effect=respx.ASGIHandler(receiver.app))
    return route
