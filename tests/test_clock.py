"""`SystemClock` and `VirtualClock`."""

from __future__ import annotations

import math
import time

import anyio
import pytest

from webhook_kit import InvalidInputError
from webhook_kit.clock import Clock, SystemClock, VirtualClock


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(VirtualClock(), Clock)
    assert SystemClock().is_virtual is False
    assert VirtualClock().is_virtual is True


def test_virtual_clock_starts_at_a_whole_number() -> None:
    clock = VirtualClock()
    assert clock.now() == 1_700_000_000.0
    assert isinstance(clock.now(), float)
    assert VirtualClock(5).now() == 5.0


def test_virtual_clock_stands_still_until_told() -> None:
    clock = VirtualClock()
    before = clock.now()
    time.sleep(0.01)
    assert clock.now() == before


def test_advance() -> None:
    clock = VirtualClock(1000)
    clock.advance(3600)
    assert clock.now() == 4600.0
    clock.advance(0)
    assert clock.now() == 4600.0
    clock.advance(0.5)
    assert clock.now() == 4600.5


@pytest.mark.parametrize("seconds", [-1, -0.001, math.nan, math.inf, -math.inf, True, "5"])
def test_advance_refuses_backwards_and_non_finite(seconds: object) -> None:
    clock = VirtualClock(1000)
    with pytest.raises(InvalidInputError):
        clock.advance(seconds)  # type: ignore[arg-type]
    assert clock.now() == 1000.0


def test_jump_to_never_goes_backwards() -> None:
    clock = VirtualClock(1000)
    clock.jump_to(5000)
    assert clock.now() == 5000.0
    clock.jump_to(2000)
    assert clock.now() == 5000.0
    clock.jump_to(5000)
    assert clock.now() == 5000.0


@pytest.mark.parametrize("when", [math.nan, math.inf, None])
def test_jump_to_refuses_non_finite(when: object) -> None:
    clock = VirtualClock(1000)
    with pytest.raises(InvalidInputError):
        clock.jump_to(when)  # type: ignore[arg-type]
    assert clock.now() == 1000.0


@pytest.mark.parametrize("start", [math.nan, math.inf, True, "0"])
def test_virtual_clock_refuses_a_bad_start(start: object) -> None:
    with pytest.raises(InvalidInputError):
        VirtualClock(start)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_virtual_sleep_until_jumps_without_sleeping() -> None:
    clock = VirtualClock()
    target = clock.now() + 27 * 3600
    with anyio.fail_after(60):  # 27 hours, not slept
        await clock.sleep_until(target)
    assert clock.now() == target
    await clock.sleep_until(target - 100)  # the past: no jump back
    assert clock.now() == target


@pytest.mark.anyio
async def test_virtual_sleep_until_refuses_nan() -> None:
    with pytest.raises(InvalidInputError):
        await VirtualClock().sleep_until(math.nan)


def test_system_clock_is_wall_time() -> None:
    assert SystemClock().now() == pytest.approx(time.time(), abs=1.0)
    assert repr(SystemClock()) == "SystemClock()"


@pytest.mark.anyio
async def test_system_sleep_until_the_past_returns_at_once() -> None:
    clock = SystemClock()
    with anyio.fail_after(60):
        await clock.sleep_until(time.time() - 3600)


@pytest.mark.anyio
async def test_system_sleep_until_waits_for_the_deadline() -> None:
    clock = SystemClock()
    deadline = clock.now() + 0.05
    await clock.sleep_until(deadline)
    assert clock.now() >= deadline - 0.01


@pytest.mark.anyio
async def test_a_held_virtual_clock_does_not_jump_until_released() -> None:
    clock = VirtualClock(1000.0)
    clock.hold()
    assert clock.held

    async def release_soon() -> None:
        await anyio.sleep(0.01)
        clock.release()

    async with anyio.create_task_group() as group:
        group.start_soon(release_soon)
        with anyio.fail_after(60):
            await clock.sleep_until(5000.0)  # waits for the hold, then returns unmoved
    assert clock.now() == 1000.0
    assert not clock.held
    await clock.sleep_until(5000.0)
    assert clock.now() == 5000.0


def test_release_without_a_hold_is_harmless() -> None:
    clock = VirtualClock(1000.0)
    clock.release()
    clock.hold()
    assert clock.held
    clock.release()
    assert not clock.held
