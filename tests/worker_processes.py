"""What the multi-process tests share: starting worker processes (``queues/worker_process.py``
on either durable queue, or any command), reading their logs, waiting on them, and the checks
a crash test makes of what the receiver got."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
import pytest

from webhook_kit import WebhookSubscription
from webhook_kit.queues import DeliveryStore
from webhook_kit.testing import MockReceiver

HELPER = Path(__file__).parent / "queues" / "worker_process.py"


@dataclass
class WorkerProcess:
    """One worker process, its output (stdout and stderr), and, where it keeps one (the
    helper's), its log of claims and recorded outcomes."""

    name: str
    process: subprocess.Popen[bytes]
    output: Path
    log: Path | None = None

    def lines(self) -> list[dict[str, Any]]:
        if self.log is None or not self.log.exists():
            return []
        text = self.log.read_text(encoding="utf-8")
        # The last line may be half-written while the process runs.
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def claims(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["kind"] == "claim"]

    def unrecorded_claims(self) -> list[dict[str, Any]]:
        """Claims it got whose outcome it has not recorded (yet, or ever: it was killed)."""
        lines = self.lines()
        recorded = {line["token"] for line in lines if line["kind"] == "record"}
        return [
            line for line in lines if line["kind"] == "claim" and line["token"] not in recorded
        ]

    @property
    def ready(self) -> bool:
        """Whether the helper is about to claim (it logged so)."""
        return any(line["kind"] == "ready" for line in self.lines())

    def describe(self) -> str:
        text = self.output.read_text(encoding="utf-8", errors="replace")[-3000:]
        claims = "" if self.log is None else f" {len(self.claims())} claims;"
        return (
            f"worker {self.name} (pid {self.process.pid}, exit {self.process.poll()}):{claims}"
            f" output:\n{text}"
        )

    async def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await anyio.to_thread.run_sync(self.process.wait, 60)

    async def kill(self) -> int:
        self.process.kill()
        return await anyio.to_thread.run_sync(self.process.wait, 60)


class WorkerProcesses:
    """The worker processes a test starts, their files in ``directory``; on leaving the
    ``with`` block (or `kill_all`) any still running are killed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[WorkerProcess] = []

    def start(self, name: str, command: list[str], *, log: Path | None = None) -> WorkerProcess:
        """Run ``command`` (which writes ``log``, if it keeps one) as worker ``name``."""
        output = self.directory / f"{name}-{len(self.started) + 1}.log"
        with output.open("wb") as stream:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=stream,
                cwd=self.directory,
            )
        worker = WorkerProcess(name, process, output, log)
        self.started.append(worker)
        return worker

    def start_helper(self, name: str, backend: str, target: str, *options: str) -> WorkerProcess:
        """Run ``queues/worker_process.py`` on ``backend`` (``"sqlite"`` or ``"postgresql"``)
        at ``target`` (the file or the URL) with its ``options``."""
        log = self.directory / f"{name}-{len(self.started) + 1}.claims.jsonl"
        command = [sys.executable, str(HELPER), backend, target, str(log), *options]
        return self.start(name, command, log=log)

    def kill_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGCONT)  # in case a test froze it
                worker.process.kill()
                worker.process.wait(60)

    def __enter__(self) -> WorkerProcesses:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill_all()


class HelperProcess(Protocol):
    """A helper worker process the test started."""

    name: str
    process: subprocess.Popen[bytes]

    def describe(self) -> str:
        """Its pid, exit status and the tail of its log, for a failure message."""
        ...


async def wait_for(
    condition: Callable[[], Awaitable[bool]],
    *,
    within: float,
    what: str,
    workers: Sequence[HelperProcess],
) -> None:
    """Poll ``condition`` until it holds; fail with the workers' logs if one exits first, or
    when ``within`` seconds have passed."""
    with anyio.move_on_after(within):
        while True:
            if await condition():
                return
            dead = [worker for worker in workers if worker.process.poll() is not None]
            if dead:
                pytest.fail(f"a worker exited waiting for {what}:\n{dead[0].describe()}")
            await anyio.sleep(0.01)
    details = "\n".join(worker.describe() for worker in workers)
    pytest.fail(f"timed out waiting for {what}\n{details}")


async def dispatch_orders(
    subscription: WebhookSubscription, queue: DeliveryStore, count: int
) -> dict[str, dict[str, object]]:
    """Dispatch ``count`` distinct orders; their payloads by delivery id."""
    payloads: dict[str, dict[str, object]] = {}
    for n in range(count):
        payload = {"n": n, "order": f"A-{n:05d}", "note": "crash ✓"}
        payloads[await subscription.dispatch(queue, "order.created", payload)] = payload
    assert len(payloads) == count
    return payloads


def assert_every_delivery_arrived_intact(
    receiver: MockReceiver, payloads: dict[str, Any], *, redelivered: bool = True
) -> None:
    """Each dispatched delivery arrived, signed; redeliveries carry the same id, body and
    signature; nothing arrived that was not dispatched."""
    deliveries = receiver.deliveries
    assert len(deliveries) >= len(payloads)
    assert receiver.problems == []  # every delivery, redeliveries too, signed correctly
    assert all(delivery.verified for delivery in deliveries)
    assert sorted(receiver.unique_ids()) == sorted(payloads)
    for delivery in deliveries:
        assert delivery.id is not None
        assert json.loads(delivery.body) == payloads[delivery.id]
    duplicates = receiver.duplicates()
    if redelivered:
        assert duplicates, "no kill interrupted an attempt the receiver had seen"
    for delivery_id, copies in duplicates.items():
        assert {copy.id for copy in copies} == {delivery_id}
        assert len({copy.body for copy in copies}) == 1, delivery_id
        assert len({copy.headers["x-webhook-signature"] for copy in copies}) == 1
