"""The errors a SQLite queue file raises: it cannot be used, or a newer release wrote it."""

from __future__ import annotations

from ..errors import WebhookKitError

__all__ = ["QueueStorageError", "SchemaError"]


class QueueStorageError(WebhookKitError):
    """The queue's database cannot be opened, read or written (path, permissions, corruption),
    or the file is not a webhook-kit queue (another application's database, not a database)."""


class SchemaError(WebhookKitError):
    """The queue was written by a newer webhook-kit, whose schema this release does not know."""
