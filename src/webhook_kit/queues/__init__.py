"""Queues: the contract every backend implements (`DeliveryStore`, `LeaseQueue`), and the
backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import QueueError, QueueStorageError, SchemaError, UnknownDeliveryError
from .memory import MemoryQueue
from .protocol import (
    DEFAULT_RETENTION,
    UNLIMITED,
    Claim,
    ClaimLimits,
    DeliveryState,
    DeliveryStore,
    EndpointRecord,
    LeaseQueue,
    QueueCounts,
    WebhookQueue,
)
from .sqlite import SQLiteQueue
from .sqlite_schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from .postgres import PostgresQueue

__all__ = [
    "DEFAULT_RETENTION",
    "SCHEMA_VERSION",
    "UNLIMITED",
    "Claim",
    "ClaimLimits",
    "DeliveryState",
    "DeliveryStore",
    "EndpointRecord",
    "LeaseQueue",
    "MemoryQueue",
    "PostgresQueue",
    "QueueCounts",
    "QueueError",
    "QueueStorageError",
    "SQLiteQueue",
    "SchemaError",
    "UnknownDeliveryError",
    "WebhookQueue",
]


def __getattr__(name: str) -> object:
    # PostgresQueue is imported on first use: psycopg is an optional dependency (the extra
    # `postgres`), and importing it costs every user of the other queues.
    if name == "PostgresQueue":
        from .postgres import PostgresQueue

        globals()[name] = PostgresQueue
        return PostgresQueue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
