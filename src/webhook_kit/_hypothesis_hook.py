"""Hypothesis's entry point for webhook-kit (``[project.entry-points.hypothesis]``).

Hypothesis calls `setup` whenever it is imported; importing webhook-kit then would make every
test run that has Hypothesis installed pay for it. So the strategies are registered by
whichever of the two is imported second: here if webhook-kit already is, otherwise by
``webhook_kit/__init__.py`` when it is imported after Hypothesis.
"""

from __future__ import annotations

import sys


def setup() -> None:
    """Register ``st.from_type`` strategies now if webhook-kit is already imported."""
    if "webhook_kit" in sys.modules:
        register()


def register() -> None:
    """Register the strategies (idempotent)."""
    from webhook_kit.strategies import _register_type_strategies

    _register_type_strategies()
