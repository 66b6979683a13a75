"""`VerifiedWebhook`: what a successful verification returns."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from .errors import InvalidPayloadError

__all__ = ["VerifiedWebhook"]


class VerifiedWebhook(NamedTuple):
    """A webhook whose signature (and timestamp, where the scheme has one) checked out.

    An immutable record (a named tuple: cheap to build on the hot path).

    Attributes:
        body: the raw body exactly as received and verified.
        id: the delivery id (``X-Webhook-Id``, ``webhook-id``, ``X-GitHub-Delivery`` …) where
            the scheme has one: deduplicate on it.
        event: the event name where the scheme sends one in a header.
        timestamp: the signed timestamp (epoch seconds) where the scheme signs one.
        scheme: the name of the scheme that verified it.
    """

    body: bytes
    id: str | None
    event: str | None
    timestamp: int | None
    scheme: str

    def json(self) -> Any:
        """Decode the body as JSON.

        Raises:
            InvalidPayloadError: the body is not UTF-8 JSON.
        """
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidPayloadError(f"the webhook body is not valid JSON: {exc}") from None

    def __repr__(self) -> str:
        return (
            f"VerifiedWebhook(id={self.id!r}, event={self.event!r}, "
            f"timestamp={self.timestamp!r}, scheme={self.scheme!r}, body=<{len(self.body)} bytes>)"
        )
