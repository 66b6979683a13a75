"""Looking after the dead letters of a SQLite queue file, from a script or a shell.

    python production_dead_letters.py webhooks.sqlite3                  # list them
    python production_dead_letters.py webhooks.sqlite3 --redrive ID     # send one again
    python production_dead_letters.py webhooks.sqlite3 --since 3600     # the last hour's

The workers running on the file pick redriven deliveries up on their next poll (within a second).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from webhook_kit import SQLiteQueue


async def list_dead_letters(queue: SQLiteQueue) -> list[str]:
    lines = []
    for dead in await queue.list_dead_letters():
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dead.dead_at))
        lines.append(
            f"{dead.id} {dead.event.event}, dead since {when} after {dead.attempts} "
            f"attempt(s): {dead.reason}"
        )
    return lines


async def redrive_recent(queue: SQLiteQueue, seconds: float) -> int:
    """Send again what died in the last ``seconds``: after a receiver's outage, say."""
    return await queue.redrive_since(time.time() - seconds)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--redrive", metavar="ID", help="send this dead letter again")
    parser.add_argument("--since", type=float, metavar="SECONDS", help="redrive the recent ones")
    args = parser.parse_args(argv)
    queue = SQLiteQueue(args.db)
    try:
        if args.redrive:
            # Same id and body, a fresh set of attempts, due now.
            await queue.redrive(args.redrive)
            print(f"redriven: {args.redrive}")
        elif args.since is not None:
            print(f"redriven: {await redrive_recent(queue, args.since)}")
        else:
            print("\n".join(await list_dead_letters(queue)) or "no dead letters")
    finally:
        queue.close()


if __name__ == "__main__":
    asyncio.run(main())
