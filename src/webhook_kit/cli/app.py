"""The command group, and how errors a person can cause are reported: one line, exit 1."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .._version import __version__
from ..errors import WebhookKitError
from ..fix_hints import use_command_line_hints

__all__ = ["DEFAULT_DB", "cli", "main", "one_line", "person_errors"]

DEFAULT_DB = Path("webhook-kit.sqlite3")
"""The queue file used when ``--db`` is not given: in the current directory."""

F = TypeVar("F", bound=Callable[..., Any])


def person_errors(command: F) -> F:
    """Report `WebhookKitError`s (bad URL, secret, unreadable database …) as one clear line."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except WebhookKitError as exc:
            raise click.ClickException(one_line(str(exc))) from None

    return wrapper  # type: ignore[return-value]


# Where a database driver's message goes on to quote the statement it refused.
_STATEMENT_QUOTE = re.compile(r"\s*(LINE \d+:|\^)")


def one_line(message: str) -> str:
    """``message`` on one line: a driver's multi-line message (libpq's "Is the server running
    …?" hint, the quoted statement under an SQL error) would otherwise spill over several."""
    if "\n" not in message:
        return message
    lines = []
    for line in message.splitlines():
        if _STATEMENT_QUOTE.match(line):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines)


def log_handler() -> logging.Handler:
    """A handler writing one line per record on stderr (an attempt's line says it all: its
    fields stay on the record, for handlers of your own)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def configure_logging(verbose: bool) -> None:
    """One line per record on stderr."""
    root = logging.getLogger("webhook_kit")
    root.handlers[:] = [log_handler()]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="webhook-kit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """webhook-kit: send signed webhooks through a durable queue, and check them.

    Start with `webhook-kit demo`.
    """
    # Errors and dead letters name the flag to change, not the Python call, while a command
    # runs (and only then: a test may invoke the command in its own process).
    use_command_line_hints(True)
    ctx.call_on_close(lambda: use_command_line_hints(False))


def main() -> None:
    """The console-script entry point."""
    from . import (  # noqa: F401 (registers the commands)
        demo,
        dlq,
        endpoints,
        listen,
        schema,
        send,
        show,
        status,
        verify_command,
        worker,
    )

    cli(prog_name="webhook-kit")
