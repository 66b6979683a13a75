"""The ``webhook-kit`` command (extra ``cli``): ``demo``, ``send``, ``worker``."""

from __future__ import annotations

from .app import main

__all__ = ["main"]
