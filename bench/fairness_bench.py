"""Fair claims: healthy deliveries beside a 10,000-delivery backlog on a hanging endpoint.

Target (issue #14): the healthy endpoint's delivery rate with the backlog is at least 0.9x the
rate of the same run without it, on every queue. Its latency (dispatch to arrival, p50 and
p99) is printed beside, with and without the backlog.

Each run, per queue (memory, SQLite, and PostgreSQL where it is reachable):

1. with the backlog: 10,000 deliveries are dispatched to an endpoint that never answers
   (5 s timeout, the default retry policy), untimed;
2. a `Worker(queue, concurrency=64)` with endpoint health on (the default) starts in this
   process, as a user runs it; with the backlog, the run waits until the hanging endpoint
   holds the share of the workers health gives an unproven endpoint (16 of 64);
3. 200 healthy deliveries warm the connections and the healthy endpoint's limit (not counted);
4. *sequential*: 200 healthy deliveries, each dispatched once the one before has arrived: the
   latency of a delivery to a worker waiting for work;
5. *burst*: 4,000 healthy deliveries dispatched back to back while the worker delivers them:
   the throughput (first dispatch to last arrival) and the latency under load.

The receiver is uvicorn on 127.0.0.1 in another process; it notes each healthy delivery's
arrival on the system-wide monotonic clock, which the dispatching side reads too. The hanging
attempts still in flight are printed at the end of the measured window: while they are all
there, the hanging endpoint's slots were held for the whole measurement. Each figure is its
best over several interleaved rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from delivery_bench import BODY, CONCURRENCY
from receiver import running_receiver

from webhook_kit import SQLiteQueue, WebhookSubscription, Worker
from webhook_kit.health import HealthPolicy
from webhook_kit.http_stacks import DEFAULT_MAX_RESPONSE_BYTES, HttpResponse, Timeouts
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
from webhook_kit.netguard import NetworkPolicy
from webhook_kit.queues import MemoryQueue, WebhookQueue

BACKLOG = 10_000
HANG_TIMEOUT = 5.0
WARM = 200
SEQUENTIAL = 200
BURST = 4_000
ROUNDS = 5
WAIT = 60.0  # seconds any one wait may take before the run is called broken
SECRET = "bench-secret-0123456789abcdef0123"
PAYLOAD = json.loads(BODY)
SHARE = max(1, int(CONCURRENCY * HealthPolicy().share))

QueueFactory = Callable[[Path], contextlib.AbstractAsyncContextManager[WebhookQueue]]


class _TrackingStack(AiohttpStack):
    """The aiohttp stack, counting healthy answers and the hanging attempts out at once."""

    def __init__(self, hang_url: str) -> None:
        super().__init__()
        self.hang_url = hang_url
        self.hanging = 0
        self.answered = 0  # healthy 200s
        self._target = 0
        self._reached = asyncio.Event()

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeouts: Timeouts,
        policy: NetworkPolicy,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> HttpResponse:
        hanging = url == self.hang_url
        if hanging:
            self.hanging += 1
            if self.hanging >= self._target:
                self._reached.set()
        try:
            response = await super().post(
                url,
                body,
                headers,
                timeouts=timeouts,
                policy=policy,
                max_response_bytes=max_response_bytes,
            )
        finally:
            if hanging:
                self.hanging -= 1
        if response.status == 200:
            self.answered += 1
            if self.answered >= self._target:
                self._reached.set()
        return response

    async def until(self, reached: Callable[[], bool], target: int) -> None:
        """Wait (at most `WAIT` s) until ``reached()``, re-checked when a count hits ``target``."""

        async def wait() -> None:
            while not reached():
                self._target = target
                self._reached.clear()
                if not reached():
                    await self._reached.wait()

        await asyncio.wait_for(wait(), WAIT)


@dataclass(frozen=True)
class Run:
    throughput: float  # burst deliveries per second, first dispatch to last arrival
    burst: tuple[float, float, float]  # burst latency p50, p99, max (seconds)
    sequential: tuple[float, float, float]  # sequential latency p50, p99, max (seconds)
    window: float  # seconds from the hanging share in flight to the last arrival
    hanging_at_end: int  # hanging attempts still in flight at the end of the window
    backlog_left: int  # deliveries still pending when the window closed


def _latencies(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and the worst: one stalled delivery in 200 is past the p99, not past the max."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98], max(values)


async def _arrivals(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with session.get(f"{base}/arrivals") as response:
        arrivals: dict[str, float] = await response.json()
        return arrivals


async def _run(factory: QueueFactory, directory: Path, base: str, *, backlog: bool) -> Run:
    healthy_url, hang_url = f"{base}/timed", f"{base}/hang"
    stack = _TrackingStack(hang_url)
    async with factory(directory) as queue, aiohttp.ClientSession() as session:
        await _arrivals(session, base)  # forget what an earlier run left
        await WebhookSubscription.register(queue, stack=stack)
        healthy = WebhookSubscription(healthy_url, SECRET).allow_private_targets(True)
        worker = Worker(queue, concurrency=CONCURRENCY)
        task = asyncio.create_task(worker.run())
        try:
            # Warm the connections and the healthy endpoint's limit before the backlog comes,
            # so that what follows it is measured from its first delivery on.
            for _ in range(WARM):
                await healthy.dispatch(queue, "order.created", PAYLOAD)
            await stack.until(lambda: stack.answered >= WARM, WARM)
            await _arrivals(session, base)  # the warm-up's arrivals are not counted
            if backlog:
                stuck = (
                    WebhookSubscription(hang_url, SECRET)
                    .allow_private_targets(True)
                    .timeout(HANG_TIMEOUT)
                )
                for _ in range(BACKLOG):
                    await stuck.dispatch(queue, "order.created", PAYLOAD)
                await stack.until(lambda: stack.hanging >= SHARE, SHARE)
            opened = time.monotonic()

            sequential: dict[str, float] = {}
            for n in range(SEQUENTIAL):
                sent = time.monotonic()
                sequential[await healthy.dispatch(queue, "order.created", PAYLOAD)] = sent
                done = WARM + n + 1
                await stack.until(lambda done=done: stack.answered >= done, done)

            burst: dict[str, float] = {}
            for _ in range(BURST):
                sent = time.monotonic()
                burst[await healthy.dispatch(queue, "order.created", PAYLOAD)] = sent
            total = WARM + SEQUENTIAL + BURST
            await stack.until(lambda: stack.answered >= total, total)
            hanging_at_end = stack.hanging
            backlog_left = (await queue.counts()).pending
        finally:
            task.cancel()  # the hanging attempts would take their 5 s to end a stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await stack.aclose()
        arrivals = await _arrivals(session, base)
    missing = len(set(sequential) - arrivals.keys()) + len(set(burst) - arrivals.keys())
    if missing:
        raise RuntimeError(f"{missing} healthy deliveries were answered but never noted")
    last = max(arrivals[delivery] for delivery in burst)
    return Run(
        throughput=BURST / (last - min(burst.values())),
        burst=_latencies([arrivals[d] - sent for d, sent in burst.items()]),
        sequential=_latencies([arrivals[d] - sent for d, sent in sequential.items()]),
        window=last - opened,
        hanging_at_end=hanging_at_end,
        backlog_left=backlog_left,
    )


@contextlib.asynccontextmanager
async def memory_queue(directory: Path) -> AsyncIterator[WebhookQueue]:
    yield MemoryQueue()


@contextlib.asynccontextmanager
async def sqlite_queue(directory: Path) -> AsyncIterator[WebhookQueue]:
    queue = SQLiteQueue(directory / f"fairness-{uuid.uuid4().hex}.sqlite3")
    try:
        yield queue
    finally:
        queue.close()


def _backends() -> dict[str, QueueFactory]:
    return {"MemoryQueue": memory_queue, "SQLiteQueue": sqlite_queue}


def _best(runs: list[Run]) -> Run:
    """Each figure at its best round (the least disturbed by other load on the machine)."""
    return Run(
        throughput=max(run.throughput for run in runs),
        burst=(
            min(run.burst[0] for run in runs),
            min(run.burst[1] for run in runs),
            min(run.burst[2] for run in runs),
        ),
        sequential=(
            min(run.sequential[0] for run in runs),
            min(run.sequential[1] for run in runs),
            min(run.sequential[2] for run in runs),
        ),
        window=max(run.window for run in runs),
        hanging_at_end=min(run.hanging_at_end for run in runs),
        backlog_left=min(run.backlog_left for run in runs),
    )


async def _measure(base: str, directory: Path) -> dict[tuple[str, bool], Run]:
    backends = _backends()
    runs: dict[tuple[str, bool], list[Run]] = {}
    for _ in range(ROUNDS):
        for name, factory in backends.items():
            for backlog in (False, True):
                run = await _run(factory, directory, base, backlog=backlog)
                runs.setdefault((name, backlog), []).append(run)
    return {key: _best(value) for key, value in runs.items()}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> None:
    worker_log = logging.getLogger("webhook_kit.worker")
    level = worker_log.level
    worker_log.setLevel(logging.ERROR)  # the hanging endpoint's pause, if a run gets that far
    try:
        with tempfile.TemporaryDirectory() as directory, running_receiver(Path(directory)) as url:
            best = asyncio.run(_measure(url.rpartition("/hooks")[0], Path(directory)))
    finally:
        worker_log.setLevel(level)
    print(
        f"\n== fair claims: a healthy endpoint beside {BACKLOG:,} deliveries for one that never "
        f"answers ({HANG_TIMEOUT:g} s timeout); Worker(concurrency={CONCURRENCY}), health on; "
        f"{len(BODY)}-byte body; uvicorn on 127.0.0.1 in another process; best of {ROUNDS} "
        "interleaved rounds =="
    )
    print(
        f"sequential: {SEQUENTIAL} deliveries one after another; burst: {BURST:,} dispatched back "
        "to back, throughput from the first dispatch to the last arrival; latency is dispatch "
        "to arrival at the receiver"
    )
    header = (
        f"{'queue':<13} {'backlog':>7} {'burst/s':>8} {'burst ms: p50':>14} {'p99':>6} "
        f"{'max':>6} {'sequential ms: p50':>19} {'p99':>6} {'max':>6} {'hanging at end':>15}"
    )
    print(header)
    names = list(dict.fromkeys(name for name, _ in best))
    for name in names:
        for backlog in (False, True):
            run = best[(name, backlog)]
            hanging = f"{run.hanging_at_end} of {SHARE}" if backlog else "-"
            print(
                f"{name:<13} {BACKLOG if backlog else 0:>7,} {run.throughput:>8,.0f} "
                f"{_ms(run.burst[0]):>14} {_ms(run.burst[1]):>6} {_ms(run.burst[2]):>6} "
                f"{_ms(run.sequential[0]):>19} {_ms(run.sequential[1]):>6} "
                f"{_ms(run.sequential[2]):>6} {hanging:>15}"
            )
    for name in names:
        without, with_backlog = best[(name, False)], best[(name, True)]
        ratio = with_backlog.throughput / without.throughput
        verdict = "meets" if ratio >= 0.9 else "MISSES"
        print(
            f"target: {name} throughput with the backlog >= 0.9x without: {ratio:.3f}x, "
            f"{verdict} (measured window up to {with_backlog.window:.1f} s; "
            f"{with_backlog.backlog_left:,} of the backlog still pending at its end)"
        )


if __name__ == "__main__":
    main()
