"""Tests of the ``webhook-kit`` command, and what they share.

Commands run in process through click's ``CliRunner`` where only the output matters, and as real
processes (`run_cli`, `CLI`) where exit codes, tracebacks and signals do. Every process is
bounded by a timeout.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio
import click
from click.testing import CliRunner, Result

from webhook_kit.queues import SQLiteQueue

T = TypeVar("T")

CLI = [sys.executable, "-c", "from webhook_kit.cli import main; main()"]
"""The command as a real process (what the console script runs)."""

TIMEOUT = 60.0
"""The longest any process of these tests may run."""

# Variables that would change what the command prints or which secret it uses.
_UNSET = ("WEBHOOK_KIT_SECRET", "FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE")


def cli_group() -> click.Group:
    """The ``webhook-kit`` group with its commands registered (as ``main()`` does: each command
    registers itself when its module is imported)."""
    import webhook_kit.cli
    from webhook_kit.cli import app

    for module in pkgutil.iter_modules(webhook_kit.cli.__path__):
        importlib.import_module(f"webhook_kit.cli.{module.name}")
    return app.cli


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a process: no secret or forced colours inherited, wide and UTF-8."""
    env = {name: value for name, value in os.environ.items() if name not in _UNSET}
    env.update(COLUMNS="200", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    env.update(extra)
    return env


def invoke(
    args: Sequence[str], *, env: dict[str, str | None] | None = None, input: str | None = None
) -> Result:
    """Run ``webhook-kit ARGS`` in this process (``input``: what it reads from stdin)."""
    environment: dict[str, str | None] = dict.fromkeys(_UNSET)
    environment.update(COLUMNS="200", NO_COLOR="1")
    environment.update(env or {})
    return CliRunner().invoke(
        cli_group(), list(args), prog_name="webhook-kit", env=environment, input=input
    )


def run_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``webhook-kit ARGS`` as a process in ``cwd``; return it once it has exited.

    Raises:
        subprocess.TimeoutExpired: it ran for longer than ``timeout`` (and was killed).
    """
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def on_queue(db: Path, call: Callable[[SQLiteQueue], Awaitable[T]]) -> T:
    """Open the queue file ``db``, run ``await call(queue)`` and close it again."""
    queue = SQLiteQueue(db)
    try:

        async def run() -> T:
            return await call(queue)

        return anyio.run(run)
    finally:
        queue.close()
