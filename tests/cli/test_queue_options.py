"""How commands name the queue they were given: the option the person used, and a file that
had to be made is said to have been made (a typo in a path must not pass for an empty queue)."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import invoke
from .queue_files import build_queue
from .test_errors import error_line
from .test_worker_command import worker_process

SECRET = "queue-options-secret-of-32-bytes"


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["show", "abcd1234"],
        ["dlq", "list"],
        ["dlq", "show", "abcd1234"],
        ["dlq", "purge", "--yes"],
    ],
)
def test_a_missing_file_given_with_queue_names_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    line = error_line(invoke([*command, "--queue", "sqlite:///typo.sqlite3"]))
    assert line == (
        "Error: no queue at typo.sqlite3: dispatch something first (webhook-kit send …) "
        "or check --queue"
    )
    assert not (tmp_path / "typo.sqlite3").exists()


@pytest.mark.parametrize("command", [["status"], ["dlq", "list"], ["endpoints", "list"]])
def test_a_missing_file_given_with_db_names_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    line = error_line(invoke([*command, "--db", "typo.sqlite3"]))
    assert line == (
        "Error: no queue at typo.sqlite3: dispatch something first (webhook-kit send …) "
        "or check --db"
    )


def test_hints_to_other_commands_use_the_option_given(tmp_path: Path) -> None:
    built = build_queue(tmp_path / "queue.sqlite3")
    url = f"sqlite:///{built.path}"
    result = invoke(["status", "--queue", url])
    assert result.exit_code == 0, result.output
    assert f"see webhook-kit dlq list --queue {url}" in result.stdout


def test_send_says_once_that_it_created_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["send", "https://customer.example/hooks", "--event", "order.created"]
    args += ["--data", "{}", "--secret", SECRET]
    first = invoke([*args, "--queue", "sqlite:///new.sqlite3"])
    assert first.exit_code == 0, first.output
    assert first.stderr.splitlines() == [
        "created a new, empty queue at new.sqlite3 (no file was there; as given to --queue)"
    ]
    second = invoke([*args, "--queue", "sqlite:///new.sqlite3"])
    assert second.exit_code == 0, second.output
    assert second.stderr == ""
    default = invoke(args)
    assert default.stderr.splitlines() == [
        "created a new, empty queue at webhook-kit.sqlite3 (no file was there; the default, "
        "as --db was not given)"
    ]


def test_worker_says_it_created_the_queue_it_was_given(tmp_path: Path) -> None:
    with worker_process(tmp_path, "--db", "typo.sqlite3") as worker:
        worker.wait_until(lambda: "worker started on" in worker.stderr, "the worker's start")
        assert worker.stop() == 0
    lines = worker.stderr.splitlines()
    [created] = [line for line in lines if "created a new, empty queue" in line]
    assert created.endswith(
        " WARNING webhook_kit.worker: created a new, empty queue at typo.sqlite3 "
        "(no file was there; as given to --db)"
    )
    assert lines.index(created) < next(
        n for n, line in enumerate(lines) if "worker started on" in line
    )


def test_a_send_that_fails_leaves_no_new_queue_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["send", "https://customer.example/hooks", "--event", " order.created"]
    line = error_line(invoke([*args, "--data", "{}", "--secret", SECRET, "--db", "new.sqlite3"]))
    assert "event name" in line  # and not a word about a queue that was made
    assert list(tmp_path.iterdir()) == []
