"""Delivery throughput: MemoryQueue + Worker against bare POST loops on the same receiver.

Targets (issue #3): on the aiohttp stack >= 0.6x a raw aiohttp POST loop; on the httpx stack
>= 0.9x a bare httpx loop at the same concurrency. Each figure is deliveries per second, timed
from the worker's first claim to idle, best of several interleaved rounds.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
from receiver import running_receiver

from webhook_kit import MemoryQueue, RetryPolicy, WebhookSubscription, Worker
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
from webhook_kit.http_stacks.httpx_stack import HttpxStack

CONCURRENCY = 64
DELIVERIES = 3000
ROUNDS = 3
SECRET = "bench-secret-0123456789abcdef0123"
BODY = json.dumps({"order_id": 42, "note": "x" * 880}, separators=(",", ":")).encode()
HEADERS = {"Content-Type": "application/json", "X-Webhook-Signature": "sha256=" + "0" * 64}


async def _post_loop(post: Callable[[], Awaitable[int]], count: int) -> float:
    remaining = count

    async def one_worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status = await post()
            assert status == 200, status

    started = time.perf_counter()
    await asyncio.gather(*(one_worker() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - started)


async def raw_aiohttp(url: str, count: int) -> float:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post() -> int:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()
                return response.status

        return await _post_loop(post, count)


async def bare_httpx(url: str, count: int) -> float:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits) as client:

        async def post() -> int:
            response = await client.post(url, content=BODY, headers=HEADERS)
            return response.status_code

        return await _post_loop(post, count)


async def webhook_kit_worker(url: str, count: int, stack_name: str) -> float:
    queue = MemoryQueue()
    stack = AiohttpStack() if stack_name == "aiohttp" else HttpxStack()
    await WebhookSubscription.register(queue, stack=stack)
    subscription = (
        WebhookSubscription(url, SECRET)
        .allow_private_targets(True)  # the receiver is on loopback
        .retry_policy(RetryPolicy(max_attempts=1))
    )
    payload = json.loads(BODY)
    for _ in range(count):
        await subscription.dispatch(queue, "order.created", payload)
    worker = Worker(queue, concurrency=CONCURRENCY)
    started = time.perf_counter()
    await worker.run_until_idle()
    elapsed = time.perf_counter() - started
    counts = await queue.counts()
    await stack.aclose()
    assert counts.delivered == count, counts
    return count / elapsed


async def _measure(url: str) -> dict[str, float]:
    slow = DELIVERIES // 5  # httpx's own transport is 10-30x slower: fewer, same concurrency
    contenders: dict[str, Callable[[], Awaitable[float]]] = {
        "raw aiohttp loop": lambda: raw_aiohttp(url, DELIVERIES),
        "webhook-kit Worker, aiohttp stack": lambda: webhook_kit_worker(
            url, DELIVERIES, "aiohttp"
        ),
        "bare httpx loop": lambda: bare_httpx(url, slow),
        "webhook-kit Worker, httpx stack": lambda: webhook_kit_worker(url, slow, "httpx"),
    }
    best = dict.fromkeys(contenders, 0.0)
    await raw_aiohttp(url, 500)  # warm the receiver
    for _ in range(ROUNDS):
        for name, run in contenders.items():
            best[name] = max(best[name], await run())
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as directory, running_receiver(Path(directory)) as url:
        best = asyncio.run(_measure(url))
    print(
        f"\n== delivery: {len(BODY)}-byte body, {CONCURRENCY} concurrent, to uvicorn on "
        f"127.0.0.1 in another process; best of {ROUNDS} interleaved rounds =="
    )
    print(f"{'contender':<40} {'deliveries/s':>13}")
    for name, rate in best.items():
        print(f"{name:<40} {rate:>13,.0f}")
    aiohttp_ratio = best["webhook-kit Worker, aiohttp stack"] / best["raw aiohttp loop"]
    httpx_ratio = best["webhook-kit Worker, httpx stack"] / best["bare httpx loop"]
    for label, ratio, target in (
        ("aiohttp stack vs raw aiohttp loop", aiohttp_ratio, 0.6),
        ("httpx stack vs bare httpx loop", httpx_ratio, 0.9),
    ):
        verdict = "meets" if ratio >= target else "MISSES"
        print(f"target: {label} >= {target}x: {ratio:.2f}x, {verdict}")
