"""Dispatch inside the caller's transaction: the queue call that joins it, the connection it takes.

`WebhookSubscription.dispatch` and `dispatch_sync` accept ``connection=``: the delivery is
written on that connection, inside whatever transaction is open on it, so it is stored if and
only if the caller's transaction commits (the outbox pattern without an outbox table). This
module decides, before anything is built or stored, whether the queue can do that and whether
the connection is of the kind the call needs, and says what to pass instead when it is not.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import WebhookEvent
    from .queues.protocol import DeliveryStore

__all__ = ["async_enqueue_on", "sync_enqueue_on"]

# What a framework hands out is not the driver's connection; these say where the driver's is.
_PSYCOPG2 = (
    "webhook-kit writes with psycopg 3, not psycopg2: install psycopg (Django 4.2 and newer then "
    "uses it) or use SQLAlchemy's postgresql+psycopg dialect"
)
_ASYNC_HINTS = {
    "psycopg2": _PSYCOPG2,
    "asyncpg": "webhook-kit writes with psycopg 3, not asyncpg: use SQLAlchemy's "
    "postgresql+psycopg dialect, or open a psycopg.AsyncConnection",
    "sqlalchemy": "pass (await conn.get_raw_connection()).driver_connection",
    "django": "Django's connection is synchronous: call dispatch_sync(..., "
    "connection=django.db.connection.connection) inside transaction.atomic()",
}
_SYNC_HINTS = {
    "psycopg2": _PSYCOPG2,
    "sqlalchemy": "pass conn.connection.driver_connection",
    "django": "pass django.db.connection.connection inside transaction.atomic()",
}


def async_enqueue_on(
    queue: DeliveryStore, connection: object
) -> Callable[[WebhookEvent], Awaitable[None]]:
    """The call that stores an event on ``connection``, in its transaction, for `dispatch`.

    Raises:
        TypeError: ``queue`` cannot enqueue inside a caller's transaction, or ``connection``
            is not an async connection (a sync psycopg ``Connection``, or a framework's
            connection object instead of the driver's); the message says what to pass.
    """
    enqueue: Callable[..., Awaitable[None]] = queue.enqueue
    if not _takes_connection(enqueue):
        _refuse(queue)
    _check_connection(connection, sync=False)
    return functools.partial(enqueue, connection=connection)


def sync_enqueue_on(queue: DeliveryStore, connection: object) -> Callable[[WebhookEvent], None]:
    """The call that stores an event on ``connection``, in its transaction, for `dispatch_sync`.

    Raises:
        TypeError: ``queue`` cannot enqueue inside a caller's transaction, or ``connection``
            is not a sync connection (a psycopg ``AsyncConnection``, or a framework's
            connection object instead of the driver's); the message says what to pass.
    """
    enqueue: Callable[..., None] = queue.enqueue_sync
    if not _takes_connection(enqueue):
        _refuse(queue)
    _check_connection(connection, sync=True)
    return functools.partial(enqueue, connection=connection)


def _refuse(queue: object) -> Any:
    raise TypeError(
        f"{type(queue).__name__} cannot enqueue inside your transaction (connection=); "
        "PostgresQueue can, on a psycopg 3 connection"
    )


def _takes_connection(method: Callable[..., object]) -> bool:
    return _accepts_connection(getattr(method, "__func__", method))


@functools.lru_cache(maxsize=64)
def _accepts_connection(function: Callable[..., object]) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin or an object without a signature
        return False
    parameter = parameters.get("connection")
    return parameter is not None and parameter.kind in (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


def _check_connection(connection: object, *, sync: bool) -> None:
    call = "dispatch_sync" if sync else "dispatch"
    # psycopg is never imported here: a caller holding one of its connections has imported it.
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        if sync and isinstance(connection, psycopg.AsyncConnection):
            raise TypeError(
                "dispatch_sync(..., connection=) takes a sync psycopg.Connection, not a "
                "psycopg.AsyncConnection: use `await dispatch(..., connection=...)` for it"
            )
        if not sync and isinstance(connection, psycopg.Connection):
            raise TypeError(
                "dispatch(..., connection=) takes a psycopg.AsyncConnection, not a sync "
                "psycopg.Connection: use dispatch_sync(..., connection=...) for it"
            )
    framework = type(connection).__module__.partition(".")[0]
    hint = (_SYNC_HINTS if sync else _ASYNC_HINTS).get(framework)
    if hint is not None:
        raise TypeError(
            f"{call}(..., connection=) cannot take a "
            f"{type(connection).__module__}.{type(connection).__qualname__}: {hint}"
        )
