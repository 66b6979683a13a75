"""The plugin's own tests: each writes a user's test file and runs pytest on it (``pytester``).

``pytester`` itself is enabled in ``tests/conftest.py``: pytest accepts ``pytest_plugins`` only
in a conftest at the top of the run, which this one is not when the whole suite runs.

The user's project gets its own ini (pytester's directory is outside this repository, so our
pyproject's settings do not reach it): ``filterwarnings = error`` proves the fixtures warn
about nothing, and ``--strict-markers`` that the plugin registers its marker.
"""

from __future__ import annotations

import contextlib

# Imported before pytester snapshots ``sys.modules``, so that the in-process runs share these
# copies instead of importing them afresh and dropping them again (a module dropped after one
# run is imported anew by the next, and two copies of a module do not agree on its classes).
# Hypothesis's pytest plugin imports hypothesis at the end of every run, and hypothesis imports
# webhook-kit's strategies through its entry point: without this, each run pays a second for it.
import hypothesis  # noqa: F401
import pytest
import uvicorn  # noqa: F401  (webhook_receiver_server)

import webhook_kit.testing

with contextlib.suppress(ImportError):  # the aiohttp stack, MemoryQueue's default when installed
    import webhook_kit.http_stacks._aiohttp_sessions  # noqa: F401

USER_INI = """
[pytest]
addopts = -p no:cacheprovider --strict-markers
filterwarnings = error
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
"""

USER_CONFTEST = """
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with the user's ini and a conftest giving ``anyio_backend = "asyncio"``."""
    pytester.makeini(USER_INI)
    pytester.makeconftest(USER_CONFTEST)
    return pytester
