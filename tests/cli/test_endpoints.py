"""``webhook-kit endpoints list | enable URL``: endpoint health in the SQLite queue file."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from click.testing import Result

import webhook_kit.cli.endpoints  # noqa: F401  (registers the command group)
from webhook_kit import SQLiteQueue, VirtualClock, WebhookSubscription, Worker
from webhook_kit.queues.protocol import EndpointRecord
from webhook_kit.testing import MockReceiver, ReceiverRouter
from webhook_kit.testing.in_process_stack import InProcessStack

from . import invoke, on_queue, run_cli

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z
URL = "https://customer.example/hooks"


def records_in(db: Path) -> list[EndpointRecord]:
    async def call(queue: SQLiteQueue) -> list[EndpointRecord]:
        return await queue.endpoint_records()

    return on_queue(db, call)


def save(db: Path, *records: EndpointRecord) -> None:
    async def call(queue: SQLiteQueue) -> None:
        for record in records:
            await queue.save_endpoint(record)

    on_queue(db, call)


def one_error_line(result: Result) -> str:
    """The one ``Error:`` line of a failed command: exit 1, nothing on stdout, no traceback."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


def gone_endpoint(db: Path) -> tuple[MockReceiver, list[str]]:
    """A queue file where a worker saw the receiver answer 410: one dead letter, endpoint
    disabled; then a second delivery dead-lettered because it was."""
    router = ReceiverRouter()
    clock = VirtualClock(START)
    receiver = router.add(MockReceiver(clock=clock)).script([410, 200])
    queue = SQLiteQueue(db, clock=clock)

    async def run() -> list[str]:
        await WebhookSubscription.register(queue, stack=InProcessStack(router))
        subscription = WebhookSubscription(receiver.url, "endpoint-command-secret")
        ids = [await subscription.dispatch(queue, "order.created", {"n": 1})]
        await Worker(queue).run_until_idle()
        ids.append(await subscription.dispatch(queue, "order.created", {"n": 2}))
        await Worker(queue).run_until_idle()
        return ids

    try:
        ids = anyio.run(run)
    finally:
        queue.close()
    return receiver, ids


# --- list -----------------------------------------------------------------------------------


def test_list_with_no_records(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    SQLiteQueue(db).close()
    result = invoke(["endpoints", "list", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"no endpoint records in {db}: every endpoint is healthy")


def test_list_shows_state_reason_update_and_probe_time(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    SQLiteQueue(db).close()
    save(
        db,
        EndpointRecord(URL, "disabled", "the endpoint answered 410 Gone", START),
        EndpointRecord(
            "https://slow.example/in",
            "paused",
            "5 failures in a row (last: timeout: read)",
            START + 60,
            START + 90,
        ),
        EndpointRecord("https://back.example/", "healthy", "re-enabled", START + 3600),
    )
    result = invoke(["endpoints", "list", "--db", str(db)])
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == f"3 endpoints in {db}"
    header = lines[1].split()
    assert header == ["endpoint", "state", "reason", "updated", "(UTC)", "probe", "at", "(UTC)"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert list(rows) == ["https://back.example/", URL, "https://slow.example/in"]
    disabled = rows[URL]
    assert "disabled" in disabled
    assert "the endpoint answered 410 Gone" in disabled
    assert "2023-11-14T22:13:20Z" in disabled
    assert disabled.endswith("-")  # no probe for a disabled endpoint
    paused = rows["https://slow.example/in"]
    assert "paused" in paused
    assert "5 failures in a row (last: timeout: read)" in paused
    assert paused.endswith("2023-11-14T22:14:20Z  2023-11-14T22:14:50Z")
    healthy = rows["https://back.example/"]
    assert "healthy" in healthy
    assert "re-enabled" in healthy
    assert healthy.endswith("2023-11-14T23:13:20Z  -")


def test_list_shows_text_from_the_queue_as_plain_text(tmp_path: Path) -> None:
    # Reasons carry text from receivers: no escape sequence reaches the terminal, and rich's
    # markup in it is shown as written.
    db = tmp_path / "queue.sqlite3"
    SQLiteQueue(db).close()
    save(db, EndpointRecord(URL, "disabled", "[bold]oops[/bold] \x1b[2J\x07", START))
    result = invoke(["endpoints", "list", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "[bold]oops[/bold] \\x1b[2J\\x07" in result.stdout


def test_list_uses_the_queue_file_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "webhook-kit.sqlite3"
    SQLiteQueue(db).close()
    save(db, EndpointRecord(URL, "disabled", "the endpoint answered 410 Gone", START))
    result = invoke(["endpoints", "list"])
    assert result.exit_code == 0, result.output
    assert URL in result.stdout


def test_list_after_a_worker_saw_a_410(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    receiver, _ = gone_endpoint(db)
    result = invoke(["endpoints", "list", "--db", str(db)])
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.stdout.splitlines() if line.startswith("http")]
    assert row.split()[:2] == [receiver.url, "disabled"]


# --- enable ---------------------------------------------------------------------------------


def test_enable_a_disabled_endpoint(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    receiver, ids = gone_endpoint(db)
    result = invoke(["endpoints", "enable", f"{receiver.url}?tenant=9", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"enabled {receiver.url} (it was disabled: the endpoint answered 410 Gone); workers on "
        f"{db} take it in within a few seconds",
        f"2 dead letters to it stay dead: redrive them with `webhook-kit dlq redrive ID --db "
        f"{db}` or `webhook-kit dlq redrive --since TIME --db {db}`",
    ]
    [record] = records_in(db)
    assert (record.endpoint, record.state, record.reason) == (
        receiver.url,
        "healthy",
        "re-enabled",
    )

    # A worker now delivers what is redriven.
    router = ReceiverRouter()
    router.add(receiver)
    queue = SQLiteQueue(db, clock=VirtualClock(START))

    async def redrive_and_run() -> None:
        await WebhookSubscription.register(queue, stack=InProcessStack(router))
        for delivery_id in ids:
            await queue.redrive(delivery_id)
        await Worker(queue).run_until_idle()

    try:
        anyio.run(redrive_and_run)
    finally:
        queue.close()
    for delivery_id in ids:
        receiver.assert_delivered(id=delivery_id, times=1)


def test_enable_an_endpoint_with_no_record_says_so_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    other = EndpointRecord("https://other.example/hooks", "disabled", "410", START)
    SQLiteQueue(db).close()
    save(db, other)
    line = one_error_line(invoke(["endpoints", "enable", URL, "--db", str(db)]))
    assert line == (
        f"Error: no endpoint record for {URL} in {db}: workers never paused or disabled it, so "
        f"it is healthy; nothing changed (webhook-kit endpoints list --db {db} shows the "
        "recorded ones)"
    )
    assert records_in(db) == [other]  # no record for URL was made


def test_enable_a_paused_endpoint(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    SQLiteQueue(db).close()
    save(db, EndpointRecord(URL, "paused", "5 failures in a row", START, START + 30))
    result = invoke(["endpoints", "enable", URL, "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{URL} was not disabled (paused); recorded it healthy anyway",
        "no dead letters to it need redriving",
    ]
    [record] = records_in(db)
    assert (record.endpoint, record.state) == (URL, "healthy")


def test_enable_in_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's case and the query do not make another endpoint.
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "webhook-kit.sqlite3"
    SQLiteQueue(db).close()
    save(db, EndpointRecord(URL, "disabled", "the endpoint answered 410 Gone", START))
    result = invoke(["endpoints", "enable", "https://CUSTOMER.Example/hooks?x=1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"enabled {URL} (it was disabled: the endpoint answered 410 Gone); workers on "
        "webhook-kit.sqlite3 take it in within a few seconds"
    )
    assert [(record.endpoint, record.state) for record in records_in(db)] == [(URL, "healthy")]


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["list"], ["enable", URL]])
def test_a_missing_queue_file_is_one_line(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "missing.sqlite3"
    line = one_error_line(invoke(["endpoints", *command, "--db", str(db)]))
    assert f"no queue at {db}" in line
    assert not db.exists()  # nothing was created


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("customer.example/hooks", "a full URL with http:// or https://"),
        ("ftp://customer.example/hooks", "must be http or https"),
        ("https:///hooks", "has no host"),
        ("http://[::1/hooks", "does not parse"),
        ("https://customer.example/ho oks", "whitespace"),
        ("", "non-empty"),
    ],
)
def test_a_bad_url_is_one_line(tmp_path: Path, url: str, expected: str) -> None:
    db = tmp_path / "queue.sqlite3"
    SQLiteQueue(db).close()
    line = one_error_line(invoke(["endpoints", "enable", url, "--db", str(db)]))
    assert expected in line
    assert records_in(db) == []


def test_a_bad_url_is_reported_before_a_missing_queue_file(tmp_path: Path) -> None:
    db = tmp_path / "missing.sqlite3"
    line = one_error_line(invoke(["endpoints", "enable", "not-a-url", "--db", str(db)]))
    assert "a full URL with http:// or https://" in line
    assert not db.exists()


def test_a_file_that_is_not_a_queue_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    db.write_bytes(b"these are not the pages of a SQLite database\n" * 200)
    line = one_error_line(invoke(["endpoints", "list", "--db", str(db)]))
    assert "not a database" in line


def test_usage_errors(tmp_path: Path) -> None:
    missing_url = invoke(["endpoints", "enable", "--db", str(tmp_path / "q.sqlite3")])
    assert missing_url.exit_code == 2
    assert "Missing argument 'URL'" in missing_url.stderr
    unknown = invoke(["endpoints", "disable", URL])
    assert unknown.exit_code == 2
    assert "No such command 'disable'" in unknown.stderr


def test_help() -> None:
    group = invoke(["endpoints", "--help"])
    assert group.exit_code == 0
    assert "  list " in group.stdout
    assert "  enable " in group.stdout
    for command in ("list", "enable"):
        result = invoke(["endpoints", command, "--help"])
        assert result.exit_code == 0
        assert "--db" in result.stdout


def test_the_installed_command_has_endpoints(tmp_path: Path) -> None:
    # As a real process: main() registers the group.
    db = tmp_path / "queue.sqlite3"
    SQLiteQueue(db).close()
    save(db, EndpointRecord(URL, "disabled", "the endpoint answered 410 Gone", START))
    listed = run_cli(["endpoints", "list", "--db", str(db)], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert URL in listed.stdout
    enabled = run_cli(["endpoints", "enable", URL, "--db", str(db)], cwd=tmp_path)
    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stdout.startswith(f"enabled {URL}")
    bad = run_cli(["endpoints", "enable", "nope", "--db", str(db)], cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stdout == ""
    [line] = bad.stderr.splitlines()
    assert line.startswith("Error: ")
