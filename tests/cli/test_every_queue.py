"""Every queue command works the same on every backend: a SQLite file and PostgreSQL.

Each test runs once per backend (`cli_queue`): the commands get the queue as ``--db FILE`` or
``--queue postgresql://…`` and print the same things, naming it as it was given. The worker is
a real process, delivering to a `MockReceiver` served on 127.0.0.1 from a thread of the test
process; what it did is read back from the queue itself.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from click.testing import Result

from webhook_kit import SignatureFormat, WebhookSubscription
from webhook_kit.outcomes import AttemptRecord, DeadLetter
from webhook_kit.queues import QueueCounts, UnknownDeliveryError
from webhook_kit.queues.protocol import EndpointRecord, LeaseQueue
from webhook_kit.testing import Delay, MockReceiver, Reply

from . import clean_env, invoke
from .backends import CliQueue, deliver_scripts
from .queue_files import DEAD
from .test_errors import error_line
from .test_worker_command import ArrivalReceiver, worker_process

SECRET = "every-queue-command-secret-32-b!"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL = "https://customer.example/hooks"
START = 1_700_000_000.0  # 2023-11-14T22:13:20Z
STATES = ("pending", "due now", "in flight", "delivered", "dead")


def ok(result: Result) -> list[str]:
    """The lines a successful in-process command printed."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return [line.rstrip() for line in result.stdout.splitlines()]


def on(queue: CliQueue, *args: str, input: str | None = None) -> Result:
    """``webhook-kit ARGS`` on ``queue`` (in process)."""
    return invoke([*args, *queue.args], input=input)


def send(url: str, queue: CliQueue, *args: str) -> str:
    """Queue one webhook with ``webhook-kit send`` (to loopback); its id."""
    [delivery_id] = ok(on(queue, "send", url, "--allow-private-targets", *args))
    return delivery_id


def depth(lines: list[str]) -> dict[str, int]:
    """``status``'s count of each state."""
    found = {}
    for line in lines[1 : 1 + len(STATES)]:
        match = re.match(r"\s+([a-z ]+?)\s+(\d+)\b", line)
        assert match is not None, line
        found[match.group(1)] = int(match.group(2))
    assert tuple(found) == STATES, lines
    return found


def add_dead_letter(queue: CliQueue, target_url: str = URL) -> str:
    """A dead letter to ``target_url`` (the queue has nothing else due); its id."""
    subscription = WebhookSubscription(target_url, SECRET)

    async def add(opened: LeaseQueue) -> str:
        now = opened.clock.now()
        event = subscription.build_event("order.created", {}, now=now)
        await opened.enqueue(event)
        (claim,) = await opened.claim(1, lease_grace=0)
        attempt = AttemptRecord(event.id, 1, now, 400, None, 0.005, "", "dead")
        assert await opened.record(claim, DeadLetter("the receiver answered 400"), attempt)
        return event.id

    return queue.run(add)


# -- status --------------------------------------------------------------------------------


def test_status_of_an_empty_queue_then_of_one_with_dead_letters(cli_queue: CliQueue) -> None:
    lines = ok(on(cli_queue, "status"))
    if cli_queue.kind == "sqlite":
        assert lines[0].startswith(f"queue {Path(cli_queue.label).resolve()} (schema version ")
    else:
        assert lines[0] == f"queue {cli_queue.label} (PostgreSQL)"
    assert set(depth(lines).values()) == {0}
    assert lines[6:] == ["  next attempt: none pending", "endpoints: none paused or disabled"]

    deliver_scripts(cli_queue)
    lines = ok(on(cli_queue, "status"))
    assert depth(lines) == {"pending": 0, "due now": 0, "in flight": 0, "delivered": 1, "dead": 3}
    assert lines[5].endswith(f"see webhook-kit dlq list{cli_queue.hint}")
    assert lines[6:] == ["  next attempt: none pending", "endpoints: none paused or disabled"]


def test_status_counts_pending_due_and_in_flight(cli_queue: CliQueue) -> None:
    subscription = WebhookSubscription(URL, SECRET)

    async def fill(queue: LeaseQueue) -> None:
        now = queue.clock.now()
        for number in range(4):
            event = subscription.build_event("order.created", {"n": number}, now=now)
            await queue.enqueue(event, not_before=now - 1 if number < 3 else now + 3600)
        assert len(await queue.claim(1, lease_grace=60)) == 1  # one of the due ones

    cli_queue.run(fill)
    lines = ok(on(cli_queue, "status"))
    assert depth(lines) == {"pending": 3, "due now": 2, "in flight": 1, "delivered": 0, "dead": 0}
    assert "  next attempt: due now" in lines


def test_status_and_endpoints_list_show_endpoint_health(cli_queue: CliQueue) -> None:
    cli_queue.save_endpoints(
        EndpointRecord(URL, "disabled", "the endpoint answered 410 Gone", START),
        EndpointRecord("https://slow.example/in", "paused", "5 failures", START, START + 90),
        EndpointRecord("https://back.example/", "healthy", "re-enabled", START + 3600),
    )
    lines = ok(on(cli_queue, "status"))
    assert lines[6:10] == [
        "  next attempt: none pending",
        "endpoints paused or disabled: 2",
        f"  disabled  {URL}: the endpoint answered 410 Gone",
        "  paused    https://slow.example/in: 5 failures, probed again at 2023-11-14T22:14:50Z",
    ]
    # The commands to run next, on one line or (a long path) two, never cut.
    assert " ".join(line.strip() for line in lines[10:]) == (
        f"(webhook-kit endpoints list{cli_queue.hint}; "
        f"webhook-kit endpoints enable URL{cli_queue.hint})"
    )
    lines = ok(on(cli_queue, "endpoints", "list"))
    assert lines[0] == f"3 endpoints in {cli_queue.label}"
    rows = [line.split()[:2] for line in lines[2:]]
    assert rows == [
        ["https://back.example/", "healthy"],
        [URL, "disabled"],
        ["https://slow.example/in", "paused"],
    ]


def test_endpoints_list_of_a_queue_without_records(cli_queue: CliQueue) -> None:
    [line] = ok(on(cli_queue, "endpoints", "list"))
    assert line.startswith(f"no endpoint records in {cli_queue.label}: every endpoint is healthy")


def test_endpoints_enable(cli_queue: CliQueue) -> None:
    other = EndpointRecord("https://other.example/hooks", "disabled", "410", START)
    cli_queue.save_endpoints(
        EndpointRecord(URL, "disabled", "the endpoint answered 410 Gone", START), other
    )
    add_dead_letter(cli_queue)
    lines = ok(on(cli_queue, "endpoints", "enable", f"{URL}?tenant=9"))
    label, hint = cli_queue.label, cli_queue.hint
    assert lines == [
        f"enabled {URL} (it was disabled: the endpoint answered 410 Gone); workers on {label} "
        "take it in within a few seconds",
        f"1 dead letter to it stay dead: redrive them with `webhook-kit dlq redrive ID{hint}` "
        f"or `webhook-kit dlq redrive --since TIME{hint}`",
    ]
    records = {record.endpoint: record for record in cli_queue.endpoint_records()}
    assert (records[URL].state, records[URL].reason) == ("healthy", "re-enabled")
    assert records[other.endpoint] == other

    # An endpoint never recorded: an error, and nothing changes.
    before = cli_queue.endpoint_records()
    line = error_line(on(cli_queue, "endpoints", "enable", "https://never.example/x"))
    assert line == (
        f"Error: no endpoint record for https://never.example/x in {label}: workers never "
        "paused or disabled it, so it is healthy; nothing changed (webhook-kit endpoints "
        f"list{hint} shows the recorded ones)"
    )
    assert cli_queue.endpoint_records() == before


# -- dlq and show ----------------------------------------------------------------------------


def test_dlq_list_show_and_redrive(cli_queue: CliQueue) -> None:
    delivered = deliver_scripts(cli_queue)
    ids, label = delivered.ids, cli_queue.label

    lines = ok(on(cli_queue, "dlq", "list"))
    assert lines[0] == f"3 dead letters in {label}"
    rows = [line.split() for line in lines[2:]]
    host = delivered.url.split("/")[2]
    assert [(row[0], row[1], row[2], row[3]) for row in rows] == [
        (ids[event][:8], event, host, "2" if event == "payment.failed" else "1") for event in DEAD
    ]
    assert "answered 400" in lines[2]
    assert "410 Gone" in lines[3]

    refunded = ids["order.refunded"]
    output = "\n".join(ok(on(cli_queue, "dlq", "show", refunded[:8])))
    assert f"dead letter  {refunded}" in output
    assert "after 1 attempt" in output
    assert "bad payload \\x1b[2J" in output  # the last response, escaped

    [line] = ok(on(cli_queue, "dlq", "redrive", refunded[:8]))
    assert line == f"redrove 1 dead letter: {refunded} (order.refunded), due now"
    assert cli_queue.counts() == QueueCounts(pending=1, due=1, in_flight=0, delivered=1, dead=2)
    [line] = ok(on(cli_queue, "dlq", "redrive", "--since", "1h"))
    assert line.startswith("redrove 2 dead letters (dead-lettered since ")
    assert cli_queue.counts() == QueueCounts(pending=3, due=3, in_flight=0, delivered=1, dead=0)
    assert ok(on(cli_queue, "dlq", "list")) == [f"no dead letters in {label}"]

    missing = error_line(on(cli_queue, "dlq", "show", "0000aaaa"))
    assert missing == f"Error: no dead letter with id 0000aaaa in {label}"
    assert "is not dead-lettered" in error_line(on(cli_queue, "dlq", "redrive", refunded))


def test_dlq_purge(cli_queue: CliQueue) -> None:
    ids = deliver_scripts(cli_queue).ids
    refused = on(cli_queue, "dlq", "purge", input="n\n")
    assert refused.exit_code == 1
    assert cli_queue.counts().dead == 3
    [line] = ok(on(cli_queue, "dlq", "purge", "--yes"))
    assert line == "purged 3 dead letters"
    assert cli_queue.counts() == QueueCounts(pending=0, due=0, in_flight=0, delivered=1, dead=0)
    assert [a.outcome for a in cli_queue.history(ids["order.created"])] == ["delivered"]
    with pytest.raises(UnknownDeliveryError):  # gone, with its attempts
        cli_queue.history(ids["order.refunded"])
    [line] = ok(on(cli_queue, "dlq", "purge", "--yes"))
    assert line == f"no dead letters in {cli_queue.label}: nothing to purge"


def test_show_a_delivery_in_every_state(cli_queue: CliQueue) -> None:
    ids = deliver_scripts(cli_queue).ids
    pending = send(URL, cli_queue, "--event", "a.b", "--data", "{}", "--secret", SECRET)

    def state(delivery_id: str) -> str:
        lines = ok(on(cli_queue, "show", delivery_id[:8]))
        assert lines[0].split() == ["delivery", delivery_id]
        return next(line for line in lines if line.startswith("state")).split(None, 1)[1]

    assert state(pending) == "pending: the next attempt is due now"
    assert state(ids["order.created"]) == "delivered"
    deleted = ids["customer.deleted"]
    assert state(deleted) == f"dead-lettered (webhook-kit dlq show {deleted[:8]}{cli_queue.hint})"
    unknown = error_line(on(cli_queue, "show", "0000aaaa"))
    assert unknown.startswith(f"Error: no delivery with id 0000aaaa in {cli_queue.label}")


# -- worker ----------------------------------------------------------------------------------


def test_worker_delivers_what_send_queued_and_exits_0_on_sigterm(
    cli_queue: CliQueue, tmp_path: Path
) -> None:
    # A timestamped format: the worker signs each attempt with the secret it reads from
    # WEBHOOK_KIT_SECRET.
    receiver = MockReceiver().expect_signature(WHSEC, scheme=SignatureFormat.STANDARD_WEBHOOKS)
    receiver.script([Reply(503, headers={"Retry-After": "0"}), 200])
    with receiver.serve_in_thread() as url:
        delivery_id = send(
            url,
            cli_queue,
            *("--event", "order.created", "--data", '{"order_id": 42}', "--secret", WHSEC),
            *("--format", "standard_webhooks"),
        )
        assert cli_queue.counts() == QueueCounts(
            pending=1, due=1, in_flight=0, delivered=0, dead=0
        )
        env = clean_env(WEBHOOK_KIT_SECRET=WHSEC)
        with worker_process(tmp_path, *cli_queue.args, env=env) as worker:
            worker.wait_until(lambda: cli_queue.counts().delivered == 1, "the delivery")
            assert worker.stop() == 0

    assert [(d.id, d.status, d.verified) for d in receiver.deliveries] == [
        (delivery_id, 503, True),
        (delivery_id, 200, True),
    ]
    assert receiver.deliveries[0].json() == {"order_id": 42}
    assert receiver.problems == []
    assert [(a.attempt, a.status, a.outcome) for a in cli_queue.history(delivery_id)] == [
        (1, 503, "retry"),
        (2, 200, "delivered"),
    ]
    stderr = worker.stderr
    assert f"worker started on {cli_queue.label} (concurrency 32)" in stderr
    attempts = [line for line in stderr.splitlines() if delivery_id in line]
    assert len(attempts) == 2, stderr
    assert f"webhook {delivery_id} attempt 1 to {url}: 503 in " in attempts[0]
    assert f"webhook {delivery_id} attempt 2 to {url}: 200 in " in attempts[1]
    assert "received SIGTERM" in stderr
    assert "worker stopped" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_claiming_and_finishes_the_attempt_in_flight(
    cli_queue: CliQueue, tmp_path: Path, signum: signal.Signals
) -> None:
    receiver = ArrivalReceiver()
    receiver.script([Delay(1.0)], event="slow")
    with receiver.serve_in_thread() as url:
        slow = send(url, cli_queue, "--event", "slow", "--data", "1", "--secret", SECRET)
        waiting = send(url, cli_queue, "--event", "next", "--data", "2", "--secret", SECRET)
        with worker_process(tmp_path, *cli_queue.args, "--concurrency", "1") as worker:
            worker.wait_until(receiver.arrived.is_set, "the first request")
            code = worker.stop(signum)
    assert code == 0, worker.stderr
    # The attempt in flight at the signal was answered and recorded; nothing more was claimed.
    assert [(d.id, d.status) for d in receiver.deliveries] == [(slow, 200)]
    assert [(a.attempt, a.status, a.outcome) for a in cli_queue.history(slow)] == [
        (1, 200, "delivered")
    ]
    assert cli_queue.history(waiting) == []
    assert cli_queue.counts() == QueueCounts(pending=1, due=1, in_flight=0, delivered=1, dead=0)
    assert f"received {signum.name}" in worker.stderr
    assert "worker stopped" in worker.stderr
    assert "Traceback" not in worker.stderr


def test_a_second_signal_exits_at_once_and_the_lease_runs_out(
    cli_queue: CliQueue, tmp_path: Path
) -> None:
    receiver = ArrivalReceiver()
    receiver.script([Delay(20.0)], event="slow")
    with receiver.serve_in_thread() as url:
        slow = send(url, cli_queue, "--event", "slow", "--data", "1", "--secret", SECRET)
        args = (*cli_queue.args, "--concurrency", "1", "--lease-grace", "0")
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
    assert cli_queue.history(slow) == []  # nothing recorded: the delivery is still to be made
    assert cli_queue.counts().in_flight == 1  # until its lease runs out


def test_a_dead_letter_is_one_log_line_and_a_410_disables_the_endpoint(
    cli_queue: CliQueue, tmp_path: Path
) -> None:
    # Endpoint health on every backend: the worker records the endpoint a 410 disabled, in
    # the queue, where `status` and `endpoints list` read it.
    receiver = MockReceiver().script([Reply(400, body="no such event")], event="x.y")
    receiver.script([410], event="gone")
    with receiver.serve_in_thread() as url:
        bad = send(url, cli_queue, "--event", "x.y", "--data", "{}", "--secret", SECRET)
        gone = send(
            f"{url}/gone", cli_queue, "--event", "gone", "--data", "{}", "--secret", SECRET
        )
        with worker_process(tmp_path, *cli_queue.args) as worker:
            worker.wait_until(lambda: cli_queue.counts().dead == 2, "the dead letters")
            worker.wait_until(
                lambda: any(r.state == "disabled" for r in cli_queue.endpoint_records()),
                "the endpoint's record",
            )
            assert worker.stop() == 0
    [line] = [line for line in worker.stderr.splitlines() if bad in line]
    assert " WARNING webhook_kit.delivery: " in line
    assert "dead-lettered: the receiver answered 400" in line
    assert any(gone in line for line in worker.stderr.splitlines())
    assert "Traceback" not in worker.stderr
    assert " ERROR " not in worker.stderr
    [record] = cli_queue.endpoint_records()
    assert (record.endpoint, record.state) == (f"{url}/gone", "disabled")
    status = "\n".join(ok(on(cli_queue, "status")))
    assert f"disabled  {url}/gone: " in status
    [row] = [line for line in ok(on(cli_queue, "endpoints", "list")) if line.startswith("http")]
    assert row.split()[:2] == [f"{url}/gone", "disabled"]
