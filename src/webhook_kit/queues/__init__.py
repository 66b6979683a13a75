"""Queues: the contract every backend implements (`DeliveryStore`, `LeaseQueue`), and the
backends."""

from __future__ import annotations

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
    JobStore,
    LeaseQueue,
    QueueCounts,
    WebhookQueue,
)
from .sqlite import SQLiteQueue
from .sqlite_schema import SCHEMA_VERSION

__all__ = [
    "DEFAULT_RETENTION",
    "SCHEMA_VERSION",
    "UNLIMITED",
    "Claim",
    "ClaimLimits",
    "DeliveryState",
    "DeliveryStore",
    "EndpointRecord",
    "JobStore",
    "LeaseQueue",
    "MemoryQueue",
    "QueueCounts",
    "QueueError",
    "QueueStorageError",
    "SQLiteQueue",
    "SchemaError",
    "UnknownDeliveryError",
    "WebhookQueue",
]
