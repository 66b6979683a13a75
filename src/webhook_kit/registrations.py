"""What this process keeps for each queue it sends through: the delivery handler and secrets.

A queue persists, schedules and redelivers; it holds nothing of the sending side. What
`WebhookSubscription.register` installs (the `DeliveryHandler`) and the secrets of deliveries
dispatched here (`SecretMemory`, for formats signed at each attempt) are kept here instead, per
queue object, by ``dispatch``, `Worker`, `DeliveryHandler` and the command line. A queue object
that is dropped takes its entry with it (a weak reference), so no queue outlives its users
because of this module.

Usage (what a test reads back):

    memory = secret_memory_of(queue)    # the secrets dispatch kept for deliveries
    handler = handler_of(queue)         # None until `WebhookSubscription.register(queue)`
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .keys import SecretOrSecrets

if TYPE_CHECKING:
    from .delivery import DeliveryHandler

__all__ = ["Registration", "SecretMemory", "handler_of", "registration_of", "secret_memory_of"]


class SecretMemory:
    """Secrets held in this process's memory for deliveries dispatched here. Never persisted.

    Timestamped formats are signed at each attempt, so their worker needs the secret; a worker in
    the same process finds it here, one in another process asks the ``secrets`` resolver given
    to `WebhookSubscription.register`.
    """

    def __init__(self) -> None:
        self._secrets: dict[str, SecretOrSecrets] = {}
        self._lock = threading.Lock()

    def remember(self, delivery_id: str, secret: SecretOrSecrets) -> None:
        """Keep ``secret`` for ``delivery_id``."""
        with self._lock:
            self._secrets[delivery_id] = secret

    def get(self, delivery_id: str) -> SecretOrSecrets | None:
        """The secret kept for ``delivery_id``, if any."""
        return self._secrets.get(delivery_id)

    def forget(self, delivery_id: str) -> None:
        """Drop the secret (the delivery ended, or its dispatch failed)."""
        with self._lock:
            self._secrets.pop(delivery_id, None)

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"<SecretMemory: {len(self._secrets)} deliveries>"


@dataclass(eq=False, slots=True)
class Registration:
    """What this process keeps for one queue.

    Attributes:
        handler: the delivery handler `WebhookSubscription.register` installed, if any.
        secret_memory: the secrets of deliveries dispatched to the queue in this process.
    """

    handler: DeliveryHandler | None = None
    secret_memory: SecretMemory = field(default_factory=SecretMemory)


class _ByIdentity:
    """Entries keyed by the queue object itself (not its ``==``), weakly."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[object], Registration]] = {}
        # Reentrant: a collection run while this thread holds it may drop a dead queue's entry.
        self._lock = threading.RLock()

    def get(self, queue: object) -> Registration:
        key = id(queue)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is queue:
            return entry[1]
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is queue:
                return entry[1]
            try:
                reference = weakref.ref(queue, lambda _: self._drop(key))
            except TypeError:
                raise TypeError(
                    f"a {type(queue).__name__} cannot be registered: a queue must be an object "
                    "that can be weakly referenced"
                ) from None
            registration = Registration()
            self._entries[key] = (reference, registration)
            return registration

    def _drop(self, key: int) -> None:
        with self._lock:
            entry = self._entries.get(key)
            # Only if it is still the dead queue's: its id may already belong to a new one.
            if entry is not None and entry[0]() is None:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


_registrations = _ByIdentity()


def registration_of(queue: object) -> Registration:
    """What this process keeps for ``queue`` (made empty on first use, then always the same).

    Raises:
        TypeError: ``queue`` cannot be weakly referenced (every webhook-kit queue can).
    """
    return _registrations.get(queue)


def handler_of(queue: object) -> DeliveryHandler | None:
    """The delivery handler `WebhookSubscription.register` installed for ``queue``, if any."""
    return _registrations.get(queue).handler


def secret_memory_of(queue: object) -> SecretMemory:
    """The secrets kept in this process for deliveries dispatched to ``queue``."""
    return _registrations.get(queue).secret_memory
