"""A test that needs PostgreSQL skips where it is unreachable — and fails when CI requires it."""

from __future__ import annotations

from pathlib import Path

import pytest

USER_TEST = """
from services import postgres_database

def test_needs_postgres():
    with postgres_database() as url:
        assert url
"""


@pytest.fixture
def unreachable(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.syspathinsert(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    monkeypatch.setenv("WEBHOOK_KIT_POSTGRES_URL", "postgresql://postgres@127.0.0.1:1/postgres")
    pytester.makepyfile(test_user=USER_TEST)
    return pytester


def test_an_unreachable_server_skips_with_the_address_it_tried(
    unreachable: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBHOOK_KIT_REQUIRE_SERVICES", raising=False)
    result = unreachable.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*PostgreSQL is not reachable at postgresql://*127.0.0.1:1*"])


def test_required_services_turn_the_skip_into_a_failure(
    unreachable: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_KIT_REQUIRE_SERVICES", "1")
    result = unreachable.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*WEBHOOK_KIT_REQUIRE_SERVICES=1 makes this a failure*"])
