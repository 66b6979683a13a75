"""At 80 columns every command's output stays readable: no line is longer than the terminal,
ids are short, long URLs are elided in the middle, and reasons are wrapped in one column
instead of cut to a few characters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webhook_kit import SQLiteQueue
from webhook_kit.queues.protocol import EndpointRecord

from . import invoke, on_queue
from .queue_files import DEAD, BuiltQueue, build_queue

WIDTH = 80
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
LONG_URL = "https://webhooks.eu-central.customer-with-a-long-name.example/orders"
LONG_REASON = "5 failures in a row (last: connection refused by the host after the TLS handshake)"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltQueue:
    return build_queue(tmp_path_factory.mktemp("narrow") / "queue.sqlite3")


@pytest.fixture
def db(built: BuiltQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    built.copy_to(tmp_path)

    async def save(queue: SQLiteQueue) -> None:
        await queue.save_endpoint(EndpointRecord(LONG_URL, "paused", LONG_REASON, 1e9, 1e9 + 30))
        await queue.save_endpoint(
            EndpointRecord("https://old.example/hooks", "disabled", "answered 410 Gone", 1e9)
        )

    on_queue(tmp_path / "queue.sqlite3", save)
    return Path("queue.sqlite3")


def narrow(*args: str) -> list[str]:
    """The lines the command printed at 80 columns; fails if one is longer.

    ``status``'s heading names the queue file's absolute path and is never wrapped (a path
    broken across lines cannot be pasted back): it is the one line not counted.
    """
    result = invoke(list(args), env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    counted = lines[1:] if args[0] == "status" else lines
    long = [line for line in counted if len(line) > WIDTH]
    assert long == [], "\n".join(lines)
    return [line.rstrip() for line in lines]


def joined(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def test_dlq_list_wraps_reasons_under_short_ids(built: BuiltQueue, db: Path) -> None:
    lines = narrow("dlq", "list", "--db", str(db))
    rows = [line for line in lines if re.search(ISO, line)]
    assert [row.split()[0] for row in rows] == [built.ids[event][:8] for event in DEAD]
    assert [row.split()[1] for row in rows] == DEAD  # event names whole
    text = joined(lines)
    for reason in (
        "the receiver answered 400, a client error",
        "the receiver answered 410 Gone",
        "gave up after 2 attempts; the last: status 503",
    ):
        assert reason in text


def test_status_wraps_an_endpoint_reason_under_the_endpoint(db: Path) -> None:
    lines = narrow("status", "--db", str(db))
    assert f"  paused    {LONG_URL}" in lines  # the reason goes on the next lines
    assert LONG_REASON in joined(lines)
    assert "  next attempt: none pending" in lines


def test_endpoints_list_shows_each_endpoint_whole_and_wraps_reasons(db: Path) -> None:
    lines = narrow("endpoints", "list", "--db", str(db))
    assert LONG_URL in lines  # whole on its own line: what `endpoints enable` takes
    assert "https://old.example/hooks" in lines
    assert LONG_REASON in joined(lines)
    state = lines[lines.index(LONG_URL) + 1]
    assert state.split()[:2] == ["paused", "updated"]
    assert len(re.findall(ISO, state)) == 2  # the update and the probe, whole


def test_an_endpoint_longer_than_the_terminal_is_elided_in_the_middle(db: Path) -> None:
    longer = "https://hooks.example/" + "segment/" * 12 + "last-part"

    async def save(queue: SQLiteQueue) -> None:
        await queue.save_endpoint(EndpointRecord(longer, "disabled", "answered 410 Gone", 1e9))

    on_queue(db, save)
    for command in (["endpoints", "list"], ["status"]):
        lines = narrow(*command, "--db", str(db))
        [shown] = [line for line in lines if "…" in line and "hooks.example" in line]
        assert shown.strip().split()[-1].startswith("https://hooks.example/seg")
        assert shown.rstrip().endswith("last-part")


def test_show_and_dlq_show_fit(built: BuiltQueue, db: Path) -> None:
    delivery_id = built.ids["payment.failed"]
    for command in (["show"], ["dlq", "show"]):
        lines = narrow(*command, delivery_id[:8], "--db", str(db))
        assert delivery_id in joined(lines)
        assert len([line for line in lines if re.search(r"│\s+[12]\s+│", line)]) == 2


@pytest.mark.parametrize(
    ("text", "width", "shown"),
    [
        ("https://example.com/a", 40, "https://example.com/a"),
        ("abcdefghij", 5, "ab…ij"),
        ("abcdefghij", 6, "abc…ij"),
        ("abcdefghij", 1, "…"),
    ],
)
def test_elide_middle(text: str, width: int, shown: str) -> None:
    from webhook_kit.cli.display import elide_middle

    assert elide_middle(text, width) == shown
