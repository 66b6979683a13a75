"""Delivery ids: random (version 4) UUIDs, as text."""

from __future__ import annotations

import os

__all__ = ["new_delivery_id"]


def new_delivery_id() -> str:
    """A new random UUID (version 4, RFC 9562) in its canonical text form.

    The same value as ``str(uuid.uuid4())`` without building a `uuid.UUID`; dispatch calls
    this once per delivery.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
