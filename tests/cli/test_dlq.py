"""``webhook-kit dlq list | show | redrive`` on real SQLite queue files with dead letters."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from webhook_kit.cli import dlq as dlq_module
from webhook_kit.outcomes import DeadLetterRecord
from webhook_kit.queues import QueueCounts, SQLiteQueue

from . import invoke, on_queue
from .queue_files import DEAD, BuiltQueue, add_dead_letter, build_queue

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltQueue:
    """One queue built for the module; tests get copies (`queue_file`)."""
    return build_queue(tmp_path_factory.mktemp("dlq") / "queue.sqlite3")


@pytest.fixture
def queue_file(built: BuiltQueue, tmp_path: Path) -> BuiltQueue:
    return built.copy_to(tmp_path)


def dlq(*args: str, columns: int = 200) -> Result:
    return invoke(["dlq", *args], env={"COLUMNS": str(columns)})


def ok(result: Result) -> list[str]:
    """The lines a successful command printed."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout.splitlines()


def error_line(result: Result, code: int) -> str:
    """The one ``Error:`` line of a refused command; a traceback fails the test."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    if code == 1:
        assert lines == errors, result.stderr
    return errors[0]


def dead_letters(path: Path) -> list[DeadLetterRecord]:
    async def call(queue: SQLiteQueue) -> list[DeadLetterRecord]:
        return await queue.list_dead_letters()

    return on_queue(path, call)


def counts(path: Path) -> QueueCounts:
    async def call(queue: SQLiteQueue) -> QueueCounts:
        return await queue.counts()

    return on_queue(path, call)


# -- list ----------------------------------------------------------------------------------


def test_list_shows_every_dead_letter_oldest_first(queue_file: BuiltQueue) -> None:
    lines = ok(dlq("list", "--db", str(queue_file.path)))
    assert lines[0].rstrip() == f"3 dead letters in {queue_file.path}"
    assert lines[1].split() == [
        "id",
        "event",
        "target",
        "host",
        "attempts",
        "dead",
        "at",
        "(UTC)",
        "reason",
    ]
    host = queue_file.url.split("/")[2]
    reasons = {
        "order.refunded": "the receiver answered 400, a client error: not retried",
        "customer.deleted": "the receiver answered 410 Gone: the endpoint is gone",
        "payment.failed": "gave up after 2 attempts; the last: status 503",
    }
    rows = lines[2:]
    assert len(rows) == 3
    for row, event in zip(rows, DEAD, strict=True):
        attempts = 2 if event == "payment.failed" else 1
        expected = (
            rf"{queue_file.ids[event][:8]}  {re.escape(event)} +{re.escape(host)} +"
            rf"{attempts}  {ISO}  {re.escape(reasons[event])} *"
        )
        assert re.fullmatch(expected, row), row
    assert queue_file.ids["order.created"][:8] not in "\n".join(lines)  # delivered


def test_list_shows_whole_ids_on_request(queue_file: BuiltQueue) -> None:
    lines = ok(dlq("list", "--full-ids", "--db", str(queue_file.path)))
    assert [row.split()[0] for row in lines[2:]] == [queue_file.ids[event] for event in DEAD]


def test_list_fits_an_80_column_terminal(queue_file: BuiltQueue) -> None:
    add_dead_letter(queue_file.path, "a-long-reason", reason="because " * 40)
    lines = ok(dlq("list", "--db", str(queue_file.path), columns=80))
    assert all(len(line) <= 80 for line in lines), lines
    # Too narrow for a readable reason column: each reason is wrapped under its row.
    header = lines[[line.split()[:2] for line in lines].index(["id", "event"])]
    assert header.split() == ["id", "event", "target", "host", "attempts", "dead", "at", "(UTC)"]
    rows = [line for line in lines if re.search(ISO, line)]  # times are never cut
    assert [row.split()[0] for row in rows] == [
        *(queue_file.ids[e][:8] for e in DEAD),
        "a-long-r",
    ]
    reasons = lines[lines.index(rows[-1]) + 1 :]
    assert all(line.startswith(" " * 10) for line in reasons)
    assert " ".join(" ".join(reasons).split()).startswith("because because")
    assert reasons[-1].rstrip().endswith("…")


def test_list_cuts_long_reasons(queue_file: BuiltQueue) -> None:
    add_dead_letter(queue_file.path, "a-long-reason", reason="because " * 40)
    row = ok(dlq("list", "--db", str(queue_file.path)))[-1]
    shown = row.split("Z  ", 1)[1].rstrip()
    assert len(shown) == dlq_module.REASON_WIDTH
    assert shown.endswith("…")


def test_ids_are_cut_to_a_length_that_keeps_them_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a short path: a long one would wrap the table's title
    db = Path("queue.sqlite3")
    for delivery_id in ("0123456789-a", "0123456789-b", "ffff"):
        add_dead_letter(db, delivery_id)
    rows = ok(dlq("list", "--db", str(db)))[2:]
    assert [row.split()[0] for row in rows] == ["0123456789-a", "0123456789-b", "ffff"]
    assert dlq_module.unique_prefixes(["abcdefghij1", "abcdefghij2"]) == [
        "abcdefghij1",
        "abcdefghij2",
    ]
    assert dlq_module.unique_prefixes(["abcdefgh-1", "abcdefgX-2"]) == ["abcdefgh", "abcdefgX"]
    assert dlq_module.unique_prefixes([]) == []


def test_list_of_a_queue_without_dead_letters(tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite3"
    SQLiteQueue(db).close()
    assert ok(dlq("list", "--db", str(db))) == [f"no dead letters in {db}"]


def test_hostile_text_is_escaped_in_the_list(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    add_dead_letter(db, "evil\x1b[2J", reason="reason \x1b]0;pwned\x07")
    output = "\n".join(ok(dlq("list", "--db", str(db))))
    assert "\x1b" not in output
    assert "\x07" not in output
    assert "evil\\x1b[2J" in output


# -- show ----------------------------------------------------------------------------------


def test_show_gives_the_attempts_as_a_timeline(queue_file: BuiltQueue) -> None:
    delivery_id = queue_file.ids["payment.failed"]
    lines = ok(dlq("show", delivery_id, "--db", str(queue_file.path)))
    text = "\n".join(lines)
    assert lines[0].rstrip() == f"dead letter  {delivery_id}"
    assert lines[1].rstrip() == "event        payment.failed"
    assert lines[2].rstrip() == f"target       {queue_file.url}"
    assert re.fullmatch(rf"dispatched   {ISO_MS} *", lines[3])
    first = re.search(rf"\b1\W+({ISO_MS})\W+\+0\.000s\W+503\W+\d+ ms\W+retry\b", text)
    second = re.search(rf"\b2\W+({ISO_MS})\W+\+(\d+\.\d{{3}})s\W+503\W+\d+ ms\W+dead\b", text)
    assert first is not None, text
    assert second is not None, text
    assert first.group(1) <= second.group(1)
    assert float(second.group(2)) >= 0.01  # the policy's delay before the retry
    assert re.search(rf"^dead-lettered {ISO_MS} after 2 attempts$", text, re.MULTILINE)
    assert "reason: gave up after 2 attempts; the last: status 503" in lines
    assert lines[-1] == "last response: (empty)"


def test_show_prints_the_last_response_escaped(queue_file: BuiltQueue) -> None:
    lines = ok(dlq("show", queue_file.ids["order.refunded"], "--db", str(queue_file.path)))
    text = "\n".join(lines)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert lines[-3:] == [
        "last response:",
        "  bad payload \\x1b[2J\\x1b]0;pwned\\x07",
        "  second line",
    ]
    assert "reason: the receiver answered 400, a client error: not retried" in lines
    assert re.search(r"\b1\W+\S+\W+\+0\.000s\W+400\W+\d+ ms\W+dead\b", text)


def test_show_cuts_a_long_response(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    add_dead_letter(db, "long-response", excerpt="x" * 5000)
    lines = ok(dlq("show", "long-response", "--db", str(db)))
    assert lines[-2] == f"last response (first {dlq_module.EXCERPT_CHARS} characters):"
    assert lines[-1] == "  " + "x" * dlq_module.EXCERPT_CHARS


@pytest.mark.parametrize("length", [4, 8, 13])
def test_show_accepts_a_unique_prefix(queue_file: BuiltQueue, length: int) -> None:
    delivery_id = queue_file.ids["customer.deleted"]
    lines = ok(dlq("show", delivery_id[:length].upper(), "--db", str(queue_file.path)))
    assert lines[0].rstrip() == f"dead letter  {delivery_id}"


def test_show_refuses_unknown_ambiguous_and_live_ids(queue_file: BuiltQueue) -> None:
    db = str(queue_file.path)
    assert error_line(dlq("show", "no-such-id", "--db", db), 1) == (
        f"Error: no dead letter with id no-such-id in {db}"
    )
    short = queue_file.ids["payment.failed"][:3]  # shorter than a prefix may be
    assert "no dead letter with id" in error_line(dlq("show", short, "--db", db), 1)
    delivered = queue_file.ids["order.created"]
    assert error_line(dlq("show", delivered, "--db", db), 1) == (
        f"Error: delivery {delivered} is not dead-lettered (it is pending, in flight, "
        "delivered or already redriven)"
    )
    add_dead_letter(queue_file.path, "abcd-1")
    add_dead_letter(queue_file.path, "abcd-2")
    assert error_line(dlq("show", "abcd", "--db", db), 1) == (
        "Error: abcd is the start of 2 dead letters' ids: give more of it"
    )
    assert ok(dlq("show", "abcd-2", "--db", db))[0].rstrip() == "dead letter  abcd-2"


def test_show_needs_an_id(queue_file: BuiltQueue) -> None:
    assert "Missing argument 'ID'" in error_line(dlq("show", "--db", str(queue_file.path)), 2)


# -- redrive -------------------------------------------------------------------------------


def test_redrive_one(queue_file: BuiltQueue) -> None:
    db = str(queue_file.path)
    delivery_id = queue_file.ids["order.refunded"]
    assert ok(dlq("redrive", delivery_id[:8], "--db", db)) == [
        f"redrove 1 dead letter: {delivery_id} (order.refunded), due now"
    ]
    assert [letter.id for letter in dead_letters(queue_file.path)] == [
        queue_file.ids["customer.deleted"],
        queue_file.ids["payment.failed"],
    ]
    assert counts(queue_file.path) == QueueCounts(
        pending=1, due=1, in_flight=0, delivered=1, dead=2
    )
    assert "is not dead-lettered" in error_line(dlq("redrive", delivery_id, "--db", db), 1)


def test_redrive_an_unknown_id(queue_file: BuiltQueue) -> None:
    db = str(queue_file.path)
    assert error_line(dlq("redrive", "nope", "--db", db), 1) == (
        f"Error: no dead letter with id nope in {db}"
    )
    assert counts(queue_file.path).dead == 3


@pytest.mark.parametrize(
    ("since", "redriven"),
    [
        ("1h", 3),
        ("1w", 3),
        ("90s", 3),
        ("2000-01-01T00:00:00Z", 3),
        ("2000-01-01T00:00:00", 3),  # no offset: UTC
        ("2000-01-01", 3),
        ("2999-01-01T00:00:00+02:00", 0),
    ],
)
def test_redrive_since(queue_file: BuiltQueue, since: str, redriven: int) -> None:
    lines = ok(dlq("redrive", "--since", since, "--db", str(queue_file.path)))
    plural = "" if redriven == 1 else "s"
    assert re.fullmatch(
        rf"redrove {redriven} dead letter{plural} \(dead-lettered since {ISO}\)", lines[0]
    )
    assert lines == lines[:1]
    assert counts(queue_file.path).dead == 3 - redriven


def test_redrive_since_a_moment_between_dead_letters(queue_file: BuiltQueue) -> None:
    letters = dead_letters(queue_file.path)
    cutoff = (letters[1].dead_at + letters[2].dead_at) / 2  # the 503 died >= 10 ms later
    since = datetime.fromtimestamp(cutoff, tz=timezone.utc).isoformat()
    ok(dlq("redrive", "--since", since, "--db", str(queue_file.path)))
    assert [letter.id for letter in dead_letters(queue_file.path)] == [
        queue_file.ids["order.refunded"],
        queue_file.ids["customer.deleted"],
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "give the ID of a dead letter, or --since TIME"),
        (["some-id", "--since", "1h"], "not both"),
        (["--since", "yesterday"], "'yesterday' is neither an ISO-8601 time"),
        (["--since", "1y"], "is neither"),
        (["--since", "10"], "is neither"),
        (["--since", ""], "is neither"),
        (["--since", "2026-13-01T00:00:00Z"], "is neither"),
    ],
)
def test_redrive_usage_errors(queue_file: BuiltQueue, args: list[str], expected: str) -> None:
    assert expected in error_line(dlq("redrive", *args, "--db", str(queue_file.path)), 2)
    assert counts(queue_file.path).dead == 3


# -- files that are not queues -------------------------------------------------------------

COMMANDS = [
    ["list"],
    ["show", "some-id"],
    ["redrive", "some-id"],
    ["redrive", "--since", "1h"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_queue_file_is_not_created(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "missing.sqlite3"
    line = error_line(dlq(*command, "--db", str(db)), 1)
    assert line.startswith(f"Error: no queue at {db}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_another_applications_database_is_refused_and_left_alone(
    tmp_path: Path, command: list[str]
) -> None:
    db = tmp_path / "app.sqlite3"
    connection = sqlite3.connect(db)
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()
    before = db.read_bytes()
    assert "not a webhook-kit queue" in error_line(dlq(*command, "--db", str(db)), 1)
    assert db.read_bytes() == before


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    db.write_bytes(b"not the pages of a database\n" * 100)
    assert "queue.sqlite3" in error_line(dlq("list", "--db", str(db)), 1)


def test_help() -> None:
    for args in (["--help"], ["list", "--help"], ["show", "--help"], ["redrive", "--help"]):
        assert ok(dlq(*args))


# -- --since -------------------------------------------------------------------------------

NOW = 1_800_000_000.0


@given(amount=st.integers(0, 10**6), unit=st.sampled_from("smhdwSMHDW"))
def test_since_an_age(amount: int, unit: str) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit.lower()]
    assert dlq_module.parse_since(f"{amount}{unit}", NOW) == NOW - amount * seconds


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1),  # hypothesis adds the zone
        max_value=datetime(2999, 1, 1),
        timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-5, minutes=-30))]),
    )
)
def test_since_an_iso_time(moment: datetime) -> None:
    assert dlq_module.parse_since(moment.isoformat(), NOW) == moment.timestamp()
    if moment.utcoffset() == timedelta(0):
        z_form = moment.replace(tzinfo=None).isoformat() + "Z"
        assert dlq_module.parse_since(z_form, NOW) == moment.timestamp()
        naive = moment.replace(tzinfo=None).isoformat()
        assert dlq_module.parse_since(naive, NOW) == moment.timestamp()
