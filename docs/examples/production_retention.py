"""How long a SQLite queue keeps delivered jobs, and pruning from a maintenance job."""

from __future__ import annotations

import os

from webhook_kit import Clock, SQLiteQueue

RETENTION = 3 * 24 * 3600.0
"""Keep delivered jobs, and their attempts, for three days (the default is seven)."""


def open_queue(path: str | os.PathLike[str], *, clock: Clock | None = None) -> SQLiteQueue:
    """``clock`` is for tests (a `VirtualClock`); leave it out in production."""
    return SQLiteQueue(path, retention=RETENTION, clock=clock)


async def nightly_prune(queue: SQLiteQueue) -> int:
    # Workers prune as they record outcomes (at most once a minute); a queue that no worker
    # runs on, or a quiet one, is pruned here. Dead letters are kept until redriven.
    return await queue.prune()
