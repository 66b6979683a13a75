"""``webhook-kit demo``: the whole job in one command, and nothing left behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webhook_kit.cli.demo import BATCH
from webhook_kit.queues import SQLiteQueue

from . import clean_env, invoke, on_queue, run_cli

# What the receiver's scripts make of the events that cannot be delivered.
DEAD = {
    "customer.deleted": "the receiver answered 410 Gone",
    "order.refunded": "the receiver answered 400, a client error",
    "payment.failed": "gave up after 4 attempts; the last: status 503",
}
SUMMARY = re.compile(
    r"(\d+) delivered, (\d+) dead-lettered, (\d+) requests received, "
    r"(\d+) signatures verified, (\d+) failed, in [\d.]+s"
)


def table(output: str, title: str) -> list[list[str]]:
    """The body rows of the rich table titled ``title``, wrapped cells joined again."""
    lines = output.splitlines()
    start = next((n for n, line in enumerate(lines) if line.strip() == title), None)
    assert start is not None, f"no table {title!r} in:\n{output}"
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        if not line.startswith("│"):
            continue  # the frame and the header
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if rows and not cells[0]:  # a wrapped row goes on
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return rows


def summary(output: str) -> dict[str, int]:
    match = SUMMARY.search(" ".join(output.split()))
    assert match is not None, f"no summary line in:\n{output}"
    names = ("delivered", "dead", "received", "verified", "failed")
    return dict(zip(names, map(int, match.groups()), strict=True))


def check_report(output: str) -> None:
    """Every event of the batch is in the Deliveries table; the dead letters are the scripted."""
    deliveries = table(output, "Deliveries")
    assert [row[0] for row in deliveries] == BATCH
    ids = [row[1] for row in deliveries]
    assert all(re.fullmatch(r"[0-9a-f]{8}", short) for short in ids), ids
    assert len(set(ids)) == len(BATCH)
    outcomes = {row[0]: row[3] for row in deliveries}
    assert {event for event, outcome in outcomes.items() if outcome == "dead"} == set(DEAD)
    assert {outcome for event, outcome in outcomes.items() if event not in DEAD} == {"delivered"}

    dead_letters = table(output, "Dead letters")
    assert sorted(row[0] for row in dead_letters) == sorted(DEAD)
    for event, short_id, _attempts, reason in dead_letters:
        assert DEAD[event] in reason
        assert short_id in ids
    assert {row[0]: row[2] for row in dead_letters}["payment.failed"] == "4"

    totals = summary(output)
    assert totals["delivered"] + totals["dead"] == len(BATCH)
    assert totals["dead"] == len(DEAD)
    assert totals["failed"] == 0
    assert totals["verified"] == totals["received"] > len(BATCH)  # retries were made


def queue_directory(output: str) -> Path:
    """The directory the demo says its queue file is in."""
    match = re.search(r"queue (\S+)/demo\.sqlite3", " ".join(output.split()))
    assert match is not None, output
    return Path(match.group(1))


def test_demo_delivers_a_batch_and_leaves_nothing_behind(tmp_path: Path) -> None:
    # The process's own TMPDIR: what other runs on the machine leave in /tmp does not count.
    base = tmp_path / "tmp"
    base.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    completed = run_cli(["demo"], cwd=work, env=clean_env(TMPDIR=str(base)))
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    check_report(completed.stdout)
    assert "signatures verified, 0 failed" in " ".join(completed.stdout.split())
    # The queue was in a temporary directory under TMPDIR; it is gone, and so is everything else.
    directory = queue_directory(completed.stdout)
    assert directory.parent == base
    assert directory.name.startswith("webhook-kit-demo-")
    assert list(base.iterdir()) == []
    assert list(work.iterdir()) == []


def test_demo_tmp_dir_is_where_its_temporary_directory_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "base"
    base.mkdir()
    result = invoke(["demo", "--tmp-dir", str(base)])
    assert result.exit_code == 0, result.output
    assert queue_directory(result.stdout).parent == base
    assert list(base.iterdir()) == []
    assert [path.name for path in tmp_path.iterdir()] == ["base"]


def test_demo_tmp_dir_must_exist(tmp_path: Path) -> None:
    result = invoke(["demo", "--tmp-dir", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "--tmp-dir" in result.output
    assert "does not exist" in result.output


def test_demo_keep_keeps_the_queue_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    keep = tmp_path / "kept"
    keep.mkdir()
    result = invoke(["demo", "--keep", str(keep)])
    assert result.exit_code == 0, result.output
    check_report(result.stdout)
    assert [path.name for path in tmp_path.iterdir()] == ["kept"]
    assert (keep / "demo.sqlite3").is_file()

    async def inspect(queue: SQLiteQueue) -> tuple[int, int, int, list[str]]:
        counts = await queue.counts()
        dead = await queue.list_dead_letters()
        return counts.delivered, counts.dead, counts.pending, [d.event.event for d in dead]

    delivered, dead, pending, dead_events = on_queue(keep / "demo.sqlite3", inspect)
    assert (delivered + dead, pending) == (len(BATCH), 0)
    assert sorted(dead_events) == sorted(DEAD)


def test_demo_keep_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(["demo", "--keep", "kept/queue"])
    assert result.exit_code == 2
    assert "Invalid value for '--keep': Directory 'kept/queue' does not exist." in result.output
    assert list(tmp_path.iterdir()) == []  # not created


def test_demo_keep_refuses_a_directory_with_a_demo_queue(tmp_path: Path) -> None:
    # An earlier run's deliveries would be counted with this run's: the person chooses.
    queue = SQLiteQueue(tmp_path / "demo.sqlite3")
    queue.close()
    before = (tmp_path / "demo.sqlite3").read_bytes()
    result = invoke(["demo", "--keep", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: Invalid value for --keep: {tmp_path / 'demo.sqlite3'} is there already "
        "(an earlier demo's queue): remove it or give another directory"
    )
    assert (tmp_path / "demo.sqlite3").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["demo.sqlite3"]
