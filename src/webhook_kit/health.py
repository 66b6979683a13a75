"""Endpoint health: one slow or dead endpoint must not drag every other delivery down.

Per endpoint (the target URL without its query), the worker keeps:

* **a concurrency limit** that doubles with each quick answer and halves with each failure.
  It starts at the *share* an unproven endpoint may hold (a quarter of the worker's
  concurrency by default) and can reach the worker's whole capacity (its concurrency plus
  what it claims ahead); a hanging endpoint never completes an attempt, so it never grows
  past its share;
* **a circuit breaker**: after ``pause_after`` consecutive failures the endpoint is *paused* —
  its deliveries are deferred, not charged an attempt — until a single probe is let through;
  a failed probe pauses it again for twice as long (up to ``max_pause``); a success closes it;
* **disabling**: an endpoint failing for longer than ``disable_after``, or answering 410 Gone,
  is *disabled*: its deliveries are dead-lettered (and can be redriven once it is re-enabled
  with `EndpointHealth.enable` or ``webhook-kit endpoints enable URL``).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from .errors import InvalidInputError
from .events import endpoint_of
from .outcomes import AttemptRecord, DeadLetter, Delivered, Outcome
from .queues.protocol import ClaimLimits

__all__ = [
    "Admission",
    "EndpointHealth",
    "EndpointState",
    "EndpointStatus",
    "HealthPolicy",
    "endpoint_of",
]


class EndpointState(str, enum.Enum):
    """Where an endpoint's circuit stands."""

    HEALTHY = "healthy"
    PAUSED = "paused"
    PROBING = "probing"
    DISABLED = "disabled"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """The rules of endpoint health; the defaults suit most senders.

    Args:
        share: the fraction of the worker's concurrency an endpoint may hold until it has
            proven healthy, and the least it is ever cut back to (at least one attempt).
        slow_after: an attempt slower than this many seconds counts as a failure for the
            concurrency limit (not for the breaker).
        pause_after: consecutive failures that pause an endpoint.
        first_pause: seconds of the first pause; each failed probe doubles it.
        max_pause: the longest pause.
        disable_after: seconds of uninterrupted failure that disable an endpoint.
    """

    share: float = 0.25
    slow_after: float = 5.0
    pause_after: int = 5
    first_pause: float = 30.0
    max_pause: float = 3600.0
    disable_after: float = 3 * 24 * 3600.0

    def __post_init__(self) -> None:
        for name in ("share", "slow_after", "first_pause", "max_pause", "disable_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInputError(f"{name} must be a number, not {value!r}")
            if not (math.isfinite(value) and value > 0):
                what = "a fraction above 0" if name == "share" else "a positive number of seconds"
                raise InvalidInputError(f"{name} must be {what}")
        if self.share > 1:
            raise InvalidInputError("share must be above 0 and at most 1")
        if isinstance(self.pause_after, bool) or not isinstance(self.pause_after, int):
            raise InvalidInputError(f"pause_after must be an int, not {self.pause_after!r}")
        if self.pause_after < 1:
            raise InvalidInputError("pause_after must be at least 1")
        if self.max_pause < self.first_pause:
            raise InvalidInputError("max_pause must not be below first_pause")


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a claimed delivery may be attempted now.

    ``admit`` — go ahead; else ``defer_until`` — give the job back, due then, uncounted; or
    ``disabled`` — the endpoint is disabled: dead-letter it with ``reason``.
    """

    admit: bool
    defer_until: float | None = None
    disabled: bool = False
    reason: str = ""


_ADMIT = Admission(admit=True)
_FAILING_STATUSES = frozenset({408, 429})
_RETRY_SLOT_AFTER = 0.02  # seconds a delivery over its endpoint's limit waits for a free slot


def _answered(status: int | None) -> bool:
    """Whether a response says the endpoint is up (it may still refuse the request)."""
    return status is not None and status < 500 and status not in _FAILING_STATUSES


@dataclass(slots=True)
class _Endpoint:
    limit: int
    in_flight: int = 0
    state: EndpointState = EndpointState.HEALTHY
    consecutive_failures: int = 0
    failing_since: float | None = None
    paused_until: float = 0.0
    pause: float = 0.0
    recent: list[tuple[float, str]] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EndpointStatus:
    """One endpoint's health, for people: state, limit, in flight, recent failures.

    ``in_flight`` counts the endpoint's deliveries this worker holds: attempts under way and
    deliveries claimed ahead, waiting for a slot.
    """

    endpoint: str
    state: EndpointState
    limit: int
    in_flight: int
    consecutive_failures: int
    failing_since: float | None
    probe_at: float | None
    reason: str
    recent_failures: tuple[tuple[float, str], ...]


class EndpointHealth:
    """Per-endpoint limits and circuit breakers for one worker (see the module's rules).

    Args:
        concurrency: the worker's concurrency.
        policy: the rules.
        capacity: the most deliveries of one endpoint the worker holds at once — in flight,
            or claimed ahead and waiting for a slot — and so the highest an endpoint's limit
            grows (default: ``concurrency``).
    """

    def __init__(
        self, concurrency: int, policy: HealthPolicy | None = None, *, capacity: int | None = None
    ) -> None:
        self.policy = policy or HealthPolicy()
        self.concurrency = concurrency
        self.capacity = concurrency if capacity is None else max(concurrency, capacity)
        self.floor = max(1, int(concurrency * self.policy.share))
        self._endpoints: dict[str, _Endpoint] = {}

    def _get(self, endpoint: str) -> _Endpoint:
        state = self._endpoints.get(endpoint)
        if state is None:
            state = self._endpoints[endpoint] = _Endpoint(limit=self.floor)
        return state

    def admit(self, endpoint: str, now: float) -> Admission:
        """Decide whether a claimed delivery to ``endpoint`` may start now (and count it)."""
        state = self._get(endpoint)
        if state.state is EndpointState.DISABLED:
            return Admission(admit=False, disabled=True, reason=state.reason)
        if state.state is EndpointState.PAUSED:
            if now < state.paused_until:
                return Admission(admit=False, defer_until=state.paused_until)
            if state.in_flight:
                # Attempts from before the pause are still out: their results must not be
                # taken for the probe's, so the probe waits until they are back.
                return Admission(admit=False, defer_until=now + _RETRY_SLOT_AFTER)
            state.state = EndpointState.PROBING  # let exactly one attempt through
        elif state.state is EndpointState.PROBING and state.in_flight:
            return Admission(admit=False, defer_until=now + _RETRY_SLOT_AFTER)
        if state.in_flight >= state.limit:
            return Admission(admit=False, defer_until=now + _RETRY_SLOT_AFTER)
        state.in_flight += 1
        return _ADMIT

    def claim_limits(self, now: float) -> ClaimLimits:
        """How many deliveries of each endpoint the next claim may lease: what its limit
        leaves free, none while it is paused (one when its probe is due), and an unproven
        endpoint its share. A disabled endpoint's deliveries are claimed to be dead-lettered."""
        allowances: dict[str, int] = {}
        for endpoint, state in self._endpoints.items():
            if state.state is EndpointState.DISABLED:
                allowances[endpoint] = self.capacity
            elif state.state is EndpointState.PAUSED and now < state.paused_until:
                allowances[endpoint] = 0
            elif state.state is not EndpointState.HEALTHY:  # a probe is due or out
                allowances[endpoint] = 0 if state.in_flight else 1
            else:
                allowances[endpoint] = max(0, state.limit - state.in_flight)
        return ClaimLimits(default=self.floor, per_endpoint=allowances)

    def next_probe(self, now: float) -> float | None:
        """When the earliest paused endpoint may be probed, if one is paused past ``now``."""
        probes = [
            state.paused_until
            for state in self._endpoints.values()
            if state.state is EndpointState.PAUSED and state.paused_until > now
        ]
        return min(probes) if probes else None

    def finished(
        self, endpoint: str, outcome: Outcome, record: AttemptRecord, now: float
    ) -> EndpointStatus | None:
        """Learn from one attempt's result; return the endpoint's status if its state changed."""
        state = self._get(endpoint)
        before = (state.state, state.paused_until)
        self._learn(state, outcome, record, now)
        if (state.state, state.paused_until) == before:
            return None
        return self._status(endpoint, state)

    def _learn(
        self, state: _Endpoint, outcome: Outcome, record: AttemptRecord, now: float
    ) -> None:
        state.in_flight = max(0, state.in_flight - 1)
        if isinstance(outcome, DeadLetter) and outcome.unsent:
            return  # no request was made: nothing learnt about the endpoint
        if isinstance(outcome, Delivered):
            self._succeeded(state, slow=record.latency > self.policy.slow_after)
            return
        if isinstance(outcome, DeadLetter) and outcome.gone:
            self._disable(state, "the endpoint answered 410 Gone")
            return
        if isinstance(outcome, DeadLetter) and _answered(record.status):
            # A 3xx or a 4xx other than 408/429/410 is the request's fault, not the endpoint's
            # health. (A 5xx dead letter is a delivery whose retries ran out: a failure.)
            self._succeeded(state, slow=record.latency > self.policy.slow_after)
            return
        self._failed(state, record, now)

    def _succeeded(self, state: _Endpoint, *, slow: bool) -> None:
        if state.state in (EndpointState.PAUSED, EndpointState.PROBING):
            state.reason = f"recovered after {state.consecutive_failures} failures in a row"
        if state.state is not EndpointState.DISABLED:
            state.state = EndpointState.HEALTHY
        state.consecutive_failures = 0
        state.failing_since = None
        state.pause = 0.0
        if slow:
            state.limit = max(self.floor, state.limit // 2)
        else:
            # Double: an endpoint that keeps up reaches the whole capacity within a couple of
            # successes; one that never answers never grows.
            state.limit = min(self.capacity, state.limit * 2)

    def _failed(self, state: _Endpoint, record: AttemptRecord, now: float) -> None:
        policy = self.policy
        what = f"status {record.status}" if record.status is not None else (record.error or "?")
        state.recent = [*state.recent[-9:], (now, what)]
        state.limit = max(self.floor, state.limit // 2)
        state.consecutive_failures += 1
        if state.failing_since is None:
            state.failing_since = now
        if state.state is EndpointState.DISABLED:
            return
        if now - state.failing_since >= policy.disable_after:
            self._disable(state, f"failing for {now - state.failing_since:.0f}s (last: {what})")
        elif state.state is EndpointState.PROBING or (
            # Attempts already in flight when it was paused do not pause it again.
            state.state is EndpointState.HEALTHY
            and state.consecutive_failures >= policy.pause_after
        ):
            state.pause = min(policy.max_pause, state.pause * 2 or policy.first_pause)
            state.state = EndpointState.PAUSED
            state.paused_until = now + state.pause
            state.reason = f"{state.consecutive_failures} failures in a row (last: {what})"

    def _disable(self, state: _Endpoint, reason: str) -> None:
        state.state = EndpointState.DISABLED
        state.reason = reason

    def released(self, endpoint: str) -> None:
        """An admitted attempt was given back without a result (the worker stopped)."""
        state = self._get(endpoint)
        state.in_flight = max(0, state.in_flight - 1)

    def disable(self, endpoint: str, reason: str) -> None:
        """Disable ``endpoint`` (e.g. as another process recorded)."""
        self._disable(self._get(endpoint), reason)

    def enable(self, endpoint: str) -> None:
        """Re-enable ``endpoint``: healthy, counters reset, starting again at its share."""
        self._endpoints[endpoint] = _Endpoint(limit=self.floor)

    def status(self) -> list[EndpointStatus]:
        """Every endpoint seen, with its state."""
        return [
            self._status(endpoint, state) for endpoint, state in sorted(self._endpoints.items())
        ]

    def state_of(self, endpoint: str) -> EndpointState:
        """The state of ``endpoint`` (healthy if never seen)."""
        state = self._endpoints.get(endpoint)
        return EndpointState.HEALTHY if state is None else state.state

    @staticmethod
    def _status(endpoint: str, state: _Endpoint) -> EndpointStatus:
        return EndpointStatus(
            endpoint=endpoint,
            state=state.state,
            limit=state.limit,
            in_flight=state.in_flight,
            consecutive_failures=state.consecutive_failures,
            failing_since=state.failing_since,
            probe_at=state.paused_until if state.state is EndpointState.PAUSED else None,
            reason=state.reason,
            recent_failures=tuple(state.recent),
        )
