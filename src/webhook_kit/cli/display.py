"""How commands show times and untrusted text: UTC throughout, control characters escaped.

Text that came from the network or the queue (paths, event names, response bodies, reasons) is
printed through `printable`: a receiver's response could otherwise move the cursor, recolour or
retitle the operator's terminal with escape sequences.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["elide_middle", "fancy", "make_console", "printable", "utc_clock", "utc_iso", "wrapped"]

# C0 and C1 control characters and DEL; tab and line feed are decided by the caller.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_AND_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char, f"\\x{ord(char):02x}")


def printable(text: str, *, limit: int | None = None, multiline: bool = False) -> str:
    """``text`` with control characters escaped (``\\x1b``), cut to ``limit`` characters.

    Args:
        text: untrusted text.
        limit: the most characters kept; a longer text ends with ``…``.
        multiline: keep line feeds and tabs (for a response body); otherwise they are escaped
            too, so the result is one line.
    """
    pattern = _CONTROL if multiline else _CONTROL_AND_BREAKS
    cleaned = pattern.sub(_escape, text)
    if limit is not None and len(cleaned) > limit:
        return cleaned[: max(limit - 1, 0)] + "…"
    return cleaned


def _utc(epoch: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(epoch, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):  # a time no calendar shows
        return None


def utc_iso(epoch: float, *, milliseconds: bool = False) -> str:
    """Epoch seconds as ISO-8601 in UTC: ``2026-11-28T10:00:00Z`` (or ``…00.123Z``)."""
    moment = _utc(epoch)
    if moment is None:
        return f"{epoch!r} (epoch seconds)"
    timespec = "milliseconds" if milliseconds else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def utc_clock(epoch: float) -> str:
    """Epoch seconds as the UTC time of day, to the millisecond: ``10:00:00.123Z``."""
    return utc_iso(epoch, milliseconds=True).partition("T")[2] or str(epoch)


def make_console(*, stderr: bool = False) -> Console:
    """A rich console for a command's output: no guessed highlighting of numbers and URLs.

    Colours follow rich's rules (none when the output is not a terminal, or ``NO_COLOR`` is
    set). On an output that cannot encode ``✓``, ``→`` or ``…`` (a legacy code page), such
    characters are replaced instead of ending the command with a ``UnicodeEncodeError``; see
    `fancy` for choosing plain ones.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None and not _encodes(stream, _FANCY):
        reconfigure(errors="replace")
    return Console(highlight=False, stderr=stderr)


_FANCY = "✓✗→…"


def fancy(console: Console) -> bool:
    """Whether ``console`` can show ``✓``, ``✗``, ``→`` and ``…``."""
    return _encodes_with(console.encoding, _FANCY)


def _encodes(stream: object, text: str) -> bool:
    return _encodes_with(getattr(stream, "encoding", None) or "utf-8", text)


def _encodes_with(encoding: str, text: str) -> bool:
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def elide_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by replacing its middle with ``…``: both ends of a
    URL or host (the scheme and host, the last path segment) stay readable."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1 + 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def wrapped(text: str, width: int, indent: int) -> list[str]:
    """``text`` wrapped at word boundaries to lines of at most ``width`` characters, each
    indented by ``indent`` spaces (a word longer than a line is broken)."""
    import textwrap

    room = max(width - indent, 10)
    return [" " * indent + line for line in textwrap.wrap(text, room) or [""]]
