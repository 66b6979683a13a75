"""Queues: the protocol every backend implements, and the backends."""

from __future__ import annotations

from .errors import QueueError, QueueStorageError, SchemaError, UnknownDeliveryError
from .memory import MemoryQueue
from .protocol import (
    UNLIMITED,
    Claim,
    ClaimLimits,
    EndpointRecord,
    JobStore,
    QueueCounts,
    SecretMemory,
    WebhookQueue,
)
from .sqlite import DEFAULT_RETENTION, SQLiteQueue
from .sqlite_schema import SCHEMA_VERSION

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
    "QueueError",
    "QueueStorageError",
    "SQLiteQueue",
    "SchemaError",
    "SecretMemory",
    "UnknownDeliveryError",
    "WebhookQueue",
]
