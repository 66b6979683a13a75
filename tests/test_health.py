"""`EndpointHealth` on explicit times: the concurrency limit, the circuit breaker, disabling.

No worker and no clock here: each test admits attempts and reports their results at the times
it names, the way the worker does (``admit`` before an attempt, ``finished`` after it).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_kit import AttemptRecord, DeadLetter, Delivered, InvalidInputError, Outcome, RetryAt
from webhook_kit.health import (
    EndpointHealth,
    EndpointState,
    EndpointStatus,
    HealthPolicy,
    endpoint_of,
)

T = 1_700_000_000.0
URL = "https://customer.example/hooks"
OTHER = "https://other.example/hooks"


# --- what attempts come to ------------------------------------------------------------------


def attempt(
    status: int | None, *, error: str | None = None, latency: float = 0.05, outcome: str = ""
) -> AttemptRecord:
    return AttemptRecord(
        delivery_id="d",
        attempt=1,
        started_at=T,
        status=status,
        error=error,
        latency=latency,
        response_excerpt="",
        outcome=outcome,
    )


def delivered(latency: float = 0.05) -> tuple[Outcome, AttemptRecord]:
    return Delivered(), attempt(200, latency=latency, outcome="delivered")


def answered(status: int = 503) -> tuple[Outcome, AttemptRecord]:
    """A retryable status, with retries left."""
    return RetryAt(T + 60), attempt(status, outcome="retry")


def timed_out() -> tuple[Outcome, AttemptRecord]:
    return RetryAt(T + 60), attempt(None, error="timeout: read timed out", outcome="retry")


def gone() -> tuple[Outcome, AttemptRecord]:
    return DeadLetter("the receiver answered 410 Gone", gone=True), attempt(410, outcome="dead")


class Driver:
    """One endpoint of an `EndpointHealth`, driven attempt by attempt at explicit times."""

    def __init__(self, concurrency: int = 16, endpoint: str = URL, **policy: Any) -> None:
        self.health = EndpointHealth(concurrency, HealthPolicy(**policy))
        self.endpoint = endpoint

    def admit(self, now: float) -> bool:
        return self.health.admit(self.endpoint, now).admit

    def finish(self, result: tuple[Outcome, AttemptRecord], now: float) -> EndpointStatus | None:
        outcome, record = result
        return self.health.finished(self.endpoint, outcome, record, now)

    def run(self, result: tuple[Outcome, AttemptRecord], now: float) -> EndpointStatus | None:
        """Admit one attempt and finish it at ``now``."""
        assert self.admit(now), self.status
        return self.finish(result, now)

    def fail(self, times: int, now: float) -> None:
        for _ in range(times):
            self.run(answered(), now)

    @property
    def status(self) -> EndpointStatus:
        [status] = [s for s in self.health.status() if s.endpoint == self.endpoint]
        return status

    @property
    def state(self) -> EndpointState:
        return self.health.state_of(self.endpoint)


# --- the concurrency limit ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("concurrency", "share", "limit"),
    [
        (16, 0.25, 4),
        (32, 0.25, 8),
        (64, 0.1, 6),
        (10, 0.5, 5),
        (7, 1.0, 7),
        (3, 0.25, 1),
        (1, 0.25, 1),
        (1, 1.0, 1),
    ],
)
def test_an_endpoint_starts_at_its_share_of_the_concurrency(
    concurrency: int, share: float, limit: int
) -> None:
    driver = Driver(concurrency, share=share)
    assert driver.health.floor == limit == max(1, int(concurrency * share))
    for _ in range(limit):
        assert driver.admit(T)
    assert driver.status.limit == limit
    assert driver.status.in_flight == limit
    held = driver.health.admit(URL, T)
    assert (held.admit, held.disabled) == (False, False)
    assert held.defer_until is not None
    assert T < held.defer_until <= T + 5  # a short wait for a free slot, not a pause


def test_endpoints_have_limits_of_their_own() -> None:
    health = EndpointHealth(8)
    assert [health.admit(URL, T).admit for _ in range(3)] == [True, True, False]
    assert [health.admit(OTHER, T).admit for _ in range(3)] == [True, True, False]
    assert [status.endpoint for status in health.status()] == [URL, OTHER]


def test_a_fast_success_doubles_the_limit_up_to_the_whole_concurrency() -> None:
    driver = Driver(16)
    limits = []
    for _ in range(4):
        driver.run(delivered(), T)
        limits.append(driver.status.limit)
    assert limits == [8, 16, 16, 16]
    assert [driver.admit(T) for _ in range(17)] == [True] * 16 + [False]


def test_a_healthy_endpoint_alone_can_use_every_slot() -> None:
    driver = Driver(16)
    for _ in range(12):
        driver.run(delivered(), T)
    assert driver.status.limit == 16
    assert sum(driver.admit(T) for _ in range(16)) == 16


@pytest.mark.parametrize("result", [answered(503), answered(429), answered(408), timed_out()])
def test_a_failure_halves_the_limit_but_never_below_the_share(
    result: tuple[Outcome, AttemptRecord],
) -> None:
    driver = Driver(16, pause_after=100)
    for _ in range(12):
        driver.run(delivered(), T)
    limits = []
    for _ in range(4):
        driver.run(result, T)
        limits.append(driver.status.limit)
    assert limits == [8, 4, 4, 4]


def test_a_slow_success_halves_the_limit_without_counting_as_a_failure() -> None:
    driver = Driver(16, slow_after=2.0)
    for _ in range(12):
        driver.run(delivered(), T)
    driver.run(delivered(latency=1.9), T)
    assert driver.status.limit == 16
    limits = []
    for _ in range(3):
        driver.run(delivered(latency=2.5), T)
        limits.append(driver.status.limit)
    assert limits == [8, 4, 4]
    status = driver.status
    assert (status.state, status.consecutive_failures, status.recent_failures) == (
        EndpointState.HEALTHY,
        0,
        (),
    )
    driver.run(delivered(), T)
    assert driver.status.limit == 8  # and grows back, doubling


def test_a_released_attempt_frees_its_slot() -> None:
    driver = Driver(4)  # limit 1
    assert driver.admit(T)
    assert not driver.admit(T)
    driver.health.released(URL)
    assert driver.status.in_flight == 0
    assert driver.admit(T)


# --- the circuit breaker --------------------------------------------------------------------


def test_consecutive_failures_pause_the_endpoint_and_defer_its_deliveries() -> None:
    driver = Driver(16, pause_after=3, first_pause=30)
    driver.fail(2, T)
    assert driver.state is EndpointState.HEALTHY
    changed = driver.run(answered(503), T + 1)
    assert changed is not None
    assert (changed.state, changed.probe_at) == (EndpointState.PAUSED, T + 31)
    assert "3 failures in a row" in changed.reason
    assert "status 503" in changed.reason
    for now in (T + 1, T + 10, T + 30.9):
        held = driver.health.admit(URL, now)
        assert (held.admit, held.defer_until, held.disabled) == (False, T + 31, False)
    assert driver.status.in_flight == 0  # deferring admits nothing


def test_a_success_between_failures_restarts_the_count() -> None:
    driver = Driver(16, pause_after=3)
    for _ in range(5):
        driver.fail(2, T)
        driver.run(delivered(), T)
    assert driver.state is EndpointState.HEALTHY
    assert driver.status.consecutive_failures == 0


def test_exactly_one_probe_is_let_through_after_the_pause() -> None:
    driver = Driver(16, pause_after=3, first_pause=30)
    driver.fail(3, T)
    probe = driver.health.admit(URL, T + 30)
    assert probe.admit
    assert driver.state is EndpointState.PROBING
    for now in (T + 30, T + 31, T + 100):
        held = driver.health.admit(URL, now)
        assert (held.admit, held.disabled) == (False, False)
        assert held.defer_until is not None
        assert held.defer_until > now
    assert driver.status.in_flight == 1


def test_a_successful_probe_closes_the_circuit() -> None:
    driver = Driver(16, pause_after=3, first_pause=30)
    driver.fail(3, T)
    changed = driver.run(delivered(), T + 30)
    assert changed is not None
    assert (changed.state, changed.probe_at, changed.consecutive_failures) == (
        EndpointState.HEALTHY,
        None,
        0,
    )
    assert changed.failing_since is None
    assert [driver.admit(T + 30) for _ in range(5)] == [True] * 5  # limit 4 + 1


def test_a_failed_probe_pauses_again_for_twice_as_long_up_to_max_pause() -> None:
    driver = Driver(16, pause_after=3, first_pause=30, max_pause=200, disable_after=10**6)
    driver.fail(3, T)
    now, pauses = T, []
    for _ in range(5):
        now = driver.status.probe_at or 0.0
        changed = driver.run(timed_out(), now)
        assert changed is not None
        assert changed.state is EndpointState.PAUSED
        pauses.append((changed.probe_at or 0.0) - now)
    assert pauses == [60, 120, 200, 200, 200]
    # A success resets the pause: the next run of failures starts at first_pause again.
    now = driver.status.probe_at or 0.0
    driver.run(delivered(), now)
    driver.fail(3, now + 1)
    assert driver.status.probe_at == now + 31


def test_failures_of_attempts_in_flight_when_it_paused_do_not_extend_the_pause() -> None:
    driver = Driver(16, pause_after=3, first_pause=30)
    for _ in range(4):
        assert driver.admit(T)
    for _ in range(3):
        driver.finish(answered(), T + 1)
    assert driver.status.probe_at == T + 31
    assert driver.finish(timed_out(), T + 20) is None  # the fourth, started before the pause
    status = driver.status
    assert (status.state, status.probe_at) == (EndpointState.PAUSED, T + 31)
    assert status.consecutive_failures == 4


def test_an_attempt_from_before_the_pause_is_not_taken_for_the_probe() -> None:
    # The fourth attempt started before the pause and is still in flight when the pause ends:
    # its failure must not count as the probe's (which would pause the endpoint again for twice
    # as long without a probe having been made); the probe goes once it is out of the way.
    driver = Driver(16, pause_after=3, first_pause=30)
    for _ in range(4):
        assert driver.admit(T)
    for _ in range(3):
        driver.finish(answered(), T)
    assert not driver.admit(T + 30)  # the old attempt is still in flight
    driver.finish(timed_out(), T + 31)  # ... and fails, after the pause ended
    assert driver.state is EndpointState.PAUSED
    assert driver.admit(T + 31)  # now the probe
    assert driver.state is EndpointState.PROBING
    changed = driver.finish(delivered(), T + 31)
    assert changed is not None
    assert changed.state is EndpointState.HEALTHY


def test_a_success_of_an_attempt_in_flight_when_it_paused_closes_the_circuit() -> None:
    driver = Driver(16, pause_after=3)
    for _ in range(4):
        assert driver.admit(T)
    for _ in range(3):
        driver.finish(answered(), T)
    changed = driver.finish(delivered(), T + 2)
    assert changed is not None
    assert changed.state is EndpointState.HEALTHY
    assert "recovered" in changed.reason


# --- disabling -----------------------------------------------------------------------------


def test_failing_for_disable_after_disables_the_endpoint() -> None:
    driver = Driver(16, pause_after=3, first_pause=60, max_pause=600, disable_after=3600)
    driver.fail(3, T)
    now = T
    while driver.state is not EndpointState.DISABLED:
        now = driver.status.probe_at or 0.0
        assert now <= T + 3600 + 600, "never disabled"
        changed = driver.run(answered(500), now)
        assert changed is not None
    assert now >= T + 3600  # not before the window has passed
    status = driver.status
    assert status.failing_since == T
    assert status.probe_at is None
    assert "failing for" in status.reason
    assert "status 500" in status.reason
    held = driver.health.admit(URL, now + 10**6)
    assert (held.admit, held.disabled, held.defer_until) == (False, True, None)
    assert held.reason == status.reason


def test_the_window_must_be_uninterrupted() -> None:
    driver = Driver(16, pause_after=1000, disable_after=3600)
    driver.run(timed_out(), T)
    driver.run(delivered(), T + 3000)
    driver.run(timed_out(), T + 3599)
    driver.run(timed_out(), T + 3601)
    assert driver.state is EndpointState.HEALTHY
    assert driver.status.failing_since == T + 3599
    driver.run(timed_out(), T + 3599 + 3600)
    assert driver.state is EndpointState.DISABLED


def test_410_disables_the_endpoint_at_once() -> None:
    driver = Driver(16)
    changed = driver.run(gone(), T)
    assert changed is not None
    assert changed.state is EndpointState.DISABLED
    assert "410" in changed.reason
    held = driver.health.admit(URL, T)
    assert (held.admit, held.disabled) == (False, True)
    assert "410" in held.reason
    # Later results (of attempts in flight when it went) do not bring it back.
    driver.finish(delivered(), T + 1)
    assert driver.state is EndpointState.DISABLED
    assert driver.health.state_of(OTHER) is EndpointState.HEALTHY


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 301, 302])
def test_a_dead_letter_for_a_client_error_is_not_an_endpoint_failure(status: int) -> None:
    # The request's fault (or a redirect): the endpoint answered, promptly.
    driver = Driver(16, pause_after=1)
    for _ in range(3):
        driver.run((DeadLetter(f"the receiver answered {status}"), attempt(status)), T)
    state = driver.status
    assert (state.state, state.consecutive_failures, state.limit) == (
        EndpointState.HEALTHY,
        0,
        16,
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_a_retryable_status_on_the_last_attempt_is_an_endpoint_failure(status: int) -> None:
    # The delivery's retries are spent, so its outcome is a dead letter; the endpoint still
    # failed to take it (with max_attempts=1 every failure looks like this).
    driver = Driver(16, pause_after=2)
    last = DeadLetter(f"gave up after 8 attempts; the last: status {status}")
    driver.run((last, attempt(status, outcome="dead")), T)
    assert driver.status.consecutive_failures == 1
    driver.run((last, attempt(status, outcome="dead")), T)
    assert driver.state is EndpointState.PAUSED


def test_no_response_on_the_last_attempt_is_an_endpoint_failure() -> None:
    driver = Driver(16, pause_after=1)
    last = DeadLetter("gave up after 1 attempts; the last: timeout")
    driver.run((last, attempt(None, error="timeout: read", outcome="dead")), T)
    assert driver.state is EndpointState.PAUSED


def test_enable_resets_everything() -> None:
    driver = Driver(16, pause_after=2)
    driver.fail(1, T)
    driver.run(gone(), T)
    driver.health.enable(URL)
    status = driver.status
    assert status == EndpointStatus(
        endpoint=URL,
        state=EndpointState.HEALTHY,
        limit=4,
        in_flight=0,
        consecutive_failures=0,
        failing_since=None,
        probe_at=None,
        reason="",
        recent_failures=(),
    )
    assert driver.admit(T)


def test_disable_by_hand_then_enable() -> None:
    health = EndpointHealth(16)
    health.disable(URL, "recorded by another worker")
    held = health.admit(URL, T)
    assert (held.disabled, held.reason) == (True, "recorded by another worker")
    health.enable(URL)
    assert health.admit(URL, T).admit


# --- status ---------------------------------------------------------------------------------


def test_status_shows_state_recent_failures_and_probe_time() -> None:
    driver = Driver(16, pause_after=3, first_pause=30)
    assert driver.health.status() == []
    assert driver.health.state_of(URL) is EndpointState.HEALTHY
    driver.run(answered(503), T)
    driver.run(timed_out(), T + 1)
    driver.run(answered(429), T + 2)
    status = driver.status
    assert status.state is EndpointState.PAUSED
    assert str(status.state) == "paused"
    assert status.probe_at == T + 32
    assert status.failing_since == T
    assert status.consecutive_failures == 3
    assert status.recent_failures == (
        (T, "status 503"),
        (T + 1, "timeout: read timed out"),
        (T + 2, "status 429"),
    )
    assert driver.admit(T + 32)  # the probe
    assert driver.status.state is EndpointState.PROBING
    assert driver.status.probe_at is None
    assert driver.status.in_flight == 1


def test_recent_failures_keep_the_last_ten() -> None:
    driver = Driver(16, pause_after=1000)
    for second in range(25):
        driver.run(answered(500 + second % 5), T + second)
    recent = driver.status.recent_failures
    assert [when for when, _ in recent] == [T + second for second in range(15, 25)]


def test_finished_reports_changes_of_state_only() -> None:
    driver = Driver(16, pause_after=2)
    assert driver.run(delivered(), T) is None
    assert driver.run(answered(), T) is None
    paused = driver.run(answered(), T)
    assert paused is not None
    assert paused.state is EndpointState.PAUSED


def test_endpoint_state_values() -> None:
    assert [state.value for state in EndpointState] == [
        "healthy",
        "paused",
        "probing",
        "disabled",
    ]
    assert f"{EndpointState.DISABLED}" == "disabled"


# --- the policy -----------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = HealthPolicy()
    assert (policy.share, policy.slow_after, policy.pause_after) == (0.25, 5.0, 5)
    assert (policy.first_pause, policy.max_pause) == (30.0, 3600.0)
    assert policy.disable_after == 3 * 24 * 3600
    assert EndpointHealth(32).policy == policy


@pytest.mark.parametrize(
    "bad",
    [
        {"share": 0},
        {"share": -0.25},
        {"share": 1.5},
        {"share": math.nan},
        {"share": True},
        {"share": "0.5"},
        {"pause_after": 0},
        {"pause_after": -3},
        {"pause_after": 2.5},
        {"pause_after": True},
        {"pause_after": "5"},
        {"slow_after": 0},
        {"slow_after": -1},
        {"slow_after": math.inf},
        {"slow_after": math.nan},
        {"slow_after": "5"},
        {"slow_after": True},
        {"first_pause": 0},
        {"first_pause": None},
        {"max_pause": -1},
        {"first_pause": 120, "max_pause": 60},
        {"disable_after": 0},
        {"disable_after": math.inf},
    ],
    ids=repr,
)
def test_policy_validation(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        HealthPolicy(**bad)


def test_policy_accepts_edges() -> None:
    HealthPolicy(share=1, pause_after=1, slow_after=0.001, first_pause=1, max_pause=1)
    HealthPolicy(share=1e-9, disable_after=1)


# --- endpoint_of ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://customer.example/hooks", "https://customer.example/hooks"),
        ("https://customer.example/hooks?token=abc&x=1", "https://customer.example/hooks"),
        ("https://customer.example/hooks#part", "https://customer.example/hooks"),
        ("https://Customer.EXAMPLE/Hooks", "https://customer.example/Hooks"),
        ("https://customer.example", "https://customer.example/"),
        ("https://customer.example?q=1", "https://customer.example/"),
        ("http://127.0.0.1:8080/a/b", "http://127.0.0.1:8080/a/b"),
        ("https://user:pw@customer.example/hooks", "https://customer.example/hooks"),
        ("http://[::1]:9000/x?y", "http://[::1]:9000/x"),
    ],
)
def test_endpoint_of(url: str, endpoint: str) -> None:
    assert endpoint_of(url) == endpoint


@given(
    host=st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,20}(\.[a-zA-Z]{2,6}){1,2}", fullmatch=True),
    path=st.from_regex(r"(/[A-Za-z0-9._~-]{0,10}){0,4}", fullmatch=True),
    query=st.text(st.characters(codec="ascii", exclude_characters="#"), max_size=30),
)
def test_the_query_never_makes_another_endpoint(host: str, path: str, query: str) -> None:
    url = f"https://{host}{path}"
    endpoint = endpoint_of(url)
    assert endpoint_of(f"{url}?{query}") == endpoint
    assert endpoint_of(endpoint) == endpoint
    assert endpoint == f"https://{host.lower()}{path or '/'}"
