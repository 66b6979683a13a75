"""Queues: the protocol every backend implements, and the backends."""

from __future__ import annotations

from .memory import MemoryQueue
from .protocol import Claim, QueueCounts, SecretMemory, UnknownDeliveryError, WebhookQueue

__all__ = [
    "Claim",
    "MemoryQueue",
    "QueueCounts",
    "SecretMemory",
    "UnknownDeliveryError",
    "WebhookQueue",
]
