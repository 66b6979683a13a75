"""The recipe for pointing an app's own code at ``fake_queue`` (FastAPI dependency overrides),
``docs/examples/testing_fastapi_override.py``: its test passes as a user's test file under the
plugin, catches a broken endpoint, and the production wiring it replaces really delivers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

# Imported before pytester snapshots ``sys.modules``: a module first imported inside an
# in-process run is dropped after it, and a second copy of FastAPI's or Starlette's modules
# breaks routing for the app imported here (POST /orders answered with a 307 to /orders/).
# Hypothesis: its pytest plugin imports it at the end of every run, which costs a second.
import anyio
import fastapi  # noqa: F401
import httpx
import hypothesis  # noqa: F401
import pytest

from webhook_kit import MemoryQueue, WebhookSubscription
from webhook_kit.testing import MockReceiver

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "testing_fastapi_override.py"

USER_INI = """
[pytest]
addopts = -p no:cacheprovider --strict-markers
filterwarnings = error
asyncio_default_fixture_loop_scope = function
"""

USER_CONFTEST = """
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def load_example() -> ModuleType:
    """Import the example under a name that cannot clash with a real module."""
    module_name = "webhook_kit_docs_examples.testing_fastapi_override"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def user_project(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    """Run ``source`` as a user's test file (``test_shop.py``), the plugin loaded."""
    pytester.makeini(USER_INI)
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_shop=source)
    return pytester.runpytest("-v")


def test_the_recipes_test_passes_under_the_plugin(pytester: pytest.Pytester) -> None:
    result = user_project(pytester, EXAMPLE.read_text())
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_creating_an_order_sends_order_created*PASSED*"])


def test_the_recipes_test_catches_an_endpoint_that_sends_the_wrong_event(
    pytester: pytest.Pytester,
) -> None:
    source = EXAMPLE.read_text()
    broken = source.replace(
        'subscription.dispatch(queue, "order.created", order)',
        'subscription.dispatch(queue, "order.placed", order)',
    )
    assert broken != source
    result = user_project(pytester, broken)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: expected a 2xx delivery matching event='order.created'*",
            "E       nearest deliveries:",
            "E         * event='order.placed' *",
        ]
    )


@pytest.mark.anyio
async def test_the_production_wiring_delivers_through_its_queue_and_worker(
    webhook_receiver_server: MockReceiver, webhook_secret: str
) -> None:
    example = load_example()
    app = example.app
    app.dependency_overrides[example.get_subscription] = lambda: WebhookSubscription(
        webhook_receiver_server.url, webhook_secret
    ).allow_private_targets(True)  # the receiver is on loopback
    webhook_receiver_server.expect_signature(webhook_secret)
    transport = httpx.ASGITransport(app=app)
    try:
        # The app's lifespan, as a server runs it: the real queue, and a worker running.
        async with app.router.lifespan_context(app):
            assert type(app.state.webhook_queue) is MemoryQueue
            async with httpx.AsyncClient(
                transport=transport, base_url="http://shop.test"
            ) as client:
                response = await client.post("/orders", json={"order_id": 7})
            assert response.status_code == 201
            with anyio.fail_after(60):
                while not webhook_receiver_server.deliveries:  # noqa: ASYNC110 (filled by a thread)
                    await anyio.sleep(0.01)
    finally:
        app.dependency_overrides.clear()
    webhook_receiver_server.assert_delivered(
        id=response.json()["webhook"], event="order.created", payload={"order_id": 7}, times=1
    )
    assert webhook_receiver_server.deliveries[0].verified is True
