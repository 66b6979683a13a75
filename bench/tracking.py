"""What the delivery benchmarks watch from the sending side, and the receiver's arrival notes.

`TrackingStack` is the aiohttp stack the Worker delivers with, counting the healthy answers
and the attempts out at once to one hanging URL, so a benchmark can wait for "n delivered"
whatever queue it runs on. `arrivals` reads what the bench receiver noted (`receiver.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from webhook_kit.http_stacks import HttpResponse
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack

WAIT = 60.0  # seconds any one wait may take before the run is called broken


class TrackingStack(AiohttpStack):
    """The aiohttp stack, counting 200 answers and the attempts to ``hang_url`` out at once."""

    def __init__(self, hang_url: str | None = None) -> None:
        super().__init__()
        self.hang_url = hang_url
        self.hanging = 0
        self.hanging_peak = 0
        self.answered = 0  # 200s
        self._target = 0
        self._reached = asyncio.Event()

    async def post(self, url: str, *args: Any, **options: Any) -> HttpResponse:
        # The rest (body, headers, timeouts, policy, ...) goes to the aiohttp stack as given.
        hanging = url == self.hang_url
        if hanging:
            self.hanging += 1
            self.hanging_peak = max(self.hanging_peak, self.hanging)
            if self.hanging >= self._target:
                self._reached.set()
        try:
            response = await super().post(url, *args, **options)
        finally:
            if hanging:
                self.hanging -= 1
        if response.status == 200:
            self.answered += 1
            if self.answered >= self._target:
                self._reached.set()
        return response

    async def until(self, reached: Callable[[], bool], target: int, wait: float = WAIT) -> None:
        """Wait (at most ``wait`` s) until ``reached()``, checked when a count hits ``target``.

        Raises:
            RuntimeError: not reached in time, saying how far the counts got.
        """

        async def waiting() -> None:
            while not reached():
                self._target = target
                self._reached.clear()
                if not reached():
                    await self._reached.wait()

        try:
            await asyncio.wait_for(waiting(), wait)
        except asyncio.TimeoutError:
            raise RuntimeError(
                f"waited {wait:g} s for a count of {target}: {self.answered} answered, "
                f"{self.hanging} hanging attempts out"
            ) from None

    async def answered_at_least(self, count: int, wait: float = WAIT) -> None:
        """Wait (at most ``wait`` s) until ``count`` 200s have come back in all."""
        await self.until(lambda: self.answered >= count, count, wait)


async def arrivals(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """The receiver's arrival notes since the last call, by delivery id (and forget them)."""
    async with session.get(f"{base}/arrivals") as response:
        noted: dict[str, float] = await response.json()
        return noted
