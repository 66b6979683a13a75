"""``tests/conftest.py``: run async tests on asyncio.

webhook-kit's queues and workers run on asyncio. anyio's pytest plugin runs each
``@pytest.mark.anyio`` test on every backend it finds installed (trio too), unless this
fixture names one.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
