"""Stateful tests: the queue invariants hold under random histories.

Hypothesis drives each queue through random sequences of steps against a model of what the queue
must hold, and checks the invariants after every step. Two kinds of machine:

- `MemoryMachine`, `SQLiteMachine`, `PostgresMachine`: the `WebhookQueue` protocol on a
  `VirtualClock`. Three simulated workers, each on a handle of its own (for SQLite a second
  and third `SQLiteQueue` on the same file; for PostgreSQL three `PostgresQueue` on one
  database, the test session's, emptied for each example), claim due deliveries, record
  outcomes (delivered, retry at a time, fatal), release claims, or crash (their claims are
  dropped unrecorded); the clock advances past leases or jumps anywhere; dead letters are
  redriven; SQLite and PostgreSQL prune with a short retention. The machine plays the
  delivery handler: a retry on the last attempt is recorded as a dead letter.
- `FakeQueueMachine`: the same, on the ``fake_queue`` fixture's `FakeQueue`, plus its attempt
  log and a `run_until_idle` step (webhook-kit's `Worker`, in-process receiver), so users'
  tests stand on a proven base.

Found by these machines, and fixed: an attempt interrupted by a lost lease counts, but a
claim past ``max_attempts`` used to be sent anyway, so a delivery that killed its worker every
time was claimed for ever. The queues still hand such a claim out (they do not read the
policy); `DeliveryHandler` now dead-letters it without a request. The attempt invariants allow
claim numbers past the policy only after interrupted attempts; see
`test_a_delivery_whose_attempts_are_all_interrupted_is_dead_lettered_in_the_end`.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from webhook_kit import RetryPolicy, SignatureFormat, WebhookSubscription
from webhook_kit.clock import VirtualClock
from webhook_kit.events import WebhookEvent
from webhook_kit.outcomes import (
    AttemptRecord,
    DeadLetter,
    DeadLetterRecord,
    Delivered,
    Outcome,
    RetryAt,
)
from webhook_kit.queues import (
    Claim,
    MemoryQueue,
    QueueCounts,
    SQLiteQueue,
    UnknownDeliveryError,
    WebhookQueue,
)
from webhook_kit.registrations import handler_of
from webhook_kit.testing import FakeQueue

T = TypeVar("T")

START = 1_700_000_000.0
GRACE = 5.0  # lease_grace: a lease lasts the event's timeout plus this
TIMEOUTS = (5.0, 10.0)  # event timeouts: leases of 10 or 15 seconds
RETENTION = 120.0  # SQLite: delivered jobs older than this are pruned
WORKERS = 3
MAX_UNFINISHED = 5  # dispatch waits while this many are pending or in flight
STATUS = {"delivered": 200, "retry": 503, "fatal": 410}
EVENT_NAMES = ("order.created", "order.gone")  # FakeQueue's receiver answers 200, 410

PENDING, IN_FLIGHT, DELIVERED, DEAD = "pending", "in_flight", "delivered", "dead"

PROTOCOL_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SQLITE_SETTINGS = settings(PROTOCOL_SETTINGS, max_examples=150)  # the likeliest to break


# --- the model -----------------------------------------------------------------------------------


@dataclass
class Segment:
    """One run of attempts: from dispatch, or from a redrive, to the end.

    Attributes:
        records: the attempts recorded in it, in order.
        lost: attempt numbers whose lease expired unrecorded (a crash or a lost worker).
    """

    records: list[AttemptRecord] = field(default_factory=list)
    lost: set[int] = field(default_factory=set)


@dataclass
class Expected:
    """What the queue must hold of one delivery.

    Attributes:
        event: the event as dispatched; every claim and dead letter carries it, redriven or not.
        state: pending, in flight, delivered or dead.
        due: pending: when it falls due; in flight: when its lease ends.
        attempts: attempts counted in this segment (claims, less releases).
        token: the token of the lease the queue honours (in flight only).
        segments: one per dispatch or redrive.
        finished_at: when it was delivered.
        pruned: delivered, then deleted by retention.
        dead: the dead letter (while dead); ``reason`` None when a `Worker` wrote it.
    """

    event: WebhookEvent
    state: str
    due: float
    attempts: int = 0
    token: int | None = None
    segments: list[Segment] = field(default_factory=lambda: [Segment()])
    finished_at: float | None = None
    pruned: bool = False
    dead: DeadInfo | None = None

    @property
    def max_attempts(self) -> int:
        return self.event.retry_policy.max_attempts

    @property
    def segment(self) -> Segment:
        return self.segments[-1]

    @property
    def history(self) -> list[AttemptRecord]:
        return [record for segment in self.segments for record in segment.records]

    @property
    def ended_at(self) -> float:
        """When it was delivered or dead-lettered."""
        ended = self.finished_at if self.dead is None else self.dead.dead_at
        assert ended is not None, self
        return ended


@dataclass(frozen=True)
class DeadInfo:
    reason: str | None
    gone: bool
    attempts: int
    dead_at: float
    last_status: int | None


def exhausted_error(attempt: int, max_attempts: int) -> str:
    """The error `DeliveryHandler` records when a claim comes after the policy is spent."""
    del attempt  # the same words whichever claim it is
    return (
        f"not sent: the policy's {max_attempts} attempts are spent, the last interrupted "
        "(its worker stopped)"
    )


def record_key(record: AttemptRecord) -> tuple[Any, ...]:
    """An attempt record without its latency (real seconds, not ours to predict)."""
    return (
        record.delivery_id,
        record.attempt,
        record.started_at,
        record.status,
        record.error,
        record.outcome,
    )


def attempt_allowed(attempt: int, max_attempts: int, lost: set[int]) -> bool:
    """Whether attempt number ``attempt`` may exist: within the policy, or past it only because
    every attempt from the last one on lost its lease (what the queues do; see the module)."""
    return attempt <= max_attempts or all(n in lost for n in range(max_attempts, attempt))


def handler_outcome(claim: Claim, kind: str, retry_in: float, now: float) -> Outcome:
    """What `DeliveryHandler` would decide: a retry on the last attempt is a dead letter."""
    if claim.attempt > claim.event.retry_policy.max_attempts:  # spent by interruptions
        return DeadLetter("spent", unsent=True)
    if kind == "delivered":
        return Delivered()
    if kind == "fatal":
        return DeadLetter("status 410: gone", gone=True)
    if claim.attempt >= claim.event.retry_policy.max_attempts:
        return DeadLetter(f"gave up after {claim.attempt} attempts; the last: status 503")
    return RetryAt(now + retry_in)


def outcome_name(outcome: Outcome) -> str:
    return {Delivered: "delivered", RetryAt: "retry", DeadLetter: "dead"}[type(outcome)]


# --- the protocol machine ------------------------------------------------------------------------


class QueueMachine(RuleBasedStateMachine):
    """The `WebhookQueue` protocol under random histories; subclasses open the queues."""

    retention: ClassVar[float | None] = None  # set where the queue prunes delivered jobs
    # Whether outcomes recorded at once on several handles take effect in a known order (see
    # `record`); where not, the order of the dead letters they write is read from the queue.
    commit_order_known: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = VirtualClock(START)
        self.handles: list[WebhookQueue] = self.open_handles()
        self.held: list[list[Claim]] = [[] for _ in range(WORKERS)]
        self.expected: dict[str, Expected] = {}
        self.dead_order: list[str] = []  # ids of dead letters, oldest first
        self.recorded: list[AttemptRecord] = []  # every attempt the queue accepted, in order
        self.serial = 0

    # -- what subclasses provide -------------------------------------------------------------

    def open_handles(self) -> list[WebhookQueue]:
        """One handle per worker on one empty queue on ``self.clock``."""
        raise NotImplementedError

    def close_handles(self) -> None:
        """Release what `open_handles` opened."""

    def teardown(self) -> None:
        try:
            self.close_handles()
        finally:
            self.loop.close()

    # -- plumbing ----------------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    @property
    def queue(self) -> WebhookQueue:
        return self.handles[0]

    def now(self) -> float:
        return self.clock.now()

    def new_event(self, max_attempts: int, timeout: float, name: str) -> WebhookEvent:
        self.serial += 1
        return WebhookEvent(
            id=str(uuid.UUID(int=self.serial, version=4)),
            event=name,
            target_url=self.target_url(),
            body=f'{{"n":{self.serial}}}',
            signature_format=SignatureFormat.HEX_SHA256_WITH_PREFIX,
            signature="sha256=00",
            created_at=self.now(),
            timeout=timeout,
            retry_policy=RetryPolicy(max_attempts=max_attempts, base_delay=1, jitter=0),
        )

    def target_url(self) -> str:
        return "https://example.com/hooks"

    def in_state(self, *states: str) -> list[Expected]:
        return [e for e in self.expected.values() if e.state in states and not e.pruned]

    def held_claims(self) -> list[tuple[int, int]]:
        return [(w, i) for w, claims in enumerate(self.held) for i in range(len(claims))]

    def honoured(self, claim: Claim) -> bool:
        """Whether the queue still honours ``claim``: its lease is the job's current one (an
        expired lease is honoured until another claim takes the job over)."""
        expected = self.expected[claim.event.id]
        return expected.state == IN_FLIGHT and expected.token == claim.token

    def expire_leases(self) -> None:
        """What every claim does first: leases that ended make their jobs pending again, due
        from the lease's end, the interrupted attempt counted (and lost)."""
        now = self.now()
        for expected in self.in_state(IN_FLIGHT):
            if expected.due <= now:
                expected.state, expected.token = PENDING, None
                expected.segment.lost.add(expected.attempts)

    def observe_prunes(self) -> None:
        """Delivered jobs that retention deleted: allowed only once they are old enough."""
        if self.retention is None:
            return
        for expected in self.in_state(DELIVERED):
            try:
                self.run(self.queue.history(expected.event.id))
            except UnknownDeliveryError:
                assert expected.finished_at is not None
                assert expected.finished_at < self.now() - self.retention, (
                    f"{expected.event.id} was pruned {self.now() - expected.finished_at}s after "
                    f"delivery, within the retention of {self.retention}s"
                )
                expected.pruned = True

    # -- rules -------------------------------------------------------------------------------

    @precondition(lambda self: len(self.in_state(PENDING, IN_FLIGHT)) < MAX_UNFINISHED)
    @rule(
        max_attempts=st.integers(1, 3),
        timeout=st.sampled_from(TIMEOUTS),
        delay=st.sampled_from([None, 0.0, 3.0, 20.0]),
        via=st.integers(0, WORKERS - 1),
        name=st.sampled_from(EVENT_NAMES),
    )
    def dispatch(
        self, max_attempts: int, timeout: float, delay: float | None, via: int, name: str
    ) -> None:
        event = self.new_event(max_attempts, timeout, name)
        not_before = None if delay is None else self.now() + delay
        self.run(self.handles[via].enqueue(event, not_before=not_before))
        due = self.now() if not_before is None else not_before
        self.expected[event.id] = Expected(event, PENDING, due)

    @precondition(lambda self: self.in_state(PENDING, IN_FLIGHT))
    @rule(worker=st.integers(0, WORKERS - 1), limit=st.integers(1, 3))
    def claim(self, worker: int, limit: int) -> None:
        self.expire_leases()
        now = self.now()
        due = [e for e in self.in_state(PENDING) if e.due <= now]
        claims = self.run(self.handles[worker].claim(limit, lease_grace=GRACE))
        assert len(claims) == min(limit, len(due)), (claims, due)
        claimed = {claim.event.id for claim in claims}
        assert len(claimed) == len(claims), "one claim handed out a delivery twice"
        assert claimed <= {e.event.id for e in due}, "claimed a job that is not due"
        rest = [e.due for e in due if e.event.id not in claimed]
        if rest:  # earliest due first
            assert max(self.expected[i].due for i in claimed) <= min(rest)
        for claim in claims:
            expected = self.expected[claim.event.id]
            assert claim.event == expected.event  # same id and body, redriven or not
            assert claim.attempt == expected.attempts + 1
            assert claim.lease_until == now + expected.event.timeout + GRACE
            assert attempt_allowed(claim.attempt, expected.max_attempts, expected.segment.lost), (
                claim,
                expected,
            )
            expected.state, expected.attempts = IN_FLIGHT, claim.attempt
            expected.due, expected.token = claim.lease_until, claim.token
            self.held[worker].append(claim)

    @precondition(lambda self: any(self.held))
    @rule(data=st.data(), action=st.sampled_from(["record", "record", "release", "crash"]))
    def holders_act(self, data: st.DataObject, action: str) -> None:
        """Workers holding claims record outcomes (most often), release one, or crash."""
        if action == "record":
            self.record(data)
        elif action == "release":
            self.release(data, data.draw(st.sampled_from([None, 0.0, 7.0]), label="later"))
        else:
            self.crash(data)

    def record(self, data: st.DataObject) -> None:
        """One to three holders record outcomes at once. On SQLite, outcomes arriving together
        on one handle share a commit, each checked against its own lease; a holder whose lease
        was taken over is refused."""
        held = self.held_claims()
        stale = [(w, i) for w, i in held if not self.honoured(self.held[w][i])]
        lost_first: bool = bool(stale) and data.draw(st.booleans(), label="lost leases first")
        if lost_first:
            held = stale  # holders whose lease was taken over: the interesting case, made common
        picked = data.draw(
            st.lists(st.sampled_from(held), min_size=1, max_size=3, unique=True), label="claims"
        )
        now = self.now()
        batch: list[tuple[int, Claim, Outcome, AttemptRecord]] = []
        for worker, index in picked:
            claim = self.held[worker][index]
            kind = data.draw(st.sampled_from(sorted(STATUS)), label="answer")
            retry_in = data.draw(st.sampled_from([0.0, 1.0, 30.0, 200.0]), label="retry in")
            outcome = handler_outcome(claim, kind, retry_in, now)
            record = AttemptRecord(
                delivery_id=claim.event.id,
                attempt=claim.attempt,
                started_at=now,
                status=STATUS[kind],
                error=None,
                latency=0.01,
                response_excerpt=f"answered {STATUS[kind]}",
                outcome=outcome_name(outcome),
            )
            batch.append((worker, claim, outcome, record))
        for worker, index in sorted(picked, reverse=True):
            del self.held[worker][index]

        async def record_all() -> list[bool]:
            return await asyncio.gather(
                *(self.handles[w].record(claim, o, r) for w, claim, o, r in batch)
            )

        results = self.run(record_all())
        dead_before = len(self.dead_order)
        # The order outcomes take effect in: each handle's batch in turn (one commit each),
        # in the order its first outcome arrived; in memory, as they arrived.
        first: dict[int, int] = {}
        for w, *_ in batch:
            first.setdefault(id(self.handles[w]), len(first))
        order = sorted(range(len(batch)), key=lambda i: (first[id(self.handles[batch[i][0]])], i))
        for i in order:
            _, claim, outcome, record = batch[i]
            expected = self.expected[claim.event.id]
            honoured = self.honoured(claim)
            assert results[i] == honoured, (claim, expected)
            if honoured:
                self.apply(expected, outcome, record, reason=True)
        if not self.commit_order_known and len(self.dead_order) - dead_before > 1:
            self.take_the_queues_order_of_new_dead_letters(dead_before)
        self.observe_prunes()

    def take_the_queues_order_of_new_dead_letters(self, known: int) -> None:
        """Dead letters written by one round of records (all at one instant) in the order the
        queue committed them: the same ones, after the ones that were there before."""
        letters = [letter.id for letter in self.run(self.queue.list_dead_letters())]
        assert letters[:known] == self.dead_order[:known]
        assert sorted(letters[known:]) == sorted(self.dead_order[known:])
        self.dead_order = letters

    def apply(
        self, expected: Expected, outcome: Outcome, record: AttemptRecord, *, reason: bool
    ) -> None:
        """The model's side of a recorded attempt (time stands still during an attempt)."""
        now = record.started_at
        self.recorded.append(record)
        expected.segment.records.append(record)
        expected.token = None
        if isinstance(outcome, Delivered):
            expected.state, expected.finished_at = DELIVERED, now
        elif isinstance(outcome, RetryAt):
            expected.state, expected.due = PENDING, outcome.at
        else:
            expected.state = DEAD
            expected.dead = DeadInfo(
                outcome.reason if reason else None,
                outcome.gone,
                record.attempt,
                now,
                record.status,
            )
            self.dead_order.append(expected.event.id)

    def release(self, data: st.DataObject, later: float | None) -> None:
        """A holder gives its claim back, the attempt uncounted (ignored once it lost it)."""
        worker, index = data.draw(st.sampled_from(self.held_claims()), label="claim")
        claim = self.held[worker].pop(index)
        not_before = None if later is None else self.now() + later
        self.run(self.handles[worker].release(claim, not_before=not_before))
        expected = self.expected[claim.event.id]
        if self.honoured(claim):
            expected.state, expected.token = PENDING, None
            expected.attempts -= 1  # uncounted
            expected.due = self.now() if not_before is None else not_before

    def crash(self, data: st.DataObject) -> None:
        """A worker dies: its claims are dropped unrecorded; their leases will run out."""
        holders = [w for w, claims in enumerate(self.held) if claims]
        worker = data.draw(st.sampled_from(holders), label="worker")
        self.held[worker].clear()

    @rule(
        data=st.data(),
        how=st.sampled_from(["advance", "to a lease's end", "jump"]),
        seconds=st.one_of(st.sampled_from([0.5, 1.0, 5.0, 10.0, 15.0]), st.floats(0, 90)),
        offset=st.floats(-100, 1000),
    )
    def move_clock(self, data: st.DataObject, how: str, seconds: float, offset: float) -> None:
        """Advance it; or move it to one lease's end (where the lease expires), or just before
        or after it; or jump anywhere (a jump into the past leaves it where it is)."""
        before = self.now()
        leases = sorted(e.due for e in self.in_state(IN_FLIGHT))
        if how == "to a lease's end" and leases:
            lease_end = data.draw(st.sampled_from(leases), label="lease end")
            past = data.draw(st.sampled_from([-0.5, -0.001, 0.0, 0.001, 1.0]), label="past")
            self.clock.jump_to(lease_end + past)
        elif how == "jump":
            self.clock.jump_to(before + offset)
            assert self.now() == max(before, before + offset)
        else:
            self.clock.advance(seconds)

    @precondition(lambda self: bool(self.dead_order))
    @rule(data=st.data(), via=st.integers(0, WORKERS - 1))
    def redrive(self, data: st.DataObject, via: int) -> None:
        """Redrive a dead letter (same id, attempts afresh); anything else is refused."""
        if data.draw(st.integers(0, 3), label="what") > 0:
            delivery_id = data.draw(st.sampled_from(self.dead_order), label="dead letter")
            self.run(self.handles[via].redrive(delivery_id))
            self.dead_order.remove(delivery_id)
            expected = self.expected[delivery_id]
            expected.state, expected.due, expected.attempts = PENDING, self.now(), 0
            expected.dead = None
            expected.segments.append(Segment())
            return
        alive = [i for i, e in self.expected.items() if e.state != DEAD]
        delivery_id = data.draw(st.sampled_from([str(uuid.uuid4()), *alive]), label="id")
        with pytest.raises(UnknownDeliveryError):
            self.run(self.handles[via].redrive(delivery_id))

    def finished_long_ago(self) -> bool:
        """Whether a delivery was delivered or dead-lettered half the retention ago or more."""
        if self.retention is None:
            return False
        cutoff = self.now() - self.retention / 2
        return any(e.ended_at <= cutoff for e in self.in_state(DELIVERED, DEAD))

    @precondition(finished_long_ago)
    @rule(via=st.integers(0, WORKERS - 1))
    def prune(self, via: int) -> None:
        """Delete delivered jobs past the retention (and nothing else)."""
        assert self.retention is not None
        handle = self.handles[via]
        old = [e for e in self.in_state(DELIVERED) if e.ended_at < self.now() - self.retention]
        assert self.run(handle.prune()) == len(old)  # type: ignore[attr-defined]
        for expected in old:
            expected.pruned = True
            with pytest.raises(UnknownDeliveryError):
                self.run(self.queue.history(expected.event.id))

    # -- invariants --------------------------------------------------------------------------

    def expected_counts(self) -> QueueCounts:
        pending = self.in_state(PENDING)
        return QueueCounts(
            pending=len(pending),
            due=sum(1 for e in pending if e.due <= self.now()),
            in_flight=len(self.in_state(IN_FLIGHT)),
            delivered=len(self.in_state(DELIVERED)),
            dead=len(self.in_state(DEAD)),
        )

    @invariant()
    def no_delivery_is_lost(self) -> None:
        """Every dispatched delivery is pending, in flight, delivered (or pruned after its
        retention) or dead: as the model says, seen through every handle."""
        expected = self.expected_counts()
        for handle in self.unique_handles():
            assert self.run(handle.counts()) == expected
        for delivery_id, model in self.expected.items():
            if model.pruned:
                continue
            history = self.run(self.queue.history(delivery_id))  # raises if it is gone
            assert [record_key(r) for r in history] == [record_key(r) for r in model.history]
        pending = [e.due for e in self.in_state(PENDING, IN_FLIGHT)]
        assert self.run(self.queue.next_due()) == (min(pending) if pending else None)

    @invariant()
    def dead_letters_match(self) -> None:
        """The dead letters are exactly the dead deliveries, oldest first, each as dispatched
        (same id and body) and each after a fatal answer or its last attempt."""
        for handle in self.unique_handles():
            letters = self.run(handle.list_dead_letters())
            assert [letter.id for letter in letters] == self.dead_order
            for letter in letters:
                self.check_dead_letter(letter)

    def check_dead_letter(self, letter: DeadLetterRecord) -> None:
        expected = self.expected[letter.id]
        assert expected.state == DEAD
        assert expected.dead is not None
        assert letter.event == expected.event
        dead = expected.dead
        if dead.reason is not None:
            assert letter.reason == dead.reason
        assert (letter.gone, letter.attempts, letter.dead_at, letter.last_status) == (
            dead.gone,
            dead.attempts,
            dead.dead_at,
            dead.last_status,
        )
        # Dead only after a fatal answer or on (or, after lost leases, past) the last attempt.
        assert letter.gone or letter.attempts >= expected.max_attempts, letter
        last = expected.segment.records[-1]
        assert (last.outcome, last.attempt) == ("dead", letter.attempts)

    @invariant()
    def attempt_numbers_only_grow_within_the_policy(self) -> None:
        """Within each segment, recorded attempt numbers start at 1 or later and only grow; an
        attempt passes ``max_attempts`` only after every attempt from the last one on was
        interrupted (lost its lease)."""
        for expected in self.expected.values():
            for segment in expected.segments:
                numbers = [record.attempt for record in segment.records]
                assert all(n >= 1 for n in numbers)
                assert numbers == sorted(set(numbers)), numbers
                for n in numbers:
                    assert attempt_allowed(n, expected.max_attempts, segment.lost), (
                        n,
                        expected,
                    )
            if expected.state in (PENDING, IN_FLIGHT):  # the attempt in flight, or the next
                current = expected.attempts + (1 if expected.state == PENDING else 0)
                assert attempt_allowed(current, expected.max_attempts, expected.segment.lost)

    @invariant()
    def no_delivery_is_held_twice_under_valid_leases(self) -> None:
        """No two workers hold one delivery while both leases are valid, and the queue honours
        at most one claim per delivery."""
        now = self.now()
        valid: dict[str, int] = {}
        for claims in self.held:
            for claim in claims:
                if claim.lease_until > now:
                    valid[claim.event.id] = valid.get(claim.event.id, 0) + 1
        assert all(count == 1 for count in valid.values()), valid
        honoured = [c.event.id for claims in self.held for c in claims if self.honoured(c)]
        assert len(honoured) == len(set(honoured)), honoured

    def unique_handles(self) -> list[WebhookQueue]:
        return list({id(handle): handle for handle in self.handles}.values())


class MemoryMachine(QueueMachine):
    """`MemoryQueue`: every worker holds the one queue (one process's memory)."""

    def open_handles(self) -> list[WebhookQueue]:
        queue = MemoryQueue(clock=self.clock)
        return [queue] * WORKERS


class SQLiteMachine(QueueMachine):
    """`SQLiteQueue`: each worker opens the file itself, as another process would."""

    retention = RETENTION

    def open_handles(self) -> list[WebhookQueue]:
        self.directory = tempfile.TemporaryDirectory(prefix="webhook-kit-machine-")
        path = Path(self.directory.name) / "queue.sqlite3"
        return [SQLiteQueue(path, clock=self.clock, retention=RETENTION) for _ in range(WORKERS)]

    def close_handles(self) -> None:
        for handle in self.handles:
            assert isinstance(handle, SQLiteQueue)
            handle.close()
        self.directory.cleanup()


def test_memory_queue_invariants_hold_under_random_histories() -> None:
    run_state_machine_as_test(MemoryMachine, settings=PROTOCOL_SETTINGS)


def test_sqlite_queue_invariants_hold_under_random_histories() -> None:
    run_state_machine_as_test(SQLiteMachine, settings=SQLITE_SETTINGS)


# --- the fake_queue fixture's FakeQueue ----------------------------------------------------------


class FakeQueueMachine(QueueMachine):
    """The protocol machine on a `FakeQueue`, plus its attempt log and `run_until_idle` (its
    `Worker`, delivering in-process to a receiver that answers 410 to ``order.gone`` and 200
    to everything else)."""

    make_queue: ClassVar[Callable[[], FakeQueue]] = FakeQueue

    def open_handles(self) -> list[WebhookQueue]:
        queue = type(self).make_queue()
        assert queue.clock.now() == START
        self.clock = queue.clock
        self.fake = queue
        self.receiver = queue.receiver()
        self.receiver.script([410], event="order.gone")
        self.run(WebhookSubscription.register(queue))
        return [queue] * WORKERS

    def close_handles(self) -> None:
        handler = handler_of(self.fake)
        assert handler is not None
        self.run(handler.aclose())
        assert self.receiver.problems == []
        assert self.fake.router.refused == []

    def target_url(self) -> str:
        return self.receiver.url

    @precondition(lambda self: bool(self.in_state(PENDING, IN_FLIGHT)))
    @rule()
    def run_until_idle(self) -> None:
        """The worker takes every pending delivery as it falls due and every in-flight one as
        its lease ends (the simulated holders' claims go stale), jumping the clock."""
        before = self.now()
        work = sorted(self.in_state(PENDING, IN_FLIGHT), key=lambda e: e.due)
        received = len(self.receiver.deliveries)
        logged = len(self.recorded)
        dead_before = list(self.dead_order)
        self.run(self.fake.run_until_idle())
        for expected in work:
            if expected.state == IN_FLIGHT:  # its lease ran out: the attempt was lost
                expected.segment.lost.add(expected.attempts)
            expected.attempts += 1
            gone = expected.event.event == "order.gone"
            spent = expected.attempts > expected.max_attempts  # the last ones were interrupted
            outcome: Outcome
            if spent:  # dead-lettered without a request (the handler's rule)
                outcome = DeadLetter("spent", unsent=True)
                status, error = None, exhausted_error(expected.attempts, expected.max_attempts)
            else:
                outcome = DeadLetter("gone", gone=True) if gone else Delivered()
                status, error = (410 if gone else 200), None
            record = AttemptRecord(
                delivery_id=expected.event.id,
                attempt=expected.attempts,
                started_at=max(before, expected.due),
                status=status,
                error=error,
                latency=0.0,
                response_excerpt="",
                outcome=outcome_name(outcome),
            )
            self.apply(expected, outcome, record, reason=False)
        assert self.now() == max([before, *(e.due for e in work)])
        arrived = self.receiver.deliveries[received:]
        sent = [e for e in work if e.attempts <= e.max_attempts]
        assert sorted(d.id or "" for d in arrived) == sorted(e.event.id for e in sent)
        # Attempts that ran at once may be recorded in any order: take the queue's order.
        log = self.fake.attempts
        assert sorted(map(record_key, log[logged:])) == sorted(
            map(record_key, self.recorded[logged:])
        )
        self.recorded[logged:] = log[logged:]
        letters = [letter.id for letter in self.run(self.fake.list_dead_letters())]
        assert letters[: len(dead_before)] == dead_before
        assert sorted(letters[len(dead_before) :]) == sorted(self.dead_order[len(dead_before) :])
        self.dead_order = letters

    @invariant()
    def the_attempt_log_is_every_recorded_attempt(self) -> None:
        """`FakeQueue.attempts` (what users assert on) is every accepted attempt, in order, and
        `dead_letters` is `list_dead_letters`."""
        assert list(map(record_key, self.fake.attempts)) == list(map(record_key, self.recorded))
        assert list(self.fake.dead_letters) == self.run(self.fake.list_dead_letters())


def test_fake_queue_invariants_hold_under_random_histories(fake_queue: FakeQueue) -> None:
    """Each example gets a new queue like the fixture's (same class, same start)."""
    start = fake_queue.clock.now()

    class FixtureQueueMachine(FakeQueueMachine):
        make_queue = staticmethod(lambda: type(fake_queue)(start=start))

    run_state_machine_as_test(FixtureQueueMachine, settings=PROTOCOL_SETTINGS)


@pytest.mark.anyio
async def test_a_delivery_whose_attempts_are_all_interrupted_is_dead_lettered_in_the_end(
    fake_queue: FakeQueue,
) -> None:
    """docs/production.md: "The interrupted attempt counts towards the retry policy's
    max_attempts: a delivery that kills its worker every time is dead-lettered in the end."

    Both of a two-attempt policy's attempts are interrupted (each worker dies holding the
    claim and the lease runs out); the policy is spent, so no third request is made.
    """
    receiver = fake_queue.receiver()
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(receiver.url, "s3cret")
    policy = RetryPolicy(max_attempts=2)
    delivery_id = await subscription.retry_policy(policy).dispatch(fake_queue, "order.created", {})
    for attempt in (1, 2):
        (claim,) = await fake_queue.claim(1, lease_grace=GRACE)  # a worker dies holding it
        assert claim.attempt == attempt
        fake_queue.clock.jump_to(claim.lease_until)
    await fake_queue.run_until_idle()
    assert [letter.id for letter in fake_queue.dead_letters] == [delivery_id]
    assert receiver.deliveries == []
    (letter,) = fake_queue.dead_letters
    assert "the last was interrupted" in letter.reason


# --- PostgreSQL ---------------------------------------------------------------------------------


class PostgresMachine(QueueMachine):
    """`PostgresQueue` on the test session's database (its tables emptied for each example):
    each worker opens a queue of its own on it, as another process would, all on the machine's
    `VirtualClock` (``time_source="clock"``)."""

    retention = RETENTION
    # Outcomes on different handles are committed by concurrent group commits: which commits
    # first (and so the order of dead letters written at one instant) is the server's call.
    commit_order_known = False
    url: ClassVar[str]

    def open_handles(self) -> list[WebhookQueue]:
        from services import empty_tables
        from webhook_kit.queues.postgres import PostgresQueue

        empty_tables(self.url)
        handles = [
            PostgresQueue(self.url, clock=self.clock, time_source="clock", retention=RETENTION)
            for _ in range(WORKERS)
        ]
        for handle in handles:
            self.run(handle.open())
        return handles

    def close_handles(self) -> None:
        for handle in self.handles:
            self.run(handle.close())  # type: ignore[attr-defined]


@pytest.mark.postgresql
def test_postgresql_queue_invariants_hold_under_random_histories(postgres_url: str) -> None:
    """As large as SQLite's machine; one database for every example, emptied between them."""

    class SessionPostgresMachine(PostgresMachine):
        url = postgres_url

    run_state_machine_as_test(SessionPostgresMachine, settings=SQLITE_SETTINGS)
