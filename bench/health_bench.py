"""Endpoint health: healthy endpoints' delivery rate with and without a hanging endpoint.

Target (issue #8): with endpoint health on, the healthy endpoints' delivery rate while one more
endpoint hangs (it takes a fifth of the jobs and never answers, so each of its attempts holds a
worker until its timeout) is at least 0.9x the rate of a run without it. A run with health off
shows what health prevents: the hanging endpoint's attempts take the workers.

Each figure is healthy deliveries per second through a queue + Worker(concurrency=64) on the
aiohttp stack to uvicorn on 127.0.0.1 in another process, timed from the worker's start to the
last healthy delivery answered; best of several interleaved rounds. The hanging endpoint's
attempts still in flight then end at their timeout, outside the timing. Every figure is
measured on MemoryQueue, SQLiteQueue and (where the server is reachable) PostgresQueue, each
run on a new queue; the deliveries are dispatched before the worker starts (untimed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from backends import QueueFactory, queue_backends
from receiver import running_receiver
from tracking import TrackingStack

from webhook_kit import (
    RetryPolicy,
    WebhookSubscription,
    Worker,
)
from webhook_kit.health import HealthPolicy

CONCURRENCY = 64
HEALTHY_ENDPOINTS = 4
DELIVERIES = 6000  # to the healthy endpoints, in every run
HANGING_EVERY = 4  # one job to the hanging endpoint after every 4 healthy ones: a fifth
HANG_TIMEOUT = 2.0  # the hanging endpoint's subscription timeout
ROUNDS = 3
DISPATCHERS = 16  # dispatches in flight while the jobs are stored (untimed)
CONTRAST_CAP = 8.0  # seconds the health-off run may take (it would take far longer)
SECRET = "bench-secret-0123456789abcdef0123"
PAYLOAD = {"order_id": 42, "note": "x" * 880}
SHARE = max(1, int(CONCURRENCY * HealthPolicy().share))


@dataclass(frozen=True)
class Run:
    rate: float  # healthy deliveries per second
    delivered: int
    seconds: float
    hanging_peak: int  # the most attempts to the hanging endpoint out at once


async def _run(
    factory: QueueFactory, base: str, *, hanging: bool, health: bool, cap: float = 60.0
) -> Run:
    stack = TrackingStack(f"{base}/hang")
    async with factory() as queue:
        await WebhookSubscription.register(queue, stack=stack)
        once = RetryPolicy(max_attempts=1)
        healthy = [
            WebhookSubscription(f"{base}/hooks/{n}", SECRET)
            .allow_private_targets(True)  # the receiver is on loopback
            .retry_policy(once)
            for n in range(HEALTHY_ENDPOINTS)
        ]
        stuck = (
            WebhookSubscription(f"{base}/hang", SECRET)
            .allow_private_targets(True)
            .retry_policy(once)
            .timeout(HANG_TIMEOUT)
        )

        async def dispatch(part: int, parts: int) -> None:
            for n in range(part, DELIVERIES, parts):
                await healthy[n % HEALTHY_ENDPOINTS].dispatch(queue, "order.created", PAYLOAD)
                if hanging and n % HANGING_EVERY == HANGING_EVERY - 1:
                    await stuck.dispatch(queue, "order.created", PAYLOAD)

        await asyncio.gather(*(dispatch(part, DISPATCHERS) for part in range(DISPATCHERS)))
        worker = Worker(queue, concurrency=CONCURRENCY, health=health)
        started = time.perf_counter()
        task = asyncio.create_task(worker.run())
        with contextlib.suppress(RuntimeError):  # the cap: fewer were answered by then
            await stack.answered_at_least(DELIVERIES, cap)
        seconds = time.perf_counter() - started
        delivered, peak = stack.answered, stack.hanging_peak
        await worker.stop()
        await task
        await stack.aclose()
    return Run(delivered / seconds, delivered, seconds, peak)


CONTENDERS: dict[str, dict[str, bool]] = {
    "healthy endpoints only, health off": {"hanging": False, "health": False},
    "healthy endpoints only": {"hanging": False, "health": True},
    "+ a hanging endpoint": {"hanging": True, "health": True},
}


async def _measure(backends: dict[str, QueueFactory], base: str) -> dict[str, dict[str, Run]]:
    best: dict[str, dict[str, Run]] = {name: {} for name in backends}
    for factory in backends.values():  # warm the receiver, the stack and each queue's code
        await _run(factory, base, hanging=False, health=True)
    for _ in range(ROUNDS):
        for backend, factory in backends.items():
            for name, options in CONTENDERS.items():
                run = await _run(factory, base, **options)
                if name not in best[backend] or run.rate > best[backend][name].rate:
                    best[backend][name] = run
    for backend, factory in backends.items():
        best[backend]["+ a hanging endpoint, health off"] = await _run(
            factory, base, hanging=True, health=False, cap=CONTRAST_CAP
        )
    return best


def main() -> None:
    worker_log = logging.getLogger("webhook_kit")
    level = worker_log.level
    # "endpoint … is paused", once per run; the hanging attempts' dead letters, one by one
    worker_log.setLevel(logging.CRITICAL)
    try:
        with (
            tempfile.TemporaryDirectory() as directory,
            queue_backends(Path(directory)) as (backends, left_out),
            running_receiver(Path(directory)) as url,
        ):
            measured = asyncio.run(_measure(backends, url.rpartition("/hooks")[0]))
    finally:
        worker_log.setLevel(level)
    body = len(json.dumps(PAYLOAD, separators=(",", ":")))
    print(
        f"\n== endpoint health: {DELIVERIES} deliveries to {HEALTHY_ENDPOINTS} healthy "
        f"endpoints ({body}-byte body), {CONCURRENCY} concurrent; the hanging endpoint gets "
        f"one job in {HANGING_EVERY + 1} and never answers (timeout {HANG_TIMEOUT:g}s); "
        f"uvicorn on 127.0.0.1 in another process; best of {ROUNDS} interleaved rounds =="
    )
    print(
        f"{'queue':<14} {'run':<34} {'healthy/s':>10} {'delivered':>10} {'seconds':>8} "
        f"{'workers on the hanging endpoint (peak)':>39}"
    )
    for backend, best in measured.items():
        for name, run in best.items():
            print(
                f"{backend:<14} {name:<34} {run.rate:>10,.0f} {run.delivered:>10,} "
                f"{run.seconds:>8.2f} {run.hanging_peak:>39,}"
            )
    for backend, best in measured.items():
        baseline = best["healthy endpoints only"].rate
        ratio = best["+ a hanging endpoint"].rate / baseline
        verdict = "meets" if ratio >= 0.9 else "MISSES"
        print(
            f"target: {backend}: with a hanging endpoint >= 0.9x without (health on): "
            f"{ratio:.2f}x, {verdict}"
        )
        off = best["+ a hanging endpoint, health off"]
        print(
            f"  contrast: health off, with the hanging endpoint: {off.rate / baseline:.2f}x "
            f"({off.delivered:,} of {DELIVERIES:,} delivered in {off.seconds:.1f}s"
            f"{', capped' if off.delivered < DELIVERIES else ''}); health on vs off, healthy "
            f"endpoints only: {baseline / best['healthy endpoints only, health off'].rate:.2f}x"
        )
    print(f"with health on, the hanging endpoint may hold {SHARE} of the {CONCURRENCY} workers")
    if left_out is not None:
        print(f"PostgresQueue left out: {left_out}")
