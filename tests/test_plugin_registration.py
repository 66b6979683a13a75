"""The pytest plugin ships in the same wheel and registers under the name ``webhook_kit``."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest


def test_entry_point_names_the_plugin_module() -> None:
    plugins = {entry.name: entry.value for entry in entry_points(group="pytest11")}
    assert plugins.get("webhook_kit") == "pytest_webhook_kit.plugin"


def test_pytest_loaded_the_plugin(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("webhook_kit")
