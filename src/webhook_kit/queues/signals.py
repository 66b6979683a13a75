"""`WorkSignal`: how a queue wakes a worker in the same process when work arrives."""

from __future__ import annotations

import asyncio

__all__ = ["WorkSignal"]


class WorkSignal:
    """Wakes a worker waiting for work; `notify` is safe from any thread."""

    def __init__(self) -> None:
        # Created now (asyncio binds it to a loop only when awaited), so a notification that
        # comes before the first wait is kept, not lost.
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        event, loop = self._event, self._loop
        if loop is None or loop.is_closed():
            event.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def wait(self, max_wait: float) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            pending = self._event.is_set()
            self._loop, self._event = loop, asyncio.Event()
            if pending:
                self._event.set()
        try:
            await asyncio.wait_for(self._event.wait(), max_wait)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            pass
        finally:
            self._event.clear()
