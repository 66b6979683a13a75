"""Side-by-side timing: contenders interleaved round by round, so machine noise hits all alike."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    seconds_per_call: float


def compare(
    contenders: dict[str, Callable[[], object]],
    *,
    calls: int = 20_000,
    rounds: int = 15,
) -> dict[str, Result]:
    """Time each contender ``calls`` times per round, ``rounds`` times, interleaved.

    The figure kept is each contender's best round (the least disturbed by other load).
    """
    for function in contenders.values():  # warm caches, JIT-free but import- and cache-warm
        for _ in range(200):
            function()
    best = dict.fromkeys(contenders, float("inf"))
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, function in contenders.items():
                started = time.perf_counter()
                for _ in range(calls):
                    function()
                elapsed = (time.perf_counter() - started) / calls
                best[name] = min(best[name], elapsed)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Result(name, seconds) for name, seconds in best.items()}
