"""The plugin as pytest sees it: loading from the entry point, lazy imports, the marker and its
options, ``--help``/``--fixtures``/``--markers``, ``-p no:webhook_kit`` and assertion rewriting.

Runs that are about how the plugin is loaded use a subprocess (a fresh interpreter, the plugin
found through its ``pytest11`` entry point); the others run in-process, which is much faster.
"""

from __future__ import annotations

import pytest


def test_an_unknown_marker_option_fails_the_test_clearly(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        """
        import pytest

        @pytest.mark.webhook_kit(check=False, begin=0)
        def test_typo(fake_queue):
            pass
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["unknown webhook_kit marker option(s): begin, check (known: *"])


def test_a_positional_marker_argument_is_refused(user_project: pytest.Pytester) -> None:
    """Was a bug: positional marker arguments are silently ignored.

    ``webhook_kit(False)`` reads like ``checks=False`` and ``webhook_kit(1_800_000_000)`` like a
    start time; both are dropped without a word (only ``marker.kwargs`` is read), so the test
    runs with the checks on and the clock at the default start.
    """
    user_project.makepyfile(
        """
        import pytest

        @pytest.mark.webhook_kit(1_800_000_000)
        def test_positional(fake_queue):
            pass
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*webhook_kit*positional*"])


def test_the_closest_marker_wins(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.webhook_kit(start=1_600_000_000)

        def test_module_marker(fake_queue):
            assert fake_queue.clock.now() == 1_600_000_000.0

        @pytest.mark.webhook_kit(start=1_650_000_000)
        def test_own_marker(fake_queue):
            assert fake_queue.clock.now() == 1_650_000_000.0
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(passed=2)


def test_help_lists_the_option_in_a_webhook_kit_group(user_project: pytest.Pytester) -> None:
    result = user_project.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "webhook-kit (webhook testing fixtures):",
            "  --webhook-kit-no-checks",
            "*webhook-kit: do not fail tests at teardown*",
        ],
        consecutive=True,
    )


def test_fixtures_lists_the_four_fixtures_with_their_docstrings(
    user_project: pytest.Pytester,
) -> None:
    result = user_project.runpytest("--fixtures")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*- fixtures defined from pytest_webhook_kit.plugin -*"])
    result.stdout.fnmatch_lines(
        [
            "fake_queue -- *pytest_webhook_kit/plugin.py:*",
            "    A queue on a virtual clock that replays hours of retries in milliseconds.",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        [
            "webhook_receiver -- *pytest_webhook_kit/plugin.py:*",
            "    A scriptable in-process webhook receiver that records every delivery.",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        [
            "webhook_receiver_server -- *pytest_webhook_kit/plugin.py:*",
            "    A `MockReceiver` on a real socket: uvicorn on 127.0.0.1 and a free port.",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        [
            "webhook_secret -- *pytest_webhook_kit/plugin.py:*",
            "    A fresh random signing secret for this test*",
        ],
        consecutive=True,
    )


def test_markers_lists_the_marker(user_project: pytest.Pytester) -> None:
    result = user_project.runpytest("--markers")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["@pytest.mark.webhook_kit(checks=True, start=1700000000.0): settings for webhook-kit*"]
    )


def test_p_no_webhook_kit_disables_the_plugin(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        """
        def test_needs_the_queue(fake_queue):
            pass
        """
    )
    result = user_project.runpytest_subprocess("-p", "no:webhook_kit")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'fake_queue' not found*"])
    result.stdout.no_fnmatch_line("*webhook_receiver*")  # not among the available fixtures


# Run in a fresh interpreter, in this order. No module-level import of webhook_kit: the file
# must not import it itself.
LOADING = """
import sys

import pytest
from _pytest.assertion.rewrite import AssertionRewritingHook


def test_the_entry_point_loaded_only_the_plugin_module(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("webhook_kit")
    assert plugin is not None
    assert plugin.__name__ == "pytest_webhook_kit.plugin"
    assert "webhook_kit" not in sys.modules, sorted(m for m in sys.modules if "webhook" in m)


def test_webhook_secret_needs_no_webhook_kit(webhook_secret):
    assert webhook_secret
    assert "webhook_kit" not in sys.modules


def test_a_fixture_that_needs_webhook_kit_imports_it(fake_queue):
    assert "webhook_kit.testing" in sys.modules


def test_the_helpers_are_marked_for_assertion_rewriting():
    [hook] = [finder for finder in sys.meta_path if isinstance(finder, AssertionRewritingHook)]
    assert "webhook_kit.testing" in hook._must_rewrite
    # ... and were rewritten when the fixture imported them, as test modules are.
    receiver_module = sys.modules["webhook_kit.testing.receiver"]
    assert isinstance(receiver_module.__spec__.loader, AssertionRewritingHook)
    assert "@py_builtins" in vars(receiver_module)
"""


def test_the_plugin_loads_from_its_entry_point_and_imports_webhook_kit_lazily(
    user_project: pytest.Pytester,
) -> None:
    user_project.makepyfile(test_loading=LOADING)
    result = user_project.runpytest_subprocess()
    result.assert_outcomes(passed=4)
