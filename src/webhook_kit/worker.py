"""`Worker`: claims due deliveries, makes attempts concurrently, records their outcomes."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import anyio

from . import observability
from .attempt_log import log_attempt
from .clock import VirtualClock
from .delivery import DeliveryHandler
from .errors import InvalidInputError, WebhookKitError
from .fix_hints import fix
from .health import EndpointHealth, EndpointState, EndpointStatus, HealthPolicy, endpoint_of
from .outcomes import AttemptRecord, DeadLetter, Delivered, Outcome
from .queues.protocol import UNLIMITED, Claim, DeliveryStore, EndpointRecord, WebhookQueue
from .registrations import handler_of, secret_memory_of
from .validation import check_target_url

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_LEASE_GRACE",
    "NotRegisteredError",
    "Worker",
    "enable_endpoint",
]

logger = logging.getLogger("webhook_kit.worker")

DEFAULT_CONCURRENCY = 32
"""Attempts in flight at once, by default."""

DEFAULT_LEASE_GRACE = 15.0
"""Seconds a lease outlives its attempt's timeout (30 s by default, so 45 s in all)."""

_POLL_INTERVAL = 1.0
_MIN_GRACE_TO_CLAIM_AHEAD = 2.0  # seconds of lease grace below which nothing waits for a slot
_ENDPOINT_SYNC_INTERVAL = 5.0


async def enable_endpoint(queue: DeliveryStore, url: str) -> None:
    """Record the endpoint of ``url`` as healthy again; every worker on ``queue`` takes it in
    within a few seconds (``webhook-kit endpoints enable URL`` does this).

    Raises:
        InvalidTargetError: ``url`` is not an absolute http(s) URL with a host.
    """
    check_target_url(url)
    await queue.save_endpoint(
        EndpointRecord(
            endpoint=endpoint_of(url),
            state=EndpointState.HEALTHY.value,
            reason="re-enabled",
            updated_at=queue.clock.now(),
        )
    )


class NotRegisteredError(WebhookKitError):
    """The queue has no delivery handler: call ``await WebhookSubscription.register(queue)``."""


class Worker:
    """Delivers what a queue holds: claims due jobs, attempts them, records the outcomes.

    Usage:

        worker = Worker(queue, concurrency=64)
        await worker.run_until_idle()   # tests and scripts: until nothing is pending
        await worker.run()              # services: until stop()

    Args:
        queue: the queue; `WebhookSubscription.register` must have installed its handler.
        concurrency: attempts in flight at once.
        client: an ``httpx.AsyncClient`` to deliver with instead of the handler's stack (the
            network guard does not apply to a client you bring).
        lease_grace: seconds a lease outlives its attempt's timeout.
        health: endpoint health (per-endpoint limits and circuit breakers, see
            `webhook_kit.health`): ``True`` for the default `HealthPolicy`, a policy, or
            ``False``/``None`` to attempt every due delivery as it comes.
        claim_ahead: deliveries claimed beyond ``concurrency``, each starting the moment a
            slot frees, so no slot waits for a claim's round trip to the queue. Default: half
            the concurrency (none when ``lease_grace`` is under 2 s). A delivery that waited
            for a slot longer than half the lease grace is given back instead of started, so
            no lease can run out during its attempt.

    Raises:
        InvalidInputError: ``concurrency`` below 1, a negative ``lease_grace`` or
            ``claim_ahead``, a ``claim_ahead`` with a lease grace under 2 s, or a ``health``
            that is not a bool, ``None`` or a `HealthPolicy`.
    """

    def __init__(
        self,
        queue: WebhookQueue,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        client: httpx.AsyncClient | None = None,
        lease_grace: float = DEFAULT_LEASE_GRACE,
        health: HealthPolicy | bool | None = True,
        claim_ahead: int | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidInputError("concurrency must be an int of at least 1")
        if not math.isfinite(lease_grace) or lease_grace < 0:
            raise InvalidInputError("lease_grace must be a finite, non-negative number")
        if claim_ahead is None:
            claim_ahead = concurrency // 2 if lease_grace >= _MIN_GRACE_TO_CLAIM_AHEAD else 0
        if isinstance(claim_ahead, bool) or not isinstance(claim_ahead, int) or claim_ahead < 0:
            raise InvalidInputError("claim_ahead must be an int of at least 0")
        if claim_ahead and lease_grace < _MIN_GRACE_TO_CLAIM_AHEAD:
            raise InvalidInputError(
                f"claim_ahead needs a lease_grace of at least {_MIN_GRACE_TO_CLAIM_AHEAD:g} s "
                "(a delivery waiting for a slot spends its lease): raise lease_grace or pass "
                "claim_ahead=0"
            )
        self.claim_ahead = claim_ahead
        self.queue = queue
        clock = queue.clock
        self._virtual_clock = clock if isinstance(clock, VirtualClock) else None
        self.concurrency = concurrency
        self.lease_grace = float(lease_grace)
        self._client = client
        if health is True:
            health = HealthPolicy()
        if not (health is None or health is False or isinstance(health, HealthPolicy)):
            raise InvalidInputError(f"health must be True, False or a HealthPolicy: {health!r}")
        self.health: EndpointHealth | None = (
            EndpointHealth(concurrency, health, capacity=concurrency + claim_ahead)
            if isinstance(health, HealthPolicy)
            else None
        )
        self._in_flight: dict[int, Claim] = {}
        # Claimed (and admitted by endpoint health) but waiting for a slot, with when.
        self._ready: deque[tuple[Claim, float]] = deque()
        self._run_handler: DeliveryHandler | None = None
        # Attempts that ended and whose outcome is being written: their slot is free for the
        # next attempt, but at most `concurrency` of them wait on the queue at once.
        self._recording = 0
        self._progress = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._stopping = False
        self._running = False
        self._endpoints_synced = 0.0

    def _handler(self) -> DeliveryHandler:
        handler = handler_of(self.queue)
        if handler is None:
            raise NotRegisteredError(
                "the queue has no delivery handler: call "
                "`await WebhookSubscription.register(queue)` before running a worker"
            )
        if self._client is None:
            return handler
        from .http_stacks.httpx_stack import HttpxStack

        return handler.with_stack(HttpxStack(self._client))

    @property
    def in_flight(self) -> int:
        """Attempts in flight now."""
        return len(self._in_flight)

    async def run(self) -> None:
        """Deliver until `stop` is called; in-flight attempts finish before it returns."""
        await self._run(until_idle=False)

    async def run_until_idle(self) -> None:
        """Deliver until nothing is pending or in flight (dead letters do not count).

        While waiting for the next due job it sleeps on a system clock and jumps a virtual one.
        """
        await self._run(until_idle=True)

    async def stop(self) -> None:
        """Stop claiming; attempts in flight finish (each within its timeout), none is lost."""
        self._stopping = True
        self._progress.set()
        self.queue_wakeup()

    def queue_wakeup(self) -> None:
        """Wake the claim loop (after `stop`, or when work may have arrived)."""
        self._progress.set()

    async def _run(self, *, until_idle: bool) -> None:
        if self._running:
            raise InvalidInputError("this worker is already running")
        handler = self._handler()
        await self._sync_endpoints()
        # _stopping is not reset here: a stop() that came before this run got going still counts.
        self._running, self._failure = True, None
        self._progress = asyncio.Event()
        # Plain asyncio tasks, not an anyio task group: spawning is on the hot path, and a
        # task group's per-task cancel scope costs more than the rest of an attempt.
        self._tasks = set()
        self._run_handler = handler
        try:
            await self._claim_loop(until_idle)
            await self._return_ready()
            while self._tasks:  # stopping: let in-flight attempts finish
                await asyncio.wait(set(self._tasks))
            self._raise_failure()
        finally:
            if self._tasks:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
            with anyio.CancelScope(shield=True):
                await self._return_ready()
            self._running, self._stopping = False, False
            self._run_handler = None
            # Pooled connections belong to this run's event loop: close them now (a later run
            # reopens them) rather than leave sessions for the garbage collector to warn about.
            await handler.aclose()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def _claim_loop(self, until_idle: bool) -> None:
        queue, clock = self.queue, self.queue.clock
        capacity = self.concurrency + self.claim_ahead
        # Claim again once fewer than this many wait for a slot: claims stay large (one round
        # trip for many deliveries) and the slots never run dry while one is under way.
        low_water = max(1, self.claim_ahead // 2)
        while not self._stopping:
            self._raise_failure()
            telemetry = observability._telemetry
            if telemetry is not None:  # the queue-depth gauge: counts() read now and then
                await telemetry.observe_queue(queue)
            if self.health is not None and not clock.is_virtual:
                now = clock.now()
                if now - self._endpoints_synced >= _ENDPOINT_SYNC_INTERVAL:
                    await self._sync_endpoints()
            self._start_ready()
            room = capacity - len(self._in_flight) - len(self._ready)
            if self._recording >= self.concurrency:
                room = 0  # the queue is behind on writing outcomes: let it catch up first
            can_claim = room > 0 and len(self._ready) < low_water
            health = self.health
            limits = UNLIMITED if health is None else health.claim_limits(clock.now())
            if can_claim:
                # Each endpoint gets what its health allows and no more: the rest of a slow
                # endpoint's backlog stays in the queue, so others' due jobs are claimed now.
                claims = await queue.claim(room, lease_grace=self.lease_grace, limits=limits)
                held_back = 0
                claimed_at = clock.now()
                for claim in claims:
                    if health is not None and not await self._admitted(claim):
                        held_back += 1
                        continue
                    if self._virtual_clock is not None:
                        self._virtual_clock.hold()  # released when the attempt is recorded
                    self._ready.append((claim, claimed_at))
                self._start_ready()
                # More may be due: fill the room first. But once endpoint health held some
                # back, claiming on would only hold back more: wait for an attempt to end.
                if len(claims) == room and not (held_back and self._in_flight):
                    await asyncio.sleep(0)
                    continue
            if self._in_flight or self._recording or self._ready:
                if clock.is_virtual or not can_claim:
                    await self._wait_for_progress(None if clock.is_virtual else _POLL_INTERVAL)
                else:  # an attempt ends, or new work arrives for the room
                    await self._idle(_POLL_INTERVAL)
                continue
            due = await queue.next_due(held=limits.held)
            probe = None if health is None else health.next_probe(clock.now())
            if probe is not None and (due is None or probe < due):
                due = probe
            if due is None:
                if until_idle:
                    if telemetry is not None:
                        await telemetry.observe_queue(queue, force=True)
                    return
                await self._idle(_POLL_INTERVAL)
            elif clock.is_virtual:
                await clock.sleep_until(due)  # nothing in flight: time may jump
            else:
                wait = due - clock.now()
                if wait > 0:
                    await self._idle(min(wait, _POLL_INTERVAL))

    def _start_ready(self) -> None:
        """Start claimed deliveries in the free slots, the earliest claimed first."""
        handler, ready = self._run_handler, self._ready
        if handler is None or self._stopping:
            return  # stopping: what waits for a slot is given back, not started
        now: float | None = None
        while ready and len(self._in_flight) < self.concurrency:
            claim, claimed_at = ready.popleft()
            if now is None:
                now = self.queue.clock.now()
            if self.claim_ahead and now - claimed_at > self.lease_grace / 2:
                # It waited so long for a slot that its lease could end mid-attempt, and
                # another worker take it over: give it back rather than risk a duplicate.
                self._spawn(self._give_back(claim))
                continue
            self._in_flight[claim.token] = claim
            self._spawn(self._attempt(handler, claim))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._attempt_done)

    async def _give_back(self, claim: Claim) -> None:
        """Release a claim that never started: due again at once, no attempt counted."""
        if self.health is not None:
            self.health.released(endpoint_of(claim.event.target_url))
        await self.queue.release(claim)

    async def _return_ready(self) -> None:
        """Give back every claim still waiting for a slot (the run is ending)."""
        while self._ready:
            claim, _ = self._ready.popleft()
            try:
                await self._give_back(claim)
            except Exception:  # the queue is failing: the lease runs out and it comes back
                logger.warning(
                    "could not give back webhook %s; it is attempted again once its lease ends",
                    claim.event.id,
                    exc_info=True,
                )
            finally:
                if self._virtual_clock is not None:
                    self._virtual_clock.release()

    async def _idle(self, max_wait: float) -> None:
        """Wait for new work in the queue, or for `stop`, at most ``max_wait`` seconds."""
        progress = self._progress
        if progress.is_set():
            progress.clear()
            return
        work = asyncio.ensure_future(self.queue.wait_for_work(max_wait))
        stopped = asyncio.ensure_future(progress.wait())
        try:
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (work, stopped):
                waiter.cancel()
            await asyncio.gather(work, stopped, return_exceptions=True)
        progress.clear()

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._virtual_clock is not None:
            self._virtual_clock.release()
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()  # the queue failed: the claim loop re-raises it
        self._progress.set()

    async def _wait_for_progress(self, max_wait: float | None) -> None:
        progress = self._progress
        if not progress.is_set():
            if max_wait is None:
                await progress.wait()
            else:
                timer = asyncio.get_running_loop().call_later(max_wait, progress.set)
                try:
                    await progress.wait()
                finally:
                    timer.cancel()
        progress.clear()

    async def _sync_endpoints(self) -> None:
        """Take in endpoint states other workers and the CLI recorded (disabled, enabled)."""
        health = self.health
        self._endpoints_synced = self.queue.clock.now()
        if health is None:
            return
        for record in await self.queue.endpoint_records():
            known = health.state_of(record.endpoint)
            if (
                record.state == EndpointState.DISABLED.value
                and known is not EndpointState.DISABLED
            ):
                health.disable(record.endpoint, record.reason)
            elif record.state == EndpointState.HEALTHY.value and known is EndpointState.DISABLED:
                health.enable(record.endpoint)

    async def _save_endpoint(self, status: EndpointStatus) -> None:
        await self.queue.save_endpoint(
            EndpointRecord(
                endpoint=status.endpoint,
                state=status.state.value,
                reason=status.reason,
                updated_at=self.queue.clock.now(),
                probe_at=status.probe_at,
            )
        )
        level = logging.WARNING if status.state is not EndpointState.HEALTHY else logging.INFO
        logger.log(level, "endpoint %s is %s: %s", status.endpoint, status.state, status.reason)

    async def enable_endpoint(self, url: str) -> None:
        """Re-enable the endpoint of ``url`` (disabled after a 410 or a long failure).

        Its dead letters stay dead: redrive them once it is enabled.

        Raises:
            InvalidTargetError: ``url`` is not an absolute http(s) URL with a host.
        """
        endpoint = endpoint_of(check_target_url(url))
        if self.health is not None:
            self.health.enable(endpoint)
        await enable_endpoint(self.queue, url)

    async def _admitted(self, claim: Claim) -> bool:
        """Ask endpoint health; a delivery it holds back is deferred or dead-lettered here."""
        health = self.health
        if health is None:
            return True
        now = self.queue.clock.now()
        endpoint = endpoint_of(claim.event.target_url)
        admission = health.admit(endpoint, now)
        if admission.disabled:
            # Re-enabled since the records were last read (`endpoints enable` and a redrive at
            # once)? Read them before dead-lettering: a disabled endpoint's deliveries are few.
            await self._sync_endpoints()
            admission = health.admit(endpoint, now)
        if admission.admit:
            return True
        if admission.disabled:
            await self._dead_letter_disabled(claim, admission.reason, now)
        else:
            await self.queue.release(claim, not_before=admission.defer_until)
        return False

    async def _dead_letter_disabled(self, claim: Claim, why: str, now: float) -> None:
        """Dead-letter ``claim`` unsent, its endpoint disabled: logged and traced as any
        attempt's end is (no request is made)."""
        outcome = DeadLetter(
            f"the endpoint is disabled ({why}): "
            + fix(
                "re-enable it first (await worker.enable_endpoint(url))",
                "re-enable it first (webhook-kit endpoints enable URL)",
            )
        )
        record = AttemptRecord(
            delivery_id=claim.event.id,
            attempt=claim.attempt,
            started_at=now,
            status=None,
            error=f"endpoint disabled: {why}",
            latency=0.0,
            response_excerpt="",
            outcome="dead",
        )

        async def end(
            queue: DeliveryStore, claim: Claim
        ) -> tuple[Outcome, AttemptRecord, str | None]:
            log_attempt(claim.event, record, outcome, now)
            return outcome, record, observability.ENDPOINT_DISABLED

        telemetry = observability._telemetry
        if telemetry is not None:
            await telemetry.attempt(end, self.queue, claim)
        else:
            await end(self.queue, claim)
        await self.queue.record(claim, outcome, record)

    async def _attempt(self, handler: DeliveryHandler, claim: Claim) -> None:
        queue = self.queue
        health = self.health
        endpoint = endpoint_of(claim.event.target_url)
        try:
            try:
                outcome, record = await handler.attempt(queue, claim)
            except BaseException:  # cancelled mid-attempt: give the job back, uncounted
                if health is not None:
                    health.released(endpoint)
                with anyio.CancelScope(shield=True):
                    await queue.release(claim)
                raise
            if health is not None:
                changed = health.finished(endpoint, outcome, record, queue.clock.now())
                if changed is not None:
                    await self._save_endpoint(changed)
        finally:
            del self._in_flight[claim.token]
        # The request is over: its slot goes to the next claimed delivery while the outcome
        # is written (the lease holds until then; this task, and so the run, ends after).
        self._recording += 1
        self._start_ready()
        self._progress.set()
        try:
            recorded = await queue.record(claim, outcome, record)
        finally:
            self._recording -= 1
        if not recorded:
            logger.warning(
                "webhook %s attempt %d finished after its lease expired; another worker "
                "owns it now, so this outcome was dropped",
                claim.event.id,
                claim.attempt,
            )
        elif isinstance(outcome, Delivered) and claim.event.signature is None:
            # Kept for dead letters: a redrive in this process needs the secret again.
            secret_memory_of(queue).forget(claim.event.id)

    def __repr__(self) -> str:
        return (
            f"Worker({self.queue!r}, concurrency={self.concurrency}, in_flight={self.in_flight})"
        )
