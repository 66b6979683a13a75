"""Endpoint health: healthy endpoints' delivery rate with and without a hanging endpoint.

Target (issue #8): with endpoint health on, the healthy endpoints' delivery rate while one more
endpoint hangs (it takes a fifth of the jobs and never answers, so each of its attempts holds a
worker until its timeout) is at least 0.9x the rate of a run without it. A run with health off
shows what health prevents: the hanging endpoint's attempts take the workers.

Each figure is healthy deliveries per second through MemoryQueue + Worker(concurrency=64) on
the aiohttp stack to uvicorn on 127.0.0.1 in another process, timed from the worker's start
to the last healthy delivery recorded; best of several interleaved rounds. The hanging
endpoint's attempts still in flight then end at their timeout, outside the timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from receiver import running_receiver

from webhook_kit import (
    AttemptRecord,
    Claim,
    Delivered,
    MemoryQueue,
    Outcome,
    RetryPolicy,
    WebhookSubscription,
    Worker,
)
from webhook_kit.health import HealthPolicy
from webhook_kit.http_stacks import DEFAULT_MAX_RESPONSE_BYTES, HttpResponse, Timeouts
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
from webhook_kit.netguard import NetworkPolicy

CONCURRENCY = 64
HEALTHY_ENDPOINTS = 4
DELIVERIES = 6000  # to the healthy endpoints, in every run
HANGING_EVERY = 4  # one job to the hanging endpoint after every 4 healthy ones: a fifth
HANG_TIMEOUT = 2.0  # the hanging endpoint's subscription timeout
ROUNDS = 3
CONTRAST_CAP = 8.0  # seconds the health-off run may take (it would take far longer)
SECRET = "bench-secret-0123456789abcdef0123"
PAYLOAD = {"order_id": 42, "note": "x" * 880}
SHARE = max(1, int(CONCURRENCY * HealthPolicy().share))


class _CountingQueue(MemoryQueue):
    """A MemoryQueue that signals once ``target`` deliveries are recorded delivered."""

    def __init__(self, target: int) -> None:
        super().__init__()
        self.target = target
        self.delivered = 0
        self.done = asyncio.Event()

    async def record(self, claim: Claim, outcome: Outcome, attempt: AttemptRecord) -> bool:
        recorded = await super().record(claim, outcome, attempt)
        if recorded and isinstance(outcome, Delivered):
            self.delivered += 1
            if self.delivered >= self.target:
                self.done.set()
        return recorded


class _HangCountingStack(AiohttpStack):
    """The aiohttp stack, counting how many POSTs to the hanging endpoint are out at once."""

    def __init__(self, hang_url: str) -> None:
        super().__init__()
        self.hang_url = hang_url
        self.hanging = 0
        self.peak = 0

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
        if url != self.hang_url:
            return await super().post(
                url,
                body,
                headers,
                timeouts=timeouts,
                policy=policy,
                max_response_bytes=max_response_bytes,
            )
        self.hanging += 1
        self.peak = max(self.peak, self.hanging)
        try:
            return await super().post(
                url,
                body,
                headers,
                timeouts=timeouts,
                policy=policy,
                max_response_bytes=max_response_bytes,
            )
        finally:
            self.hanging -= 1


@dataclass(frozen=True)
class Run:
    rate: float  # healthy deliveries per second
    delivered: int
    seconds: float
    hanging_peak: int  # the most attempts to the hanging endpoint out at once


async def _run(base: str, *, hanging: bool, health: bool, cap: float = 60.0) -> Run:
    queue = _CountingQueue(DELIVERIES)
    stack = _HangCountingStack(f"{base}/hang")
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
    for n in range(DELIVERIES):
        await healthy[n % HEALTHY_ENDPOINTS].dispatch(queue, "order.created", PAYLOAD)
        if hanging and n % HANGING_EVERY == HANGING_EVERY - 1:
            await stuck.dispatch(queue, "order.created", PAYLOAD)
    worker = Worker(queue, concurrency=CONCURRENCY, health=health)
    started = time.perf_counter()
    task = asyncio.create_task(worker.run())
    with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
        await asyncio.wait_for(queue.done.wait(), cap)
    seconds = time.perf_counter() - started
    delivered, peak = queue.delivered, stack.peak
    await worker.stop()
    await task
    await stack.aclose()
    return Run(delivered / seconds, delivered, seconds, peak)


async def _measure(base: str) -> dict[str, Run]:
    await _run(base, hanging=False, health=True)  # warm the receiver and the stack
    contenders = {
        "healthy endpoints only, health off": {"hanging": False, "health": False},
        "healthy endpoints only": {"hanging": False, "health": True},
        "+ a hanging endpoint": {"hanging": True, "health": True},
    }
    best: dict[str, Run] = {}
    for _ in range(ROUNDS):
        for name, options in contenders.items():
            run = await _run(base, **options)
            if name not in best or run.rate > best[name].rate:
                best[name] = run
    best["+ a hanging endpoint, health off"] = await _run(
        base, hanging=True, health=False, cap=CONTRAST_CAP
    )
    return best


def main() -> None:
    worker_log = logging.getLogger("webhook_kit.worker")
    level = worker_log.level
    worker_log.setLevel(logging.ERROR)  # "endpoint … is paused", once per run
    try:
        with tempfile.TemporaryDirectory() as directory, running_receiver(Path(directory)) as url:
            best = asyncio.run(_measure(url.rpartition("/hooks")[0]))
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
        f"{'run':<40} {'healthy/s':>10} {'delivered':>10} {'seconds':>8} "
        f"{'workers on the hanging endpoint (peak)':>39}"
    )
    for name, run in best.items():
        print(
            f"{name:<40} {run.rate:>10,.0f} {run.delivered:>10,} {run.seconds:>8.2f} "
            f"{run.hanging_peak:>39,}"
        )
    baseline = best["healthy endpoints only"].rate
    ratio = best["+ a hanging endpoint"].rate / baseline
    verdict = "meets" if ratio >= 0.9 else "MISSES"
    print(f"target: with a hanging endpoint >= 0.9x without (health on): {ratio:.2f}x, {verdict}")
    off = best["+ a hanging endpoint, health off"]
    print(
        f"contrast: health off, with the hanging endpoint: {off.rate / baseline:.2f}x "
        f"({off.delivered:,} of {DELIVERIES:,} delivered in {off.seconds:.1f}s"
        f"{', capped' if off.delivered < DELIVERIES else ''}); the hanging endpoint may hold "
        f"{SHARE} of the {CONCURRENCY} workers with health on"
    )
    own = baseline / best["healthy endpoints only, health off"].rate
    print(f"healthy endpoints only, health on vs off: {own:.2f}x")
