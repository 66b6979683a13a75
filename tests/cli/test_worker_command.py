"""``webhook-kit worker``: delivers what ``send`` queued, logs each attempt, stops gracefully.

The worker is a real process; the receiver a `MockReceiver` served on 127.0.0.1 from a thread
of the test process; jobs are queued with ``webhook-kit send`` (in process).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.types import Receive, Scope, Send

from hang_ups import until_hang_up
from webhook_kit import SignatureFormat
from webhook_kit.outcomes import AttemptRecord, DeadLetterRecord
from webhook_kit.queues import QueueCounts, SQLiteQueue
from webhook_kit.testing import Delay, MockReceiver, Reply

from . import CLI, TIMEOUT, clean_env, invoke, on_queue, run_cli

SECRET = "worker-command-secret-32-bytes!!"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_WHSEC = "whsec_b2xkLXNlY3JldC1iZWZvcmUtdGhlLXJvdGF0aW9u"
# Stripe's secrets are used as they are (not base64-decoded), so any text will do.
STRIPE_SECRET = "whsec_stripe-style-secret-for-the-worker"


class ArrivalReceiver(MockReceiver):
    """A `MockReceiver` that also tells when a request has arrived (before it answers), and
    stops a scripted `Delay` when its client hangs up (a killed worker's request would
    otherwise sleep on, and hold up the server's shutdown at the end of the test)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        self.arrived.set()
        await until_hang_up(super().app, scope, receive, send)


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Poll ``condition`` until it holds; fail if the worker exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(
                    f"the worker exited ({self.process.returncode}) before {what}:\n{self.stderr}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; worker stderr:\n{self.stderr}")
            time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` and return the exit code."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not stop on {signum!r}:\n{self.stderr}")


@contextmanager
def worker_process(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[WorkerProcess]:
    """``webhook-kit worker ARGS`` as a process in ``cwd``; killed if a test leaves it running."""
    stderr_path = cwd / f"worker-{time.monotonic_ns()}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [*CLI, "worker", *args],
            cwd=cwd,
            env=env if env is not None else clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        yield WorkerProcess(process, stderr_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)


def send(url: str, db: Path | None, *args: str) -> str:
    """Queue one webhook with ``webhook-kit send`` (to loopback); return its id."""
    db_args = [] if db is None else ["--db", str(db)]
    result = invoke(["send", url, "--allow-private-targets", *db_args, *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def counts(db: Path) -> QueueCounts:
    async def call(queue: SQLiteQueue) -> QueueCounts:
        return await queue.counts()

    return on_queue(db, call)


def history(db: Path, delivery_id: str) -> list[AttemptRecord]:
    async def call(queue: SQLiteQueue) -> list[AttemptRecord]:
        return await queue.history(delivery_id)

    return on_queue(db, call)


def dead_letters(db: Path) -> list[DeadLetterRecord]:
    async def call(queue: SQLiteQueue) -> list[DeadLetterRecord]:
        return await queue.list_dead_letters()

    return on_queue(db, call)


def test_worker_delivers_what_send_queued_and_logs_each_attempt(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    receiver = MockReceiver()
    receiver.expect_signature(SECRET)
    receiver.script([Reply(503, headers={"Retry-After": "0"}), 200])
    with receiver.serve_in_thread() as url:
        delivery_id = send(
            url, db, "--event", "order.created", "--data", '{"order_id": 42}', "--secret", SECRET
        )
        with worker_process(tmp_path, "--db", str(db)) as worker:
            worker.wait_until(lambda: counts(db).delivered == 1, "the delivery")
            assert worker.stop() == 0

    assert [(d.id, d.status, d.verified) for d in receiver.deliveries] == [
        (delivery_id, 503, True),
        (delivery_id, 200, True),
    ]
    assert receiver.deliveries[0].json() == {"order_id": 42}
    assert [(a.attempt, a.status, a.outcome) for a in history(db, delivery_id)] == [
        (1, 503, "retry"),
        (2, 200, "delivered"),
    ]
    # One short line per attempt: the id once, what happened, and when the retry is due.
    attempts = [line for line in worker.stderr.splitlines() if delivery_id in line]
    assert len(attempts) == 2, worker.stderr
    retry, delivered = attempts
    for line, attempt in zip(attempts, (1, 2), strict=True):
        assert f" INFO webhook_kit.delivery: webhook {delivery_id} attempt {attempt} to " in line
        assert line.count(delivery_id) == 1
    assert ": 503 in " in retry
    assert "; next attempt now, at " in retry  # Retry-After: 0
    assert ": 200 in " in delivered
    assert delivered.endswith("s, delivered")
    assert "received SIGTERM" in worker.stderr
    assert "Traceback" not in worker.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_claiming_and_finishes_the_attempt_in_flight(
    tmp_path: Path, signum: signal.Signals
) -> None:
    db = tmp_path / "queue.sqlite3"
    receiver = ArrivalReceiver()
    receiver.script([Delay(1.0)], event="slow")
    with receiver.serve_in_thread() as url:
        slow = send(url, db, "--event", "slow", "--data", "1", "--secret", SECRET)
        waiting = send(url, db, "--event", "next", "--data", "2", "--secret", SECRET)
        with worker_process(tmp_path, "--db", str(db), "--concurrency", "1") as worker:
            worker.wait_until(receiver.arrived.is_set, "the first request")
            code = worker.stop(signum)
    assert code == 0, worker.stderr
    # The attempt in flight at the signal was answered and recorded; nothing more was claimed.
    assert [(d.id, d.status) for d in receiver.deliveries] == [(slow, 200)]
    assert [(a.attempt, a.status, a.outcome) for a in history(db, slow)] == [(1, 200, "delivered")]
    assert history(db, waiting) == []
    assert counts(db) == QueueCounts(pending=1, due=1, in_flight=0, delivered=1, dead=0)
    assert f"received {signum.name}" in worker.stderr
    assert "worker stopped" in worker.stderr
    assert "Traceback" not in worker.stderr


def test_worker_secrets_sign_timestamped_formats(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    standard = MockReceiver().expect_signature(WHSEC, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    stripe = MockReceiver().expect_signature(OLD_WHSEC, scheme=SignatureFormat.STRIPE)
    with standard.serve_in_thread() as standard_url, stripe.serve_in_thread() as stripe_url:
        first = send(
            standard_url,
            db,
            *("--event", "order.created", "--data", "{}", "--secret", WHSEC),
            *("--format", "standard_webhooks"),
        )
        second = send(
            stripe_url,
            db,
            *("--event", "invoice.paid", "--data", "{}", "--secret", OLD_WHSEC),
            *("--format", "stripe"),
        )
        # Repeated for a rotation: each delivery carries a signature by each secret.
        args = ("--db", str(db), "--secret", OLD_WHSEC, "--secret", WHSEC)
        with worker_process(tmp_path, *args) as worker:
            worker.wait_until(lambda: counts(db).delivered == 2, "both deliveries")
            assert worker.stop() == 0
    assert [(d.id, d.status, d.verified) for d in standard.deliveries] == [(first, 200, True)]
    assert [(d.id, d.status, d.verified) for d in stripe.deliveries] == [(second, 200, True)]
    assert standard.deliveries[0].headers["webhook-id"] == first
    assert len(standard.deliveries[0].headers["webhook-signature"].split()) == 2
    assert standard.problems == stripe.problems == []


def test_a_secret_that_only_another_format_can_use_does_not_dead_letter_a_job(
    tmp_path: Path,
) -> None:
    # A worker serving Standard Webhooks and Stripe jobs needs both secrets. The Stripe one is
    # not base64 after its whsec_ prefix, so it cannot sign a Standard Webhooks delivery, but
    # the other secret can: the job must be delivered, not dead-lettered with "secret #1 starts
    # with 'whsec_' but the rest is not valid base64".
    db = tmp_path / "queue.sqlite3"
    standard = MockReceiver().expect_signature(WHSEC, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    stripe = MockReceiver().expect_signature(STRIPE_SECRET, scheme=SignatureFormat.STRIPE)
    with standard.serve_in_thread() as standard_url, stripe.serve_in_thread() as stripe_url:
        send(
            standard_url,
            db,
            *("--event", "order.created", "--data", "{}", "--secret", WHSEC),
            *("--format", "standard_webhooks"),
        )
        send(
            stripe_url,
            db,
            *("--event", "invoice.paid", "--data", "{}", "--secret", STRIPE_SECRET),
            *("--format", "stripe"),
        )
        args = ("--db", str(db), "--secret", WHSEC, "--secret", STRIPE_SECRET)
        with worker_process(tmp_path, *args) as worker:
            worker.wait_until(lambda: counts(db).delivered + counts(db).dead == 2, "both outcomes")
            assert worker.stop() == 0
    assert [letter.reason for letter in dead_letters(db)] == []
    assert [d.verified for d in standard.deliveries + stripe.deliveries] == [True, True]


def test_a_secret_with_spaces_in_the_environment_is_one_secret(tmp_path: Path) -> None:
    # `send` reads WEBHOOK_KIT_SECRET as one secret; the worker's --secret is repeatable, and
    # click splits a repeatable option's environment variable at whitespace: the worker signs
    # with "correct", "horse", "battery" and "staple" instead.
    db = tmp_path / "queue.sqlite3"
    secret = "correct horse battery staple"
    receiver = MockReceiver().expect_signature(secret, scheme=SignatureFormat.STRIPE)
    with receiver.serve_in_thread() as url:
        result = invoke(
            [
                *("send", url, "--allow-private-targets", "--db", str(db)),
                *("--format", "stripe", "--event", "order.created", "--data", "{}"),
            ],
            env={"WEBHOOK_KIT_SECRET": secret},
        )
        assert result.exit_code == 0, result.output
        env = clean_env(WEBHOOK_KIT_SECRET=secret)
        with worker_process(tmp_path, "--db", str(db), env=env) as worker:
            worker.wait_until(lambda: len(receiver.deliveries) == 1, "the delivery")
            assert worker.stop() == 0
    [delivery] = receiver.deliveries
    assert delivery.verified, delivery.verification_error


def test_an_empty_secret_is_refused_at_start(tmp_path: Path) -> None:
    # Bad input fails at the call that received it: an empty --secret cannot sign anything, so
    # the worker should not start and dead-letter every timestamped job with "secret #0 is
    # empty".
    try:
        completed = run_cli(
            ["worker", "--db", str(tmp_path / "queue.sqlite3"), "--secret", ""],
            cwd=tmp_path,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the worker started with an empty --secret")
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    [line] = [line for line in completed.stderr.splitlines() if line.startswith("Error: ")]
    assert line == "Error: Invalid value for --secret: the secret is empty"


def test_worker_reads_the_secret_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    receiver = MockReceiver().expect_signature(WHSEC, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    with receiver.serve_in_thread() as url:
        delivery_id = send(
            url,
            db,
            *("--event", "order.created", "--data", "{}", "--secret", WHSEC),
            *("--format", "standard_webhooks"),
        )
        env = clean_env(WEBHOOK_KIT_SECRET=WHSEC)
        with worker_process(tmp_path, "--db", str(db), env=env) as worker:
            worker.wait_until(lambda: counts(db).delivered == 1, "the delivery")
            assert worker.stop() == 0
    assert [(d.id, d.verified) for d in receiver.deliveries] == [(delivery_id, True)]


def test_without_secrets_timestamped_jobs_are_dead_lettered(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    receiver = MockReceiver()
    with receiver.serve_in_thread() as url:
        timestamped = send(
            url,
            db,
            *("--event", "order.created", "--data", "{}", "--secret", WHSEC),
            *("--format", "standard_webhooks"),
        )
        body_only = send(url, db, "--event", "order.paid", "--data", "{}", "--secret", SECRET)
        assert "WEBHOOK_KIT_SECRET" not in clean_env()
        with worker_process(tmp_path, "--db", str(db)) as worker:
            worker.wait_until(
                lambda: (counts(db).dead, counts(db).delivered) == (1, 1), "both outcomes"
            )
            assert worker.stop() == 0
    # No request was made for the job the worker could not sign.
    assert [d.id for d in receiver.deliveries] == [body_only]
    [letter] = dead_letters(db)
    assert letter.id == timestamped
    assert "secret" in letter.reason
    assert letter.last_status is None
    # The reason names the command-line fix, not the Python call.
    assert "run the worker with --secret (or $WEBHOOK_KIT_SECRET)" in letter.reason
    assert "WebhookSubscription" not in letter.reason
    line = next(line for line in worker.stderr.splitlines() if timestamped in line)
    assert " WARNING webhook_kit.delivery: " in line
    assert (
        f"dead-lettered: {letter.reason}. Once fixed: webhook-kit dlq redrive {timestamped}"
        in line
    )


def test_a_loopback_target_is_warned_about_at_send_and_its_refusal_names_the_flag(
    tmp_path: Path,
) -> None:
    db = tmp_path / "queue.sqlite3"
    receiver = MockReceiver()
    with receiver.serve_in_thread() as url:
        args = ["--db", str(db), "--event", "order.created", "--data", "{}"]
        sent = invoke(["send", url, *args, "--secret", SECRET])
        assert sent.exit_code == 0, sent.output
        delivery_id = sent.stdout.strip()
        host = url.split("//")[1].split(":")[0]
        assert warnings(sent.stderr) == [
            f"Warning: {host} is a loopback address: the worker's network guard will refuse "
            "it and dead-letter the delivery, unless it is sent with --allow-private-targets"
        ]
        with worker_process(tmp_path, "--db", str(db)) as worker:
            worker.wait_until(lambda: counts(db).dead == 1, "the dead letter", timeout=60)
            assert worker.stop() == 0
    receiver.assert_no_deliveries()
    [letter] = dead_letters(db)
    assert letter.reason.endswith("send it again with --allow-private-targets to allow it")
    assert "WebhookSubscription" not in letter.reason
    [line] = [line for line in worker.stderr.splitlines() if delivery_id in line]
    assert " WARNING webhook_kit.delivery: " in line
    assert line.endswith(f"Once fixed: webhook-kit dlq redrive {delivery_id}")
    assert line.count(delivery_id) == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/hooks",
        "http://10.1.2.3/hooks",
        "http://[::1]:8000/hooks",
        "http://169.254.169.254/latest",
    ],
)
def test_send_warns_of_every_non_public_target_written_in_the_url(
    tmp_path: Path, url: str
) -> None:
    args = ["send", url, "--db", str(tmp_path / "q.sqlite3"), "--event", "a.b", "--data", "1"]
    warned = invoke([*args, "--secret", SECRET])
    assert warned.exit_code == 0, warned.output
    [warning] = warnings(warned.stderr)
    assert warning.endswith("unless it is sent with --allow-private-targets")
    allowed = invoke([*args, "--secret", SECRET, "--allow-private-targets"])
    assert (allowed.exit_code, warnings(allowed.stderr)) == (0, [])
    public = invoke(["send", "https://hooks.customer.example/in", *args[2:], "--secret", SECRET])
    assert (public.exit_code, warnings(public.stderr)) == (0, [])


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Warning: ")]


def test_worker_uses_the_queue_file_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    receiver = MockReceiver()
    with receiver.serve_in_thread() as url:
        delivery_id = send(
            url, None, "--event", "order.created", "--data", "{}", "--secret", SECRET
        )
        db = tmp_path / "webhook-kit.sqlite3"
        assert db.exists()
        with worker_process(tmp_path) as worker:
            worker.wait_until(lambda: counts(db).delivered == 1, "the delivery")
            assert worker.stop() == 0
    assert [d.id for d in receiver.deliveries] == [delivery_id]
    assert "webhook-kit.sqlite3" in worker.stderr  # "worker started on webhook-kit.sqlite3 …"


def test_worker_picks_up_jobs_sent_while_it_runs(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    receiver = MockReceiver()
    with receiver.serve_in_thread() as url, worker_process(tmp_path, "--db", str(db)) as worker:
        worker.wait_until(lambda: "worker started" in worker.stderr, "the worker to start")
        delivery_id = send(url, db, "--event", "late", "--data", "{}", "--secret", SECRET)
        worker.wait_until(lambda: counts(db).delivered == 1, "the delivery")
        assert worker.stop() == 0
    assert [d.id for d in receiver.deliveries] == [delivery_id]


def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    # The attempt in flight would hold the worker for its whole timeout; the second Ctrl-C
    # does not wait for it. It is abandoned, not lost: its claim runs out, and it is made again.
    signum = signal.SIGINT
    db = tmp_path / "queue.sqlite3"
    receiver = ArrivalReceiver()
    receiver.script([Delay(20.0)], event="slow")
    with receiver.serve_in_thread() as url:
        slow = send(url, db, "--event", "slow", "--data", "1", "--secret", SECRET)
        with worker_process(tmp_path, "--db", str(db), "--concurrency", "1") as worker:
            worker.wait_until(receiver.arrived.is_set, "the first request")
            worker.process.send_signal(signum)
            worker.wait_until(
                lambda: "finishing in-flight attempts" in worker.stderr, "the stopping line"
            )
            code = worker.stop(signum)
    assert code == 128 + signum, worker.stderr
    assert (
        f"WARNING webhook_kit.worker: received {signum.name} again: exiting now; the attempts "
        "in flight are abandoned and will be attempted again"
    ) in worker.stderr
    assert "Traceback" not in worker.stderr
    assert history(db, slow) == []  # nothing recorded: the delivery is still to be made
    assert counts(db).in_flight == 1  # until its claim runs out
