"""`RetryPolicy` (backoff, jitter, validation, JSON) and `parse_retry_after`."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_kit import InvalidInputError
from webhook_kit.retry import MAX_ATTEMPTS, RetryPolicy, parse_retry_after

NOW = 1_700_000_000.0


@st.composite
def policies(draw: st.DrawFn, *, jitter: float | None = None) -> RetryPolicy:
    base = draw(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
    extra = draw(st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False))
    return RetryPolicy(
        max_attempts=draw(st.integers(min_value=1, max_value=50)),
        base_delay=base,
        factor=draw(st.floats(min_value=1, max_value=10, allow_nan=False)),
        max_delay=base + extra,
        jitter=(
            draw(st.floats(min_value=0, max_value=0.99, allow_nan=False))
            if jitter is None
            else jitter
        ),
    )


def exact_delay(policy: RetryPolicy, attempt: int) -> float:
    """The documented formula, for attempts small enough that it cannot overflow."""
    return min(policy.max_delay, policy.base_delay * policy.factor ** (attempt - 1))


# --- backoff -------------------------------------------------------------------------------


@given(policy=policies(jitter=0), attempt=st.integers(min_value=1, max_value=200))
def test_delay_without_jitter_is_the_exact_formula(policy: RetryPolicy, attempt: int) -> None:
    assert policy.delay_after(attempt) == exact_delay(policy, attempt)


@given(
    policy=policies(),
    attempt=st.integers(min_value=1, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jittered_delay_stays_within_the_spread_and_the_cap(
    policy: RetryPolicy, attempt: int, seed: int
) -> None:
    rng = random.Random(seed)
    exact = exact_delay(policy, attempt)
    low = exact * (1 - policy.jitter)
    high = min(policy.max_delay, exact * (1 + policy.jitter))
    for _ in range(5):
        delay = policy.delay_after(attempt, rng=rng)
        assert low * (1 - 1e-12) <= delay <= high * (1 + 1e-12)
        assert delay <= policy.max_delay


def test_jitter_uses_the_given_rng_and_actually_spreads() -> None:
    policy = RetryPolicy(base_delay=100, max_delay=10_000, jitter=0.5)
    first = [policy.delay_after(3, rng=random.Random(7)) for _ in range(3)]
    assert len(set(first)) == 1  # same seed, same draw: the rng is the one passed
    rng = random.Random(7)
    spread = {policy.delay_after(3, rng=rng) for _ in range(50)}
    assert len(spread) > 40
    assert min(spread) < 400 < max(spread)
    assert all(200 <= delay <= 600 for delay in spread)


def test_default_policy() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == MAX_ATTEMPTS == 8
    assert (policy.base_delay, policy.factor, policy.max_delay, policy.jitter) == (
        300.0,
        2.0,
        21_600.0,
        0.1,
    )


def test_schedule_of_the_defaults_is_five_minutes_doubling() -> None:
    schedule = RetryPolicy().schedule()
    assert schedule == [300.0, 600.0, 1200.0, 2400.0, 4800.0, 9600.0, 19_200.0]
    assert len(schedule) == MAX_ATTEMPTS - 1
    assert sum(schedule) / 3600 == pytest.approx(10.58, abs=0.01)


def test_schedule_is_capped_and_has_no_jitter() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay=10, factor=3, max_delay=200, jitter=0.9)
    assert policy.schedule() == [10, 30, 90, 200, 200]
    assert RetryPolicy(max_attempts=1).schedule() == []


@pytest.mark.parametrize("attempt", [2_000, 10**6, 10**18, sys.maxsize, 2**100])
def test_huge_attempt_numbers_give_the_cap(attempt: int) -> None:
    assert RetryPolicy(jitter=0).delay_after(attempt) == 21_600.0
    jittered = RetryPolicy().delay_after(attempt, rng=random.Random(1))
    assert 21_600.0 * 0.9 <= jittered <= 21_600.0


def test_huge_attempt_number_with_a_zero_base_delay_is_zero() -> None:
    # Was a bug: min(max_delay, 0 * factor**n) is 0, but the overflow path returns max_delay.
    policy = RetryPolicy(base_delay=0, max_delay=10, jitter=0)
    assert policy.delay_after(3) == 0
    assert policy.delay_after(5_000) == 0


def test_huge_attempt_number_with_an_int_factor_returns_at_once() -> None:
    # Was a bug: an int factor makes ``factor ** (attempt - 1)`` exact integer arithmetic, which
    # takes unbounded time and memory for a huge attempt number instead of overflowing.
    code = (
        "from webhook_kit.retry import RetryPolicy\n"
        "print(RetryPolicy(factor=2, jitter=0).delay_after(10**12))\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
    except subprocess.TimeoutExpired:
        pytest.fail("RetryPolicy(factor=2).delay_after(10**12) did not return within 2 s")
    assert result.stdout.strip() == "21600.0"


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -3},
        {"max_attempts": True},
        {"max_attempts": 2.0},
        {"max_attempts": "3"},
        {"base_delay": -1},
        {"base_delay": math.nan},
        {"base_delay": math.inf},
        {"base_delay": True},
        {"base_delay": "300"},
        {"factor": 0.5},
        {"factor": math.nan},
        {"factor": math.inf},
        {"factor": -2},
        {"max_delay": -1},
        {"max_delay": math.nan},
        {"max_delay": math.inf},
        {"base_delay": 10, "max_delay": 5},
        {"jitter": 1},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"jitter": math.nan},
        {"jitter": False},
    ],
    ids=repr,
)
def test_out_of_range_values_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as info:
        RetryPolicy(**kwargs)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 1},
        {"base_delay": 0, "max_delay": 0},
        {"factor": 1},
        {"jitter": 0},
        {"jitter": 0.999},
        {"base_delay": 60, "max_delay": 60},
    ],
    ids=repr,
)
def test_edge_values_are_accepted(kwargs: dict[str, Any]) -> None:
    RetryPolicy(**kwargs)


def test_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 3  # type: ignore[misc]


# --- JSON ----------------------------------------------------------------------------------


@given(policy=policies())
def test_json_round_trip(policy: RetryPolicy) -> None:
    data = policy.to_json()
    assert set(data) == {"max_attempts", "base_delay", "factor", "max_delay", "jitter"}
    assert RetryPolicy.from_json(json.loads(json.dumps(data))) == policy


def test_from_json_validates() -> None:
    data = RetryPolicy().to_json()
    data["max_attempts"] = 0
    with pytest.raises(InvalidInputError):
        RetryPolicy.from_json(data)


# --- Retry-After ---------------------------------------------------------------------------


def http_date(when: float) -> str:
    return format_datetime(datetime.fromtimestamp(when, timezone.utc), usegmt=True)


@pytest.mark.parametrize(
    ("value", "seconds"), [("120", 120.0), ("0", 0.0), (" 7 ", 7.0), ("007", 7.0)]
)
def test_delay_seconds(value: str, seconds: float) -> None:
    result = parse_retry_after(value, NOW)
    assert result == seconds
    assert isinstance(result, float)


def test_http_date_in_the_future_is_the_seconds_until_it() -> None:
    assert parse_retry_after(http_date(NOW + 90), NOW) == 90.0
    real = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(real, time.time()) == pytest.approx(90, abs=1.5)


def test_http_date_in_the_past_is_no_wait() -> None:
    assert parse_retry_after(http_date(NOW - 3600), NOW) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "+5",
        "1.5",
        "1e3",
        "0x10",
        "5 seconds",
        "1" * 65,
        "9" * 1000,
        "Wed, 21 Oct 2015 07:28:00 GMT" + " " * 40 + "x",
        "\uff11\uff12\uff10",  # fullwidth digits
        "١٢٠",  # Arabic-Indic digits
        "²",
        "Mittwoch, 21 Okt 2015",
        "Wed, 32 Oct 2015 07:28:00 GMT",
    ],
    ids=repr,
)
def test_meaningless_values_are_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@settings(max_examples=300)
@given(value=st.text(), now=st.floats(min_value=0, max_value=4e9))
def test_arbitrary_text_never_raises(value: str, now: float) -> None:
    result = parse_retry_after(value, now)
    assert result is None or (math.isfinite(result) and result >= 0)


@settings(max_examples=200)
@given(
    value=st.from_regex(
        r"\A(Mon|Tue|Wed|Thu|Fri|Sat|Sun)?,? ?\d{1,3} [A-Za-z]{3} \d{1,6} "
        r"\d{1,2}:\d{1,2}:\d{1,2} ?(GMT|UTC|[+-]\d{4})?\Z"
    ),
    now=st.floats(min_value=0, max_value=4e9),
)
def test_date_like_text_never_raises(value: str, now: float) -> None:
    result = parse_retry_after(value, now)
    assert result is None or (math.isfinite(result) and result >= 0)


@given(seconds=st.integers(min_value=0, max_value=10**12))
def test_any_digit_string_is_its_value(seconds: int) -> None:
    assert parse_retry_after(str(seconds), NOW) == float(seconds)
