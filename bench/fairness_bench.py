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
5. *burst*: 4,000 healthy deliveries dispatched 16 at a time while the worker delivers them:
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
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from backends import QueueFactory, dispatch_many, queue_backends
from delivery_bench import BODY, CONCURRENCY
from receiver import running_receiver
from tracking import TrackingStack, arrivals

from webhook_kit import WebhookSubscription, Worker
from webhook_kit.health import HealthPolicy
from webhook_kit.queues import WebhookQueue

BACKLOG = 10_000
HANG_TIMEOUT = 5.0
WARM = 200
SEQUENTIAL = 200
BURST = 4_000
ROUNDS = 5
DISPATCHERS = 16  # burst dispatches in flight at once
SECRET = "bench-secret-0123456789abcdef0123"
PAYLOAD = json.loads(BODY)
SHARE = max(1, int(CONCURRENCY * HealthPolicy().share))


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


async def _dispatch_timed(
    subscription: WebhookSubscription, queue: WebhookQueue, count: int
) -> dict[str, float]:
    """Dispatch ``count`` deliveries, `DISPATCHERS` at once; when each dispatch began, by id.

    Several at once: a queue on a server stores one dispatch at a time slower than a worker
    delivers, and the burst is to measure the worker.
    """
    sent: dict[str, float] = {}

    async def dispatch(share: int) -> None:
        for _ in range(share):
            started = time.monotonic()
            sent[await subscription.dispatch(queue, "order.created", PAYLOAD)] = started

    share, extra = divmod(count, DISPATCHERS)
    await asyncio.gather(*(dispatch(share + (n < extra)) for n in range(DISPATCHERS)))
    return sent


async def _run(factory: QueueFactory, base: str, *, backlog: bool) -> Run:
    healthy_url, hang_url = f"{base}/timed", f"{base}/hang"
    stack = TrackingStack(hang_url)
    async with factory() as queue, aiohttp.ClientSession() as session:
        await arrivals(session, base)  # forget what an earlier run left
        await WebhookSubscription.register(queue, stack=stack)
        healthy = WebhookSubscription(healthy_url, SECRET).allow_private_targets(True)
        worker = Worker(queue, concurrency=CONCURRENCY)
        task = asyncio.create_task(worker.run())
        try:
            # Warm the connections and the healthy endpoint's limit before the backlog comes,
            # so that what follows it is measured from its first delivery on.
            for _ in range(WARM):
                await healthy.dispatch(queue, "order.created", PAYLOAD)
            await stack.answered_at_least(WARM)
            await arrivals(session, base)  # the warm-up's arrivals are not counted
            if backlog:
                stuck = (
                    WebhookSubscription(hang_url, SECRET)
                    .allow_private_targets(True)
                    .timeout(HANG_TIMEOUT)
                )
                await dispatch_many(stuck, queue, BACKLOG, PAYLOAD)
                await stack.until(lambda: stack.hanging >= SHARE, SHARE)
            opened = time.monotonic()

            sequential: dict[str, float] = {}
            for n in range(SEQUENTIAL):
                sent = time.monotonic()
                sequential[await healthy.dispatch(queue, "order.created", PAYLOAD)] = sent
                await stack.answered_at_least(WARM + n + 1)

            burst = await _dispatch_timed(healthy, queue, BURST)
            total = WARM + SEQUENTIAL + BURST
            await stack.answered_at_least(total)
            hanging_at_end = stack.hanging
            backlog_left = (await queue.counts()).pending
        finally:
            task.cancel()  # the hanging attempts would take their 5 s to end a stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await stack.aclose()
        noted = await arrivals(session, base)
    missing = len(set(sequential) - noted.keys()) + len(set(burst) - noted.keys())
    if missing:
        raise RuntimeError(f"{missing} healthy deliveries were answered but never noted")
    last = max(noted[delivery] for delivery in burst)
    return Run(
        throughput=BURST / (last - min(burst.values())),
        burst=_latencies([noted[d] - sent for d, sent in burst.items()]),
        sequential=_latencies([noted[d] - sent for d, sent in sequential.items()]),
        window=last - opened,
        hanging_at_end=hanging_at_end,
        backlog_left=backlog_left,
    )


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


async def _measure(backends: dict[str, QueueFactory], base: str) -> dict[tuple[str, bool], Run]:
    runs: dict[tuple[str, bool], list[Run]] = {}
    for _ in range(ROUNDS):
        for name, factory in backends.items():
            for backlog in (False, True):
                try:
                    run = await _run(factory, base, backlog=backlog)
                except Exception as exc:
                    raise RuntimeError(f"{name}, backlog {backlog}: {exc}") from exc
                runs.setdefault((name, backlog), []).append(run)
    return {key: _best(value) for key, value in runs.items()}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> None:
    worker_log = logging.getLogger("webhook_kit.worker")
    level = worker_log.level
    worker_log.setLevel(logging.ERROR)  # the hanging endpoint's pause, if a run gets that far
    try:
        with (
            tempfile.TemporaryDirectory() as directory,
            queue_backends(Path(directory)) as (backends, left_out),
            running_receiver(Path(directory)) as url,
        ):
            best = asyncio.run(_measure(backends, url.rpartition("/hooks")[0]))
    finally:
        worker_log.setLevel(level)
    print(
        f"\n== fair claims: a healthy endpoint beside {BACKLOG:,} deliveries for one that never "
        f"answers ({HANG_TIMEOUT:g} s timeout); Worker(concurrency={CONCURRENCY}), health on; "
        f"{len(BODY)}-byte body; uvicorn on 127.0.0.1 in another process; best of {ROUNDS} "
        "interleaved rounds =="
    )
    print(
        f"sequential: {SEQUENTIAL} deliveries one after another; burst: {BURST:,} dispatched "
        f"{DISPATCHERS} at a time, throughput from the first dispatch to the last arrival; "
        "latency is dispatch to arrival at the receiver"
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
    if left_out is not None:
        print(f"PostgresQueue left out: {left_out}")


if __name__ == "__main__":
    main()
