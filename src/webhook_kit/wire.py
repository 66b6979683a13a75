"""Names fixed by the wire contract: the headers every webhook-kit delivery carries."""

from __future__ import annotations

from ._version import __version__

__all__ = ["HEADER_EVENT", "HEADER_ID", "HEADER_SIGNATURE", "USER_AGENT"]

HEADER_ID = "X-Webhook-Id"
"""The delivery id: one UUID, the same on every retry of a delivery. Receivers dedup on it."""

HEADER_EVENT = "X-Webhook-Event"
"""The event name, e.g. ``order.created``."""

HEADER_SIGNATURE = "X-Webhook-Signature"
"""The signature, in the subscription's `SignatureFormat`."""

USER_AGENT = f"webhook-kit/{__version__}"
"""The ``User-Agent`` of every delivery, unless a subscription sets its own."""
