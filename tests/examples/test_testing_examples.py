"""Run every testing example the docs show (docs/examples/testing_*.py) as what it is, a user's
test module, and check the output docs/testing.md shows against what the code prints.

Each example runs in a project of its own made by ``pytester`` (enabled in tests/conftest.py):
the ini of a strict user (``filterwarnings = error``, ``--strict-markers``), the page's own
``conftest.py`` example, and the plugin as ``pip install "webhook-kit[test]"`` installs it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import ModuleType

# Imported before pytester snapshots ``sys.modules``, so that the in-process runs share these
# copies instead of importing them afresh on every run (see tests/plugin/conftest.py).
import hypothesis  # noqa: F401
import pytest
from example_modules import load_example
from fastapi import Depends, FastAPI
from starlette.types import Receive, Scope, Send

import webhook_kit.testing  # noqa: F401
from webhook_kit import (
    VerificationError,
    VerifiedWebhook,
    VirtualClock,
    WebhookVerifier,
    verification_error_response,
)
from webhook_kit.testing import check_receiver

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
PAGE = ROOT / "docs" / "testing.md"

USER_INI = """
[pytest]
addopts = -p no:cacheprovider --strict-markers
filterwarnings = error
asyncio_default_fixture_loop_scope = function
"""

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def source(example: ModuleType) -> str:
    assert example.__file__ is not None
    return Path(example.__file__).read_text()


def count_tests(example: ModuleType) -> int:
    """How many test functions the example defines: every one must be collected and pass."""
    return sum(
        1
        for name, value in vars(example).items()
        if name.startswith("test_") and getattr(value, "__module__", None) == example.__name__
    )


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: a strict ini, and the page's conftest.py (asyncio for anyio)."""
    pytester.makeini(USER_INI)
    pytester.makeconftest(source(load_example("testing_conftest")))
    return pytester


def run_example(
    project: pytest.Pytester, example: ModuleType, *args: str, text: str | None = None
) -> pytest.RunResult:
    """Run the example (or ``text``, a variant of it) as a user's test module.

    Named ``test_docs_<name>.py``: in-process runs share ``sys.modules`` with this run, where
    ``test_<name>`` may already be one of ours.
    """
    name = example.__name__.rsplit(".", 1)[-1]
    project.makepyfile(**{f"test_docs_{name}": source(example) if text is None else text})
    return project.runpytest_inprocess(*args)


def section(heading: str) -> str:
    """The text of the page's section under ``heading`` (up to the next heading of any level)."""
    text = PAGE.read_text()
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    assert match is not None, f"no section {heading!r} in {PAGE.name}"
    return match.group(1)


def text_blocks(heading: str) -> list[str]:
    """The ```text blocks of a section of the page."""
    return re.findall(r"^```text\n(.*?)^```$", section(heading), re.M | re.S)


def normalised(text: str) -> str:
    """Output with the parts that change from run to run (ids, receiver numbers) made fixed."""
    text = _UUID.sub("00000000-0000-4000-8000-000000000000", text)
    return re.sub(r"receiver-\d+\.", "receiver-1.", text)


# -- every example passes, as the test module it is -----------------------------------------


def test_first_test(user_project: pytest.Pytester) -> None:
    example = load_example("testing_first_test")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_without_the_marker_the_first_test_fails_as_the_page_shows(
    user_project: pytest.Pytester,
) -> None:
    example = load_example("testing_first_test")
    marker = "pytestmark = pytest.mark.anyio  # every test in this module runs on anyio's plugin"
    text = "\n".join(line for line in source(example).splitlines() if marker not in line)
    assert text != source(example).rstrip("\n")
    result = run_example(user_project, example, text=text)
    result.assert_outcomes(failed=count_tests(example))
    [shown] = text_blocks("Install and set up")
    assert shown in result.stdout.str()


def test_fastapi_override(user_project: pytest.Pytester) -> None:
    # Its own tests are in test_testing_fastapi_override.py; this runs it in the page's setup.
    example = load_example("testing_fastapi_override")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_own_app(user_project: pytest.Pytester) -> None:
    example = load_example("testing_own_app")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_own_app_example_fails_without_its_dedup(user_project: pytest.Pytester) -> None:
    # The example's first test is about the dedup: without it, the work is done three times.
    example = load_example("testing_own_app")
    dedup = "        if webhook.id not in orders.processed:  # dedup on X-Webhook-Id\n"
    text = source(example).replace(dedup, "        if True:\n")
    assert text != source(example)
    run_example(user_project, example, text=text).assert_outcomes(passed=1, failed=1)


def test_backoff(user_project: pytest.Pytester) -> None:
    example = load_example("testing_backoff")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_dead_letters(user_project: pytest.Pytester) -> None:
    example = load_example("testing_dead_letters")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_dedup(user_project: pytest.Pytester) -> None:
    example = load_example("testing_dedup")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_signatures(user_project: pytest.Pytester) -> None:
    example = load_example("testing_signatures")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_scripts(user_project: pytest.Pytester) -> None:
    example = load_example("testing_scripts")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_respx(user_project: pytest.Pytester) -> None:
    example = load_example("testing_respx")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_real_socket(user_project: pytest.Pytester) -> None:
    example = load_example("testing_real_socket")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_check_receiver(user_project: pytest.Pytester) -> None:
    example = load_example("testing_check_receiver")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


def test_hypothesis(user_project: pytest.Pytester) -> None:
    example = load_example("testing_hypothesis")
    run_example(user_project, example).assert_outcomes(passed=count_tests(example))


# -- what the page says the checks print ----------------------------------------------------


def without_the_opt_out(example: ModuleType) -> str:
    marker = (
        "@pytest.mark.webhook_kit(checks=False)  # this test sends a bad signature on purpose\n"
    )
    assert marker in source(example)
    return source(example).replace(marker, "")


def test_a_failed_signature_fails_the_test_at_teardown_as_the_page_shows(
    user_project: pytest.Pytester,
) -> None:
    example = load_example("testing_signatures")
    result = run_example(user_project, example, text=without_the_opt_out(example))
    result.assert_outcomes(passed=count_tests(example), errors=1)
    output = normalised(result.stdout.str())
    [shown] = text_blocks("Checking signatures")
    assert normalised(shown) in output


def test_no_checks_option_turns_the_teardown_checks_off(user_project: pytest.Pytester) -> None:
    example = load_example("testing_signatures")
    text = without_the_opt_out(example)
    result = run_example(user_project, example, "--webhook-kit-no-checks", text=text)
    result.assert_outcomes(passed=count_tests(example))
    assert "--webhook-kit-no-checks" in section("Checking signatures")


def test_then_fail_fails_the_test_when_a_second_request_comes(
    user_project: pytest.Pytester,
) -> None:
    example = load_example("testing_scripts")
    once = 'await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})\n'
    twice = once + "    " + once.replace("42", "43")
    text = source(example).replace(
        "    " + once + "    await fake_queue.run_until_idle()\n\n    webhook_receiver.assert",
        "    " + twice + "    await fake_queue.run_until_idle()\n\n    webhook_receiver.assert",
    )
    assert text != source(example)
    result = run_example(user_project, example, text=text)
    result.assert_outcomes(passed=count_tests(example), errors=1)  # it fails at teardown
    result.stdout.fnmatch_lines(["*came after the script ran out (then='fail')*"])


@pytest.mark.anyio
async def test_the_page_shows_the_report_check_receiver_prints() -> None:
    example = load_example("testing_check_receiver")
    processed: list[str | None] = []
    app = example.create_app(example.SECRET, processed)
    report = await check_receiver(
        app,
        example.SECRET,
        example.SCHEME,
        processed=processed.count,
        path="/webhooks",
        clock=VirtualClock(int(time.time())),  # no answer is slow on a busy machine either
    )
    assert report
    assert text_blocks("Checking your own receiver")[0] == f"{report}\n"


@pytest.mark.anyio
async def test_the_page_shows_the_dedup_verdicts_check_receiver_gives() -> None:
    example = load_example("testing_check_receiver")
    not_judged = await check_receiver(
        example.create_app(example.SECRET, []), example.SECRET, example.SCHEME, path="/webhooks"
    )
    processed: list[str | None] = []
    forgetful = await check_receiver(
        forgetful_app(WebhookVerifier(example.SECRET, scheme=example.SCHEME), processed),
        example.SECRET,
        example.SCHEME,
        processed=processed.count,
        path="/webhooks",
    )
    _, skip_line, fail_line, _ = text_blocks("Checking your own receiver")
    assert skip_line.rstrip("\n") in str(not_judged).splitlines()
    assert fail_line.rstrip("\n") in str(forgetful).splitlines()


@pytest.mark.anyio
async def test_the_page_shows_the_slow_answer_finding_check_receiver_gives() -> None:
    example = load_example("testing_check_receiver")
    # Real time to start with: the receiver checks the signed timestamps against its own clock.
    clock = VirtualClock(int(time.time()))
    processed: list[str | None] = []
    app = example.create_app(example.SECRET, processed)
    requests = 0

    async def slow_first(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal requests
        requests += 1
        if requests == 1:  # the valid delivery: 8 s of work before the answer
            clock.advance(8)
        await app(scope, receive, send)

    report = await check_receiver(
        slow_first,
        example.SECRET,
        example.SCHEME,
        processed=processed.count,
        path="/webhooks",
        clock=clock,
    )
    assert [result.name for result in report.failures] == ["every answer comes within 5 s"]
    slow_line = text_blocks("Checking your own receiver")[3]
    assert slow_line.rstrip("\n") in str(report).splitlines()


def forgetful_app(verifier: WebhookVerifier, processed: list[str | None]) -> FastAPI:
    """The example's receiver without its dedup: it does the work for every request."""
    app = FastAPI()
    app.add_exception_handler(VerificationError, verification_error_response)

    async def receive(webhook: VerifiedWebhook = Depends(verifier)) -> dict[str, str]:  # noqa: B008
        processed.append(webhook.id)
        return {"status": "processed"}

    app.post("/webhooks")(receive)
    return app
