"""Moving from the procrastinate adapter: the deliveries its workers have not taken yet.

Run once, with the old (procrastinate) workers stopped and the new schema applied. The jobs are
moved in one transaction: each is marked ``cancelled`` in procrastinate and enqueued in the
native queue with its own delivery id, body and due time, or, if anything fails, neither.
Running it again moves nothing twice: a moved job is no longer ``todo``.
"""

from __future__ import annotations

import psycopg

from webhook_kit import PostgresQueue, WebhookEvent

# The adapter stored each delivery as one job of this task, the event as JSON in its arguments.
_TAKE_PENDING = """
UPDATE procrastinate_jobs SET status = 'cancelled'
WHERE task_name = 'webhook_kit.deliver' AND status = 'todo'
RETURNING args->>'event', extract(epoch FROM scheduled_at)::float8
"""


async def move_pending(queue: PostgresQueue, conninfo: str) -> list[str]:
    """Move every delivery procrastinate has not started into ``queue``; return their ids."""
    moved: list[str] = []
    async with (
        await psycopg.AsyncConnection.connect(conninfo) as connection,
        connection.transaction(),
    ):
        cursor = await connection.execute(_TAKE_PENDING)
        for event_json, scheduled_at in await cursor.fetchall():
            event = WebhookEvent.from_json(event_json)
            # not_before=None: due now. Attempts start afresh in the new queue.
            await queue.enqueue(event, not_before=scheduled_at, connection=connection)
            moved.append(event.id)
    return moved
