"""``webhook-kit`` on PostgreSQL (``--queue postgresql://…``): send, worker, status, dlq, schema.

The tests that need the server take the ``postgres_url`` fixture (a database of this session's
own with the schema applied, emptied for each test; skipped where PostgreSQL is unreachable).
The worker runs as a real process and delivers to a `MockReceiver` served on 127.0.0.1 from a
thread of the test process. What needs no server (an unreachable database, option mistakes, the
missing ``postgres`` extra, ``sqlite:///`` URLs) runs everywhere.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import pytest
from click.testing import Result

from webhook_kit import SignatureFormat, WebhookSubscription
from webhook_kit.outcomes import AttemptRecord
from webhook_kit.queues import QueueCounts
from webhook_kit.testing import Delay, MockReceiver, Reply

from . import TIMEOUT, clean_env, invoke, run_cli
from .test_errors import error_line
from .test_worker_command import ArrivalReceiver, worker_process

if TYPE_CHECKING:
    from webhook_kit.queues.procrastinate import ProcrastinateQueue

T = TypeVar("T")

SECRET = "postgres-command-secret-32-bytes"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
UNREACHABLE = "postgresql://webhook:hunter2@127.0.0.1:1/shop"
"""Nothing listens on port 1; the password must never be printed."""

POSTGRES_EXTRA = "pip install 'webhook-kit[postgres]'"


# -- helpers -----------------------------------------------------------------------------------


def on_postgres(url: str, call: Callable[[ProcrastinateQueue], Awaitable[T]]) -> T:
    """Open a `ProcrastinateQueue` on ``url``, run ``await call(queue)`` and close it again."""
    from webhook_kit.queues.procrastinate import ProcrastinateQueue

    async def run() -> T:
        async with ProcrastinateQueue(url, pool_size=2) as queue:
            return await call(queue)

    return anyio.run(run)


def counts(url: str) -> QueueCounts:
    async def call(queue: ProcrastinateQueue) -> QueueCounts:
        return await queue.counts()

    return on_postgres(url, call)


def history(url: str, delivery_id: str) -> list[AttemptRecord]:
    async def call(queue: ProcrastinateQueue) -> list[AttemptRecord]:
        return await queue.history(delivery_id)

    return on_postgres(url, call)


def ok(result: Result) -> list[str]:
    """The lines a successful in-process command printed."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return [line.rstrip() for line in result.stdout.splitlines()]


def send(url: str, queue: str, *args: str) -> str:
    """Queue one webhook with ``webhook-kit send --queue QUEUE`` (to loopback); its id."""
    result = invoke(["send", url, "--allow-private-targets", "--queue", queue, *args])
    [delivery_id] = ok(result)
    return delivery_id


def shown(url: str) -> str:
    """How the commands name the database: its URL without the credentials."""
    return re.sub(r"//[^@/]*@", "//", url)


DEAD_SCRIPTS = {
    "order.created": [200],
    "order.refunded": [Reply(400, body='{"error": "unknown event type"}')],
    "customer.deleted": [410],
}
"""What the receiver answers each event, dispatched in this order: one delivered, two dead."""


def with_dead_letters(url: str) -> dict[str, str]:
    """Put `DEAD_SCRIPTS` through the queue at ``url`` (a worker in this process); the ids."""

    async def build(queue: ProcrastinateQueue) -> dict[str, str]:
        receiver = MockReceiver()
        for event, steps in DEAD_SCRIPTS.items():
            receiver.script(steps, event=event)
        async with receiver.serve() as target:
            await WebhookSubscription.register(queue)
            subscription = WebhookSubscription(target, SECRET).allow_private_targets(True)
            ids = {
                event: await subscription.dispatch(queue, event, {"event": event})
                for event in DEAD_SCRIPTS
            }
            with anyio.fail_after(TIMEOUT):
                while True:  # one at a time: the dead letters' order is the dispatch order
                    await queue.run_worker(concurrency=1, wait=False, poll_interval=0.05)
                    now = await queue.counts()
                    if now.pending == now.in_flight == 0:
                        break
        assert (now.delivered, now.dead) == (1, 2), now
        return ids

    return on_postgres(url, build)


@pytest.fixture
def bare_database(postgres_url: str) -> Iterator[str]:
    """A new database on the same server, without any schema; dropped afterwards."""
    import psycopg

    name = f"webhook_kit_bare_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{postgres_url.rpartition('/')[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- send and worker ---------------------------------------------------------------------------


def test_worker_delivers_what_send_queued_and_exits_0_on_sigterm(
    postgres_url: str, tmp_path: Path
) -> None:
    # A timestamped format: the worker signs each attempt with the secret it reads from
    # WEBHOOK_KIT_SECRET, as the SQLite worker does.
    receiver = MockReceiver().expect_signature(WHSEC, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    receiver.script([Reply(503, headers={"Retry-After": "0"}), 200])
    with receiver.serve_in_thread() as url:
        delivery_id = send(
            url,
            postgres_url,
            *("--event", "order.created", "--data", '{"order_id": 42}', "--secret", WHSEC),
            *("--format", "standard_webhooks"),
        )
        assert counts(postgres_url) == QueueCounts(
            pending=1, due=1, in_flight=0, delivered=0, dead=0
        )
        env = clean_env(WEBHOOK_KIT_SECRET=WHSEC)
        with worker_process(tmp_path, "--queue", postgres_url, env=env) as worker:
            worker.wait_until(lambda: counts(postgres_url).delivered == 1, "the delivery")
            assert worker.stop() == 0

    assert [(d.id, d.status, d.verified) for d in receiver.deliveries] == [
        (delivery_id, 503, True),
        (delivery_id, 200, True),
    ]
    assert receiver.deliveries[0].json() == {"order_id": 42}
    assert receiver.problems == []
    assert [(a.attempt, a.status, a.outcome) for a in history(postgres_url, delivery_id)] == [
        (1, 503, "retry"),
        (2, 200, "delivered"),
    ]
    stderr = worker.stderr
    assert f"worker started on {shown(postgres_url)} (concurrency 32)" in stderr
    attempts = [line for line in stderr.splitlines() if delivery_id in line]
    assert len(attempts) == 2, stderr
    assert f"webhook {delivery_id} attempt 1 to {url}: 503 in " in attempts[0]
    assert f"webhook {delivery_id} attempt 2 to {url}: 200 in " in attempts[1]
    assert "received SIGTERM" in stderr
    assert "worker stopped" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_fetching_and_finishes_the_attempt_in_flight(
    postgres_url: str, tmp_path: Path, signum: signal.Signals
) -> None:
    receiver = ArrivalReceiver()
    receiver.script([Delay(1.0)], event="slow")
    with receiver.serve_in_thread() as url:
        slow = send(url, postgres_url, "--event", "slow", "--data", "1", "--secret", SECRET)
        waiting = send(url, postgres_url, "--event", "next", "--data", "2", "--secret", SECRET)
        args = ("--queue", postgres_url, "--concurrency", "1")
        with worker_process(tmp_path, *args) as worker:
            worker.wait_until(receiver.arrived.is_set, "the first request")
            code = worker.stop(signum)
    assert code == 0, worker.stderr
    # The attempt in flight at the signal was answered and recorded; nothing more was fetched.
    assert [(d.id, d.status) for d in receiver.deliveries] == [(slow, 200)]
    assert [(a.attempt, a.status, a.outcome) for a in history(postgres_url, slow)] == [
        (1, 200, "delivered")
    ]
    assert history(postgres_url, waiting) == []
    assert counts(postgres_url) == QueueCounts(pending=1, due=1, in_flight=0, delivered=1, dead=0)
    assert f"received {signum.name}" in worker.stderr
    assert "worker stopped" in worker.stderr
    assert "Traceback" not in worker.stderr


def test_a_second_signal_exits_at_once(postgres_url: str, tmp_path: Path) -> None:
    receiver = ArrivalReceiver()
    receiver.script([Delay(20.0)], event="slow")
    with receiver.serve_in_thread() as url:
        send(url, postgres_url, "--event", "slow", "--data", "1", "--secret", SECRET)
        args = ("--queue", postgres_url, "--concurrency", "1")
        with worker_process(tmp_path, *args) as worker:
            worker.wait_until(receiver.arrived.is_set, "the first request")
            worker.process.send_signal(signal.SIGTERM)
            worker.wait_until(
                lambda: "finishing in-flight attempts" in worker.stderr, "the stopping line"
            )
            code = worker.stop(signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, worker.stderr
    assert "received SIGTERM again: exiting now" in worker.stderr
    assert "Traceback" not in worker.stderr
    assert counts(postgres_url).in_flight == 1  # until the stalled-job sweep takes it back


def test_a_dead_letter_is_one_log_line_not_a_traceback(postgres_url: str, tmp_path: Path) -> None:
    # procrastinate logs a failed job as an error with a traceback; for webhook-kit a dead
    # letter is an outcome, logged as every attempt is.
    receiver = MockReceiver().script([Reply(400, body="no such event")])
    with receiver.serve_in_thread() as url:
        delivery_id = send(url, postgres_url, "--event", "x.y", "--data", "{}", "--secret", SECRET)
        with worker_process(tmp_path, "--queue", postgres_url) as worker:
            worker.wait_until(lambda: counts(postgres_url).dead == 1, "the dead letter")
            assert worker.stop() == 0
    [line] = [line for line in worker.stderr.splitlines() if delivery_id in line]
    assert " WARNING webhook_kit.delivery: " in line
    assert "dead-lettered: the receiver answered 400" in line
    assert "Traceback" not in worker.stderr
    assert " ERROR " not in worker.stderr


def test_lease_grace_is_for_sqlite_only() -> None:
    line = error_line(invoke(["worker", "--queue", UNREACHABLE, "--lease-grace", "5"]))
    assert "--lease-grace" in line
    assert "hunter2" not in line


# -- status and dlq ----------------------------------------------------------------------------


def test_status_shows_the_queue_depth(postgres_url: str) -> None:
    lines = ok(invoke(["status", "--queue", postgres_url]))
    assert lines[0] == f"queue {shown(postgres_url)} (PostgreSQL)"
    assert all(re.fullmatch(r"\s+[a-z ]+?\s+0\b.*", line) for line in lines[1:6]), lines
    with_dead_letters(postgres_url)
    lines = ok(invoke(["status", "--queue", postgres_url]))
    found = {}
    for line in lines[1:6]:
        match = re.match(r"\s+([a-z ]+?)\s+(\d+)\b", line)
        assert match is not None, line
        found[match.group(1)] = int(match.group(2))
    assert found == {"pending": 0, "due now": 0, "in flight": 0, "delivered": 1, "dead": 2}
    assert lines[5].rstrip().endswith(f"see webhook-kit dlq list --queue {shown(postgres_url)}")
    assert lines[6:] == [
        "  next attempt: none pending",
        "endpoints: health is not tracked on a PostgreSQL queue",
    ]


def test_show_status_and_purge_on_postgres(postgres_url: str) -> None:
    ids = with_dead_letters(postgres_url)
    where = shown(postgres_url)
    pending = send(
        "https://customer.example/hooks",
        postgres_url,
        "--event",
        "a.b",
        "--data",
        "{}",
        "--secret",
        SECRET,
    )
    assert "  next attempt: due now" in ok(invoke(["status", "--queue", postgres_url]))

    def state(delivery_id: str) -> str:
        lines = ok(invoke(["show", delivery_id[:8], "--queue", postgres_url]))
        assert lines[0].split() == ["delivery", delivery_id]
        return next(line for line in lines if line.startswith("state")).split(None, 1)[1]

    assert state(pending).rstrip() == "pending: the next attempt is due now"
    assert state(ids["order.created"]).rstrip() == "delivered"
    assert state(ids["customer.deleted"]).rstrip() == (
        f"dead-lettered (webhook-kit dlq show {ids['customer.deleted'][:8]} --queue {where})"
    )

    refused = invoke(["dlq", "purge", "--queue", postgres_url], input="n\n")
    assert refused.exit_code == 1
    assert counts(postgres_url).dead == 2
    [line] = ok(invoke(["dlq", "purge", "--yes", "--queue", postgres_url]))
    assert line == "purged 2 dead letters"
    assert counts(postgres_url) == QueueCounts(pending=1, due=1, in_flight=0, delivered=1, dead=0)
    assert state(ids["order.created"]).rstrip() == "delivered"
    assert [a.outcome for a in history(postgres_url, ids["order.created"])] == ["delivered"]
    gone = error_line(invoke(["show", ids["customer.deleted"], "--queue", postgres_url]))
    assert gone.startswith(f"Error: no delivery with id {ids['customer.deleted']} in {where}")


def test_dlq_list_show_and_redrive(postgres_url: str) -> None:
    ids = with_dead_letters(postgres_url)
    refunded, deleted = ids["order.refunded"], ids["customer.deleted"]
    where = shown(postgres_url)

    lines = ok(invoke(["dlq", "list", "--queue", postgres_url], env={"COLUMNS": "200"}))
    assert lines[0] == f"2 dead letters in {where}"
    rows = [line.split() for line in lines[2:]]
    hosts = {row[2].partition(":")[0] for row in rows}  # the receiver's host and port
    assert hosts == {"127.0.0.1"}
    assert [(row[0], row[1], row[3]) for row in rows] == [
        (refunded[:8], "order.refunded", "1"),
        (deleted[:8], "customer.deleted", "1"),
    ]
    assert "answered 400" in lines[2]
    assert "410 Gone" in lines[3]

    output = "\n".join(ok(invoke(["dlq", "show", refunded[:8], "--queue", postgres_url])))
    assert f"dead letter  {refunded}" in output
    assert "order.refunded" in output
    assert "after 1 attempt" in output
    assert '{"error": "unknown event type"}' in output  # the last response

    [line] = ok(invoke(["dlq", "redrive", refunded[:8], "--queue", postgres_url]))
    assert line == f"redrove 1 dead letter: {refunded} (order.refunded), due now"
    assert counts(postgres_url) == QueueCounts(pending=1, due=1, in_flight=0, delivered=1, dead=1)

    [line] = ok(invoke(["dlq", "redrive", "--since", "1h", "--queue", postgres_url]))
    assert line.startswith("redrove 1 dead letter (dead-lettered since ")
    assert counts(postgres_url) == QueueCounts(pending=2, due=2, in_flight=0, delivered=1, dead=0)
    assert ok(invoke(["dlq", "list", "--queue", postgres_url])) == [f"no dead letters in {where}"]

    missing = error_line(invoke(["dlq", "show", "0000aaaa", "--queue", postgres_url]))
    assert missing == f"Error: no dead letter with id 0000aaaa in {where}"
    pending = error_line(invoke(["dlq", "redrive", deleted, "--queue", postgres_url]))
    assert "is not dead-lettered" in pending


# -- schema ------------------------------------------------------------------------------------


def test_schema_applies_once_and_is_safe_to_repeat(bare_database: str, tmp_path: Path) -> None:
    where = shown(bare_database)
    # Without the schema, every command says what to run, in one line.
    line = error_line(invoke(["status", "--queue", bare_database]))
    assert line == (
        f"Error: the PostgreSQL database {where} has no webhook-kit schema: "
        "apply it first with webhook-kit schema --queue URL"
    )
    assert "no webhook-kit schema" in error_line(
        invoke([*QUEUE_COMMANDS["send"], "--queue", bare_database])
    )
    worker = run_cli(["worker", "--queue", bare_database], cwd=tmp_path, timeout=TIMEOUT)
    assert "no webhook-kit schema" in error_line(worker)

    first = run_cli(["schema", "--queue", bare_database], cwd=tmp_path)
    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    assert first.stdout == (
        f"applied the schema to {where}: procrastinate's tables and webhook-kit's\n"
    )
    again = run_cli(["schema", "--queue", bare_database], cwd=tmp_path)
    assert (again.returncode, again.stderr) == (0, ""), again.stderr
    assert again.stdout == f"the schema in {where} was already applied: it is up to date\n"

    assert ok(invoke(["status", "--queue", bare_database]))[0] == f"queue {where} (PostgreSQL)"
    assert counts(bare_database) == QueueCounts(pending=0, due=0, in_flight=0, delivered=0, dead=0)


def test_schema_on_a_database_that_has_it(postgres_url: str) -> None:
    [line] = ok(invoke(["schema", "--queue", postgres_url]))
    assert line == f"the schema in {shown(postgres_url)} was already applied: it is up to date"


# -- mistakes: one line, never a traceback -----------------------------------------------------

QUEUE_COMMANDS = {
    "status": ["status"],
    "dlq-list": ["dlq", "list"],
    "dlq-show": ["dlq", "show", "0000aaaa"],
    "dlq-redrive": ["dlq", "redrive", "--since", "1h"],
    "send": [
        *("send", "https://customer.example/hooks", "--event", "order.created"),
        *("--data", "{}", "--secret", SECRET),
    ],
    "worker": ["worker"],
}


@pytest.mark.parametrize(
    "args", [*QUEUE_COMMANDS.values(), ["schema"]], ids=[*QUEUE_COMMANDS, "schema"]
)
def test_an_unreachable_database_is_one_line(tmp_path: Path, args: list[str]) -> None:
    completed = run_cli([*args, "--queue", UNREACHABLE], cwd=tmp_path)
    line = error_line(completed)
    assert completed.returncode == 1
    assert "postgresql://127.0.0.1:1/shop" in line
    assert "Connection refused" in line or "connection failed" in line, line
    assert "hunter2" not in completed.stderr
    assert list(tmp_path.iterdir()) == []  # no SQLite file was made instead


@pytest.mark.parametrize("args", QUEUE_COMMANDS.values(), ids=list(QUEUE_COMMANDS))
@pytest.mark.parametrize("queue", [UNREACHABLE, "sqlite:///queue.sqlite3"], ids=["pg", "sqlite"])
def test_db_and_queue_together_are_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], queue: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke([*args, "--db", "other.sqlite3", "--queue", queue])
    assert result.exit_code == 2
    assert error_line(result) == "Error: give --queue URL or --db FILE, not both"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ("mysql://root:hunter2@db.internal/shop", "unknown queue URL scheme 'mysql'"),
        ("redis://:hunter2@localhost:6379/0", "unknown queue URL scheme 'redis'"),
        ("webhooks.sqlite3", "not a queue URL"),
        ("sqlite:///", "names no file"),
        ("sqlite://db.internal/queue.sqlite3", "sqlite:///relative/path"),
    ],
)
@pytest.mark.parametrize("command", ["status", "worker", "schema"])
def test_a_bad_queue_url_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, queue: str, expected: str, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke([command, "--queue", queue])
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith("Error: Invalid value for --queue: ")
    assert expected in line
    assert "postgresql://…, postgres://… or sqlite:///FILE" in line or "sqlite:///" in line
    assert "hunter2" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_postgres_scheme_spelled_postgres(postgres_url: str) -> None:
    url = "postgres://" + postgres_url.partition("://")[2]
    lines = ok(invoke(["status", "--queue", url]))
    assert lines[0].endswith("(PostgreSQL)")


# -- sqlite:/// is --db --------------------------------------------------------------------------


def test_a_sqlite_url_is_the_same_as_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = "sqlite:///queue.sqlite3"
    args = ["--event", "a.b", "--data", "{}", "--secret", SECRET]
    sent = invoke(["send", "https://customer.example/hooks", "--queue", relative, *args])
    assert sent.exit_code == 0, sent.output
    assert sent.stderr.splitlines() == [
        "created a new, empty queue at queue.sqlite3 (no file was there; as given to --queue)"
    ]
    assert (tmp_path / "queue.sqlite3").exists()
    by_db = ok(invoke(["status", "--db", "queue.sqlite3"]))
    assert by_db == ok(invoke(["status", "--queue", relative]))
    assert re.match(r"\s+pending\s+1\b", by_db[1])
    assert "see webhook-kit dlq list" not in "\n".join(by_db)
    absolute = f"sqlite:///{tmp_path / 'queue.sqlite3'}"  # sqlite:////tmp/…
    assert absolute.startswith("sqlite:////")
    assert ok(invoke(["dlq", "list", "--queue", absolute])) == [
        f"no dead letters in {tmp_path / 'queue.sqlite3'}"
    ]
    # Refused as --db refuses it: status never creates a file, and a directory is no file.
    missing = error_line(invoke(["status", "--queue", "sqlite:///missing.sqlite3"]))
    assert missing.startswith("Error: no queue at missing.sqlite3")
    (tmp_path / "a-directory").mkdir()
    assert "is a directory" in error_line(invoke(["status", "--queue", "sqlite:///a-directory"]))
    [line] = ok(invoke(["schema", "--queue", "sqlite:///new.sqlite3"]))
    assert line.startswith("the queue file new.sqlite3 has the schema (version ")
    assert (tmp_path / "new.sqlite3").exists()


# -- without the postgres extra ------------------------------------------------------------------

WITHOUT_PROCRASTINATE = [
    sys.executable,
    "-c",
    "import sys; sys.modules['procrastinate'] = None; from webhook_kit.cli import main; main()",
]
"""The command in a process where ``import procrastinate`` fails (the ``cli`` extra alone)."""


def without_procrastinate(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WITHOUT_PROCRASTINATE, *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(
    "args", [*QUEUE_COMMANDS.values(), ["schema"]], ids=[*QUEUE_COMMANDS, "schema"]
)
def test_without_the_postgres_extra_the_command_says_what_to_install(
    tmp_path: Path, args: list[str]
) -> None:
    completed = without_procrastinate([*args, "--queue", UNREACHABLE], tmp_path)
    line = error_line(completed)
    assert completed.returncode == 1
    assert POSTGRES_EXTRA in line


def test_without_the_postgres_extra_sqlite_still_works(tmp_path: Path) -> None:
    for args in (["--help"], ["schema", "--help"], ["worker", "--help"]):
        assert without_procrastinate(args, tmp_path).returncode == 0
    sent = without_procrastinate(
        [*QUEUE_COMMANDS["send"], "--queue", "sqlite:///queue.sqlite3"], tmp_path
    )
    assert (sent.returncode, sent.stderr) == (
        0,
        "created a new, empty queue at queue.sqlite3 (no file was there; as given to --queue)\n",
    ), sent.stderr
    status = without_procrastinate(["status", "--db", "queue.sqlite3"], tmp_path)
    assert (status.returncode, status.stderr) == (0, ""), status.stderr
    assert re.search(r"pending\s+1\b", status.stdout)
