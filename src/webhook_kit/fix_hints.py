"""How a message names its fix: the Python call, or the command-line option when the
``webhook-kit`` command is what runs.

An error raised (or a dead letter's reason recorded) deep in the library tells its reader what
to change. A program's author changes a call; an operator running ``webhook-kit worker``
changes a flag. The command switches this module to command-line hints once, at start-up, so
every message it prints, logs or stores names the flag instead.
"""

from __future__ import annotations

__all__ = ["fix", "use_command_line_hints"]

_command_line = False


def use_command_line_hints(on: bool = True) -> None:
    """Make `fix` name command-line fixes (the ``webhook-kit`` command calls this)."""
    global _command_line
    _command_line = on


def fix(python: str, command_line: str) -> str:
    """``command_line`` while the ``webhook-kit`` command runs, else ``python``."""
    return command_line if _command_line else python
