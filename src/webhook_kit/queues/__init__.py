"""Queues: the protocol every backend implements, and the backends."""

from __future__ import annotations

from .memory import MemoryQueue
from .protocol import (
    UNLIMITED,
    Claim,
    ClaimLimits,
    EndpointRecord,
    JobStore,
    QueueCounts,
    SecretMemory,
    UnknownDeliveryError,
    WebhookQueue,
)
from .sqlite import DEFAULT_RETENTION, QueueStorageError, SQLiteQueue
from .sqlite_schema import SCHEMA_VERSION, SchemaError

__all__ = [
    "DEFAULT_RETENTION",
    "SCHEMA_VERSION",
    "UNLIMITED",
    "Claim",
    "ClaimLimits",
    "EndpointRecord",
    "JobStore",
    "MemoryQueue",
    "QueueCounts",
    "QueueStorageError",
    "SQLiteQueue",
    "SchemaError",
    "SecretMemory",
    "UnknownDeliveryError",
    "WebhookQueue",
]
