"""Clocks: where webhook-kit's time comes from (wall-clock epoch seconds), never ``time`` patching.

`SystemClock` is real time. `VirtualClock` moves only when told to — by a test, or by a worker
that has nothing in flight and waits for the next due job — which is what lets a 27-hour retry
schedule run in milliseconds.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import anyio

from .errors import InvalidInputError

__all__ = ["AttemptBudget", "Clock", "SystemClock", "VirtualClock", "current_attempt_budget"]


@runtime_checkable
class Clock(Protocol):
    """A source of epoch seconds that a worker can wait on."""

    @property
    def is_virtual(self) -> bool:
        """Whether waiting jumps time forward instead of sleeping."""
        ...

    def now(self) -> float:
        """The current time, in epoch seconds."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline`` (a virtual clock jumps there)."""
        ...


class SystemClock:
    """Real time: ``time.time()``, and real sleeps."""

    is_virtual = False

    def now(self) -> float:
        """The current epoch seconds."""
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until ``deadline`` (returns at once if it has passed)."""
        delay = deadline - time.time()
        if delay > 0:
            await anyio.sleep(delay)

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """A clock for tests: it starts at ``start`` and moves only when told to.

    Usage:

        clock = VirtualClock()          # 1_700_000_000.0
        clock.advance(3600)             # an hour later, instantly
        await clock.sleep_until(clock.now() + 60)   # jumps, does not sleep

    Args:
        start: the starting epoch seconds; a whole number keeps attempt times readable.

    Raises:
        InvalidInputError: ``start`` is not a finite number.
    """

    is_virtual = True

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = _finite(start, "start")
        self._holds = 0
        self._released: anyio.Event | None = None

    def now(self) -> float:
        """The virtual epoch seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (never backwards).

        Raises:
            InvalidInputError: ``seconds`` is negative or not finite.
        """
        seconds = _finite(seconds, "seconds")
        if seconds < 0:
            raise InvalidInputError("a clock cannot go backwards")
        self._now += seconds

    def jump_to(self, when: float) -> None:
        """Move the clock to ``when`` if that is later than now."""
        when = _finite(when, "when")
        self._now = max(self._now, when)

    def hold(self) -> None:
        """An attempt is in flight: `sleep_until` may not jump until it is `release`d.

        Time stands still during an attempt. A worker never jumps while its own attempts run;
        holds keep a second worker on the same clock from jumping past the first one's leases.
        """
        self._holds += 1

    def release(self) -> None:
        """The end of an attempt `hold` announced."""
        self._holds = max(0, self._holds - 1)
        if self._holds == 0 and self._released is not None:
            self._released.set()
            self._released = None

    @property
    def held(self) -> bool:
        """Whether some attempt on this clock is in flight."""
        return self._holds > 0

    async def sleep_until(self, deadline: float) -> None:
        """Jump to ``deadline`` (if later) and let other tasks run once.

        While an attempt holds the clock (`hold`), this waits for the holds to end and returns
        without jumping: what is due may have changed, so the caller asks again.
        """
        if self._holds:
            if self._released is None:
                self._released = anyio.Event()
            await self._released.wait()
            return
        self.jump_to(deadline)
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r})"


def _finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number of seconds, not {value!r}")
    return float(value)


@dataclass(slots=True)
class AttemptBudget:
    """The time one attempt may take, for in-process receivers on a virtual clock.

    A virtual clock never moves during an attempt, so an in-process receiver that is scripted to
    be slow cannot really sleep: it charges its delay to the attempt's budget instead. When the
    charges reach the timeout, the attempt is a timeout — exactly as a slow receiver on a real
    socket would be. The delivery layer opens a budget around each attempt on a virtual clock.

    Attributes:
        timeout: seconds the attempt may take.
        spent: seconds charged so far.
    """

    timeout: float
    spent: float = 0.0

    def charge(self, seconds: float) -> bool:
        """Charge ``seconds``; return whether the attempt is still within its timeout."""
        self.spent += seconds
        return self.spent < self.timeout


_attempt_budget: ContextVar[AttemptBudget | None] = ContextVar(
    "webhook_kit_attempt_budget", default=None
)


def current_attempt_budget() -> AttemptBudget | None:
    """The budget of the attempt running in this context, on a virtual clock; else ``None``."""
    return _attempt_budget.get()
