"""Scripted responses for `MockReceiver`: statuses, full replies, delays, and what comes after."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..errors import InvalidInputError

__all__ = ["Delay", "Reply", "Script", "Step", "Then"]


@dataclass(frozen=True, slots=True)
class Reply:
    """A full scripted response.

    Attributes:
        status: the status code.
        headers: response headers (e.g. ``Retry-After``).
        body: the response body.

    Usage:

        receiver.script([Reply(429, headers={"Retry-After": "120"}), 200])
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | str = b""

    def __post_init__(self) -> None:
        _check_status(self.status)


@dataclass(frozen=True, slots=True)
class Delay:
    """Answer ``then`` after ``seconds``; a delay past the sender's timeout is a timeout.

    On a virtual clock (``fake_queue``) the delay is charged to the attempt instead of slept,
    so a 30-second delay against a 10-second timeout times out instantly.
    """

    seconds: float
    then: int | Reply = 200

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise InvalidInputError("a delay is a number of seconds")
        if not math.isfinite(self.seconds) or self.seconds < 0:
            raise InvalidInputError("a delay must be finite and not negative")
        if isinstance(self.then, int):
            _check_status(self.then)


Step = int | Reply | Delay
"""One scripted response: a status, a `Reply` or a `Delay`."""

Then = Literal["repeat_last", "fail"] | int | Reply
"""What follows the last step: repeat it, fail the test, or a fixed response."""


def _check_status(status: object) -> None:
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise InvalidInputError(f"a scripted status must be an int from 100 to 599: {status!r}")


class Script:
    """Steps played in order, then ``then``. Not thread-safe (one event loop)."""

    __slots__ = ("_next", "steps", "then")

    def __init__(self, steps: Iterable[Step], then: Then = "repeat_last") -> None:
        self.steps: tuple[Step, ...] = tuple(steps)
        for step in self.steps:
            if isinstance(step, int):
                _check_status(step)
            elif not isinstance(step, (Reply, Delay)):
                raise InvalidInputError(f"not a scripted step: {step!r}")
        if not self.steps:
            raise InvalidInputError("a script needs at least one step")
        if then not in ("repeat_last", "fail"):
            if isinstance(then, int):
                _check_status(then)
            elif not isinstance(then, Reply):
                raise InvalidInputError(
                    f"then= is 'repeat_last', 'fail', a status or a Reply, not {then!r}"
                )
        self.then = then
        self._next = 0

    def next_step(self) -> Step | None:
        """The next step, or ``None`` when the script ran out with ``then="fail"``."""
        position = self._next
        self._next += 1
        if position < len(self.steps):
            return self.steps[position]
        if self.then == "repeat_last":
            return self.steps[-1]
        if self.then == "fail":
            return None
        return self.then

    @property
    def played(self) -> int:
        """How many requests this script has answered (or refused)."""
        return self._next

    def __repr__(self) -> str:
        return f"Script({list(self.steps)!r}, then={self.then!r})"
