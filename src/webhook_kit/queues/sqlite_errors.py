"""The errors a SQLite queue file raises (kept here for imports of earlier releases)."""

from __future__ import annotations

from .errors import QueueStorageError, SchemaError

__all__ = ["QueueStorageError", "SchemaError"]
