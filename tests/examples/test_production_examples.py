"""Run every example of docs/production.md (docs/examples/production_*.py) and check what the
page says about them: printed output, durability, signals, leases, dead letters, retention and
schema versions.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import httpx
import pytest
from example_modules import load_example

from webhook_kit import (
    MemoryQueue,
    RetryPolicy,
    SignatureFormat,
    UnknownDeliveryError,
    VirtualClock,
    WebhookSubscription,
    Worker,
)
from webhook_kit.queues import DEFAULT_RETENTION, SCHEMA_VERSION, SQLiteQueue
from webhook_kit.testing import MockReceiver, Reply
from webhook_kit.worker import DEFAULT_LEASE_GRACE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
PAGE = ROOT / "docs" / "production.md"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
T = TypeVar("T")


def output_on_page(example: str) -> str:
    """The ``text`` block that follows the example's include on the page."""
    include = f'--8<-- "docs/examples/{example}.py"'
    text = PAGE.read_text()
    match = re.search(re.escape(include) + r"\n```\n.*?```text\n(.*?)```", text, re.DOTALL)
    assert match is not None, f"no output shown after {include}"
    return match.group(1)


async def deliver_all(queue: SQLiteQueue | MemoryQueue, receiver: MockReceiver) -> None:
    """Deliver everything ``queue`` holds to ``receiver``, in this process (no socket)."""
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        await WebhookSubscription.register(queue, client=client)
        await Worker(queue).run_until_idle()


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def run(call: Callable[[], Awaitable[T]]) -> T:
    """``await call()`` from synchronous code."""

    async def main() -> T:
        return await call()

    return anyio.run(main)


def environment() -> dict[str, str]:
    """This process's environment, without a worker secret that could hide a missing one."""
    return {name: value for name, value in os.environ.items() if name != "WEBHOOK_KIT_SECRET"}


def the_page_includes(example: str) -> None:
    assert f'--8<-- "docs/examples/{example}.py"' in PAGE.read_text()


# -- production_queue ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_dispatch_is_in_the_file_when_it_returns(tmp_path: Path) -> None:
    example = load_example("production_queue")
    path = tmp_path / "webhooks.sqlite3"
    app_queue = example.open_queue(path)
    delivery_id = await example.order_created(app_queue, {"order_id": 42})
    # Another process's queue on the same file (here: another connection) sees it at once.
    worker_queue = SQLiteQueue(path)
    try:
        counts = await worker_queue.counts()
        assert (counts.pending, counts.due) == (1, 1)
        [claim] = await worker_queue.claim(10, lease_grace=DEFAULT_LEASE_GRACE)
        assert claim.event.id == delivery_id
        assert claim.event.body == '{"order_id":42}'
    finally:
        worker_queue.close()
        app_queue.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_a_dispatch_survives_the_process_being_killed(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.sqlite3"
    script = f"""
import asyncio, os, signal, sys
sys.path.insert(0, {str(EXAMPLES)!r})
import production_queue as example

async def main() -> None:
    queue = example.open_queue({str(path)!r})
    print(await example.order_created(queue, {{"order_id": 42}}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no clean exit

asyncio.run(main())
"""
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == -signal.SIGKILL, completed.stderr
    delivery_id = completed.stdout.strip()

    queue = SQLiteQueue(path)
    try:
        [claim] = run(lambda: queue.claim(10, lease_grace=DEFAULT_LEASE_GRACE))
    finally:
        queue.close()
    assert claim.event.id == delivery_id


# -- production_flask_app --------------------------------------------------------------------


@pytest.mark.anyio
async def test_flask_view_dispatches_and_a_worker_on_the_file_delivers(tmp_path: Path) -> None:
    example = load_example("production_flask_app")
    path = tmp_path / "webhooks.sqlite3"
    receiver = MockReceiver()
    receiver.expect_signature("customer-secret")
    app = example.create_app(path, receiver.url, "customer-secret")
    response = app.test_client().post("/orders", json={"order_id": 42})
    assert response.status_code == 201
    delivery_id = response.get_json()["webhook"]
    assert receiver.deliveries == []  # the view made no request

    # The worker process: its own queue on the file, no secret (body-only: signed at dispatch).
    worker_queue = SQLiteQueue(path)
    try:
        await deliver_all(worker_queue, receiver)
    finally:
        worker_queue.close()
    receiver.assert_delivered(event="order.created", payload={"order_id": 42}, id=delivery_id)
    assert [d.verified for d in receiver.deliveries] == [True]


# -- production_worker -----------------------------------------------------------------------


def test_secrets_from_file_finds_each_subscriptions_secret(tmp_path: Path) -> None:
    example = load_example("production_worker")
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"acme": WHSEC}))
    resolve = example.secrets_from_file(secrets_file)
    queue = MemoryQueue()
    for subscription_id, expected in [("acme", WHSEC), ("globex", None), (None, None)]:
        subscription = WebhookSubscription(
            "https://customer.example.com/hooks", WHSEC, subscription_id=subscription_id
        ).signature_format(SignatureFormat.STANDARD_WEBHOOKS)
        subscription.dispatch_sync(queue, "order.created", {})
        [claim] = run(lambda: queue.claim(1, lease_grace=DEFAULT_LEASE_GRACE))
        assert resolve(claim.event) == expected


def test_own_worker_finds_secrets_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.sqlite3"
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({"acme": WHSEC}))
    receiver = MockReceiver()
    receiver.expect_signature(WHSEC, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    with receiver.serve_in_thread() as url:
        queue = SQLiteQueue(path)
        try:

            def subscription(subscription_id: str) -> WebhookSubscription:
                return (
                    WebhookSubscription(url, WHSEC, subscription_id=subscription_id)
                    .signature_format(SignatureFormat.STANDARD_WEBHOOKS)
                    .allow_private_targets(True)
                )

            known = subscription("acme").dispatch_sync(queue, "order.created", {"n": 1})
            unknown = subscription("globex").dispatch_sync(queue, "order.created", {"n": 2})
            env = {"WEBHOOK_KIT_DB": str(path), "WEBHOOK_SECRETS_FILE": str(secrets_file)}
            process = subprocess.Popen(
                [sys.executable, str(EXAMPLES / "production_worker.py")],
                cwd=tmp_path,
                env={**environment(), **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:

                def finished() -> bool:
                    counts = run(queue.counts)
                    return (counts.delivered, counts.dead) == (1, 1)

                wait_until(finished, process, "both outcomes")
                process.send_signal(signal.SIGTERM)
                _, stderr = process.communicate(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
            assert process.returncode == 0, stderr
            [dead] = run(queue.list_dead_letters)
        finally:
            queue.close()
    assert [(d.id, d.verified) for d in receiver.deliveries] == [(known, True)]
    assert dead.id == unknown
    assert "secret" in dead.reason
    assert f"webhook {known} attempt 1" in stderr


# -- production_logging ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_json_lines_carry_each_attempts_fields() -> None:
    example = load_example("production_logging")
    stream = io.StringIO()
    logger = logging.getLogger("webhook_kit")
    level = logger.level
    handler = example.log_attempts_as_json(stream)
    try:
        queue = MemoryQueue(clock=VirtualClock())
        receiver = MockReceiver(clock=queue.clock)
        receiver.script([503, 200])
        subscription = WebhookSubscription(receiver.url, "customer-secret")
        delivery_id = await subscription.dispatch(queue, "order.created", {"order_id": 42})
        await deliver_all(queue, receiver)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    attempts = [entry for entry in entries if entry["logger"] == "webhook_kit.delivery"]
    assert [
        (e["webhook_id"], e["webhook_event"], e["attempt"], e["status"], e["outcome"])
        for e in attempts
    ] == [
        (delivery_id, "order.created", 1, 503, "retry"),
        (delivery_id, "order.created", 2, 200, "delivered"),
    ]
    assert all(entry["latency"] >= 0 for entry in attempts)
    # The page's table lists exactly the fields the example (and the command) read.
    for field in example.FIELDS:
        assert f"| `{field}` |" in PAGE.read_text()


# -- production_leases -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_leases_example_prints_what_the_page_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example("production_leases")
    await example.main(tmp_path / "webhooks.sqlite3")
    assert capsys.readouterr().out == output_on_page("production_leases")


def test_the_page_states_the_default_lease() -> None:
    queue = MemoryQueue()
    WebhookSubscription("https://customer.example.com/hooks", "s").dispatch_sync(queue, "e", {})
    [claim] = run(lambda: queue.claim(1, lease_grace=DEFAULT_LEASE_GRACE))
    assert (claim.event.timeout, DEFAULT_LEASE_GRACE) == (30, 15)
    assert "30 + 15 = 45 seconds by default" in PAGE.read_text()


# -- production_dead_letters -----------------------------------------------------------------


def test_dead_letters_script_lists_and_redrives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example("production_dead_letters")
    path = tmp_path / "webhooks.sqlite3"
    receiver = MockReceiver()
    receiver.script([Reply(400, body="unknown customer")], event="order.created")
    receiver.script([Reply(400, body="unknown invoice")], event="invoice.paid")
    subscription = WebhookSubscription(receiver.url, "customer-secret")

    async def kill_two() -> tuple[str, str]:
        queue = SQLiteQueue(path)
        try:
            first = await subscription.dispatch(queue, "order.created", {"n": 1})
            second = await subscription.dispatch(queue, "invoice.paid", {"n": 2})
            await deliver_all(queue, receiver)
            return first, second
        finally:
            queue.close()

    first, second = run(kill_two)

    anyio.run(example.main, [str(path)])
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [first, second]
    assert "order.created, dead since" in listed[0]
    assert "after 1 attempt(s): the receiver answered 400" in listed[0]

    anyio.run(example.main, [str(path), "--redrive", first])
    assert capsys.readouterr().out == f"redriven: {first}\n"
    anyio.run(example.main, [str(path), "--since", "3600"])
    assert capsys.readouterr().out == "redriven: 1\n"
    anyio.run(example.main, [str(path)])
    assert capsys.readouterr().out == "no dead letters\n"

    # The receiver is fixed: both go out again, with the same ids.
    receiver.reset()

    async def deliver_again() -> None:
        queue = SQLiteQueue(path)
        try:
            counts = await queue.counts()
            assert (counts.pending, counts.dead) == (2, 0)
            await deliver_all(queue, receiver)
        finally:
            queue.close()

    run(deliver_again)
    assert sorted(d.id or "" for d in receiver.deliveries) == sorted([first, second])


@pytest.mark.anyio
async def test_redrive_recent_takes_only_the_recent_dead_letters(tmp_path: Path) -> None:
    example = load_example("production_dead_letters")
    clock = VirtualClock(start=time.time() - 2 * 3600)  # two hours ago
    queue = SQLiteQueue(tmp_path / "webhooks.sqlite3", clock=clock)
    receiver = MockReceiver(clock=clock)
    receiver.script([400])
    subscription = WebhookSubscription(receiver.url, "customer-secret")
    try:
        old = await subscription.dispatch(queue, "order.created", {"n": 1})
        await deliver_all(queue, receiver)
        clock.advance(2 * 3600)  # now
        recent = await subscription.dispatch(queue, "order.created", {"n": 2})
        await deliver_all(queue, receiver)
        assert await example.redrive_recent(queue, 3600) == 1
        assert [dead.id for dead in await queue.list_dead_letters()] == [old]
        [claim] = await queue.claim(10, lease_grace=DEFAULT_LEASE_GRACE)
        assert claim.event.id == recent
    finally:
        queue.close()


# -- production_retention --------------------------------------------------------------------


@pytest.mark.anyio
async def test_delivered_jobs_are_pruned_after_the_retention(tmp_path: Path) -> None:
    example = load_example("production_retention")
    assert DEFAULT_RETENTION == 7 * 24 * 3600
    clock = VirtualClock()
    queue = example.open_queue(tmp_path / "webhooks.sqlite3", clock=clock)
    receiver = MockReceiver(clock=clock)
    receiver.script([200], event="order.created")
    receiver.script([410], event="customer.deleted")
    subscription = WebhookSubscription(receiver.url, "customer-secret").retry_policy(
        RetryPolicy(max_attempts=1)
    )
    try:
        delivered = await subscription.dispatch(queue, "order.created", {"n": 1})
        dead = await subscription.dispatch(queue, "customer.deleted", {"n": 2})
        await deliver_all(queue, receiver)

        clock.advance(example.RETENTION - 60)
        assert await example.nightly_prune(queue) == 0
        assert len(await queue.history(delivered)) == 1
        clock.advance(120)
        assert await example.nightly_prune(queue) == 1
        with pytest.raises(UnknownDeliveryError):
            await queue.history(delivered)
        # Dead letters are kept until redriven.
        assert [letter.id for letter in await queue.list_dead_letters()] == [dead]
        counts = await queue.counts()
        assert (counts.delivered, counts.dead) == (0, 1)
    finally:
        queue.close()


# -- production_schema -----------------------------------------------------------------------


def test_schema_version_and_a_newer_release(tmp_path: Path) -> None:
    example = load_example("production_schema")
    path = tmp_path / "webhooks.sqlite3"
    path.touch()  # an empty file is a new queue
    example.open_queue(path).close()
    assert example.schema_version(path) == SCHEMA_VERSION
    assert "version `SCHEMA_VERSION`" in PAGE.read_text()

    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    before = path.read_bytes()
    with pytest.raises(SystemExit, match="upgrade webhook-kit") as raised:
        example.open_queue(path)
    assert str(raised.value).startswith("cannot open the webhook queue: ")
    assert path.read_bytes() == before
    assert example.schema_version(path) == SCHEMA_VERSION + 1


def test_every_production_example_is_on_the_page() -> None:
    for path in sorted(EXAMPLES.glob("production_*.py")):
        the_page_includes(path.stem)
