"""The fixtures under each async test plugin a user may have: anyio's and pytest-asyncio.

Each framework runs alone (the other one disabled with ``-p no:``), so a project with only
one of them installed is covered; the other tests of this package run with both loaded.
"""

from __future__ import annotations

import pytest

# The issue's example, word for word; only the marker line changes.
ISSUE_EXAMPLE = """
import pytest
from webhook_kit import RetryPolicy, WebhookSubscription


@pytest.mark.{marker}
async def test_retries_then_delivers(fake_queue, webhook_receiver):
    webhook_receiver.script([503, 503, 200])
    await WebhookSubscription.register(fake_queue)
    sub = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(
        RetryPolicy(base_delay=1, factor=2, jitter=0))
    delivery_id = await sub.dispatch(fake_queue, "order.created", {{"order_id": 42}})
    await fake_queue.run_until_idle()
    assert [d.id for d in webhook_receiver.deliveries] == [delivery_id] * 3
    assert webhook_receiver.gaps() == [1.0, 2.0]          # on the virtual clock
    assert webhook_receiver.unique_ids() == [delivery_id]
"""

# A thread-served receiver is independent of the test's event loop, whichever plugin runs it.
SERVER_EXAMPLE = """
import pytest
from webhook_kit import MemoryQueue, WebhookSubscription, Worker


@pytest.mark.{marker}
async def test_a_real_socket(webhook_receiver_server, webhook_secret):
    webhook_receiver_server.expect_signature(webhook_secret)
    queue = MemoryQueue()
    handler = await WebhookSubscription.register(queue)
    subscription = WebhookSubscription(webhook_receiver_server.url, webhook_secret)
    delivery_id = await subscription.allow_private_targets(True).dispatch(queue, "ping", {{}})
    await Worker(queue).run_until_idle()
    await handler.aclose()
    webhook_receiver_server.assert_delivered(id=delivery_id, times=1)
    assert webhook_receiver_server.deliveries[0].verified is True
"""

# Without pytest-asyncio its ini keys are unknown, and an unknown key warns (so errors here).
ANYIO_ONLY_INI = """
[pytest]
addopts = -p no:cacheprovider --strict-markers
filterwarnings = error
"""

FRAMEWORKS = [
    pytest.param("anyio", ["-p", "no:asyncio"], id="anyio"),
    pytest.param("asyncio", ["-p", "no:anyio"], id="pytest-asyncio"),
]


def configure(pytester: pytest.Pytester, marker: str) -> None:
    if marker == "anyio":
        pytester.makeini(ANYIO_ONLY_INI)


@pytest.mark.parametrize(("marker", "options"), FRAMEWORKS)
def test_the_issues_example_passes(
    user_project: pytest.Pytester, marker: str, options: list[str]
) -> None:
    configure(user_project, marker)
    user_project.makepyfile(test_issue=ISSUE_EXAMPLE.format(marker=marker))
    result = user_project.runpytest(*options, "-W", "error")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*warning*")


@pytest.mark.parametrize(("marker", "options"), FRAMEWORKS)
def test_the_server_fixture_works_in_async_tests(
    user_project: pytest.Pytester, marker: str, options: list[str]
) -> None:
    configure(user_project, marker)
    user_project.makepyfile(test_server=SERVER_EXAMPLE.format(marker=marker))
    result = user_project.runpytest(*options)
    result.assert_outcomes(passed=1)


def test_the_example_fails_when_its_expectations_are_wrong(user_project: pytest.Pytester) -> None:
    """The example is not vacuous: with a schedule it does not produce, it fails."""
    source = ISSUE_EXAMPLE.format(marker="anyio").replace("[1.0, 2.0]", "[1.0, 3.0]")
    user_project.makepyfile(test_issue=source)
    result = user_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E       assert ?1.0, 2.0? == ?1.0, 3.0?"])


UNMARKED = (
    ISSUE_EXAMPLE.replace("@pytest.mark.{marker}\n", "").replace("{{", "{").replace("}}", "}")
)

PLUGIN_SETS = [
    pytest.param([], id="anyio-and-pytest-asyncio"),
    pytest.param(["-p", "no:asyncio"], id="anyio-only"),
    pytest.param(["-p", "no:anyio"], id="pytest-asyncio-only"),
    pytest.param(["-p", "no:anyio", "-p", "no:asyncio"], id="neither"),
]


@pytest.mark.parametrize("options", PLUGIN_SETS)
def test_an_unmarked_async_test_is_told_the_marker_it_needs(
    user_project: pytest.Pytester, options: list[str]
) -> None:
    assert "@pytest.mark" not in UNMARKED
    if "no:asyncio" in options:
        user_project.makeini(ANYIO_ONLY_INI)
    user_project.makepyfile(test_unmarked=UNMARKED)
    result = user_project.runpytest(*options)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_retries_then_delivers is an async test that uses fake_queue, webhook_receiver,",
            "and no async plugin ran it.*",
            "*    pytestmark = pytest.mark.anyio",
            "*def anyio_backend():*",
        ]
    )
    result.stdout.no_fnmatch_line("*async def functions are not natively supported*")


def test_an_unmarked_async_test_without_our_fixtures_gets_pytests_own_message(
    user_project: pytest.Pytester,
) -> None:
    user_project.makepyfile(test_other="async def test_other():\n    pass\n")
    result = user_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])
    result.stdout.no_fnmatch_line("*pytestmark = pytest.mark.anyio*")


def test_pytest_asyncio_auto_mode_runs_an_unmarked_test_untouched(
    user_project: pytest.Pytester,
) -> None:
    user_project.makeini(
        "[pytest]\naddopts = -p no:cacheprovider --strict-markers\nfilterwarnings = error\n"
        "asyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    user_project.makepyfile(test_unmarked=UNMARKED)
    result = user_project.runpytest("-p", "no:anyio")
    result.assert_outcomes(passed=1)
