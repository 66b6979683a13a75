"""The errors every queue raises, under one base: `QueueError`.

A caller that stores or leases deliveries catches `QueueError` whatever the backend; the
subclasses say what went wrong, never which database was behind it.
"""

from __future__ import annotations

from ..errors import WebhookKitError

__all__ = ["QueueError", "QueueStorageError", "SchemaError", "UnknownDeliveryError"]


class QueueError(WebhookKitError):
    """Something a queue was asked to do could not be done (the base of every queue error)."""


class QueueStorageError(QueueError):
    """The queue's database cannot be opened, reached, read or written (path, permissions,
    corruption, a server that does not answer), or it is not a webhook-kit queue (another
    application's database or schema)."""


class SchemaError(QueueError):
    """The queue was written by a newer webhook-kit, whose schema this release does not know."""


class UnknownDeliveryError(QueueError, KeyError):
    """No delivery with that id is in the state the call needs (e.g. dead, for redrive)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown delivery"
