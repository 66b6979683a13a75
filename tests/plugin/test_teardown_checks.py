"""What the fixtures check at teardown, how they report it, and the failure report of
``assert_delivered`` in a user's test."""

from __future__ import annotations

import pytest

OPT_OUT_HINT = "(mark the test with @pytest.mark.webhook_kit(checks=False) to allow this)"

# Three tests that pass their own assertions but leave a problem for the teardown checks, each
# twice: as is, and opted out with the marker.
PROBLEMS = """
import pytest
from webhook_kit import RetryPolicy, WebhookSubscription

NO_CHECKS = pytest.mark.webhook_kit(checks=False)


async def wrong_secret(fake_queue, webhook_receiver):
    webhook_receiver.expect_signature("the-receivers-secret")
    await WebhookSubscription.register(fake_queue)
    await WebhookSubscription(webhook_receiver.url, "another-secret").dispatch(
        fake_queue, "order.created", {"order_id": 42}
    )
    await fake_queue.run_until_idle()
    assert webhook_receiver.deliveries[0].verified is False


async def script_ran_out(fake_queue, webhook_receiver):
    webhook_receiver.script([503], then="fail")
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret").retry_policy(
        RetryPolicy(max_attempts=2, base_delay=1, jitter=0)
    )
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()
    assert [d.status for d in webhook_receiver.deliveries] == [503, 500]


async def unknown_url(fake_queue, webhook_receiver):
    await WebhookSubscription.register(fake_queue)
    await WebhookSubscription(
        "https://elsewhere.example.com/hooks?token=query-secret", "s3cret"
    ).dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()
    [dead] = fake_queue.dead_letters  # refused: nothing left the process
    assert (dead.attempts, dead.last_status) == (1, None)
    assert webhook_receiver.deliveries == []


@pytest.mark.anyio
async def test_wrong_secret(fake_queue, webhook_receiver):
    await wrong_secret(fake_queue, webhook_receiver)


@pytest.mark.anyio
async def test_script_ran_out(fake_queue, webhook_receiver):
    await script_ran_out(fake_queue, webhook_receiver)


@pytest.mark.anyio
async def test_unknown_url(fake_queue, webhook_receiver):
    await unknown_url(fake_queue, webhook_receiver)


@NO_CHECKS
@pytest.mark.anyio
async def test_wrong_secret_allowed(fake_queue, webhook_receiver):
    await wrong_secret(fake_queue, webhook_receiver)


@NO_CHECKS
@pytest.mark.anyio
async def test_script_ran_out_allowed(fake_queue, webhook_receiver):
    await script_ran_out(fake_queue, webhook_receiver)


@NO_CHECKS
@pytest.mark.anyio
async def test_unknown_url_allowed(fake_queue, webhook_receiver):
    await unknown_url(fake_queue, webhook_receiver)
"""


@pytest.fixture
def problems_run(user_project: pytest.Pytester) -> pytest.RunResult:
    """The `PROBLEMS` file, run without options (``-rA`` reports every teardown error)."""
    user_project.makepyfile(test_problems=PROBLEMS)
    return user_project.runpytest("-rA")


def test_each_problem_errors_its_test_at_teardown_unless_opted_out(
    problems_run: pytest.RunResult,
) -> None:
    # The test bodies pass; the three unmarked tests error at teardown, the marked ones pass.
    problems_run.assert_outcomes(passed=6, errors=3)
    problems_run.stdout.fnmatch_lines(
        [
            "ERROR test_problems.py::test_wrong_secret - Failed: webhook_receiver *",
            "ERROR test_problems.py::test_script_ran_out - Failed: webhook_receiver *",
            "ERROR test_problems.py::test_unknown_url - Failed: fake_queue refused *",
        ],
        # Not consecutive: under CI=true pytest prints the summary's messages in full.
    )
    for name in ("wrong_secret", "script_ran_out", "unknown_url"):
        problems_run.stdout.fnmatch_lines([f"PASSED test_problems.py::test_{name}_allowed"])
    assert problems_run.ret == pytest.ExitCode.TESTS_FAILED


def test_a_failed_signature_is_reported_readably(problems_run: pytest.RunResult) -> None:
    problems_run.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_wrong_secret _*",
            "webhook_receiver http://receiver-*.webhook-kit.test/hooks recorded 1 problem(s):",
            "  - delivery '*' to /hooks: signature check failed (*): *",
            "deliveries received:",
            "  t=1700000000.000 POST /hooks event='order.created' id='*' -> 200, "
            "SIGNATURE FAILED, body='{\"order_id\":42}'",
            OPT_OUT_HINT,
        ],
        consecutive=True,
    )


def test_a_script_that_ran_out_is_reported_readably(problems_run: pytest.RunResult) -> None:
    problems_run.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_script_ran_out _*",
            "webhook_receiver http://receiver-*.webhook-kit.test/hooks recorded 1 problem(s):",
            "  - delivery '*' to /hooks came after the script ran out (then='fail'); script "
            "was Script(?503?, then='fail')",
            "deliveries received:",
            "  t=1700000000.000 POST /hooks * -> 503, unverified, *",
            "  t=1700000001.000 POST /hooks * -> 500, unverified, *",
            OPT_OUT_HINT,
        ],
        consecutive=True,
    )


def test_a_delivery_to_an_unknown_url_is_reported_with_the_known_receivers(
    problems_run: pytest.RunResult,
) -> None:
    problems_run.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_unknown_url _*",
            "fake_queue refused deliveries to URLs no receiver serves:",
            "  - https://elsewhere.example.com/hooks",
            "receivers of this test:",
            "  - http://receiver-*.webhook-kit.test/hooks",
            OPT_OUT_HINT,
        ],
        consecutive=True,
    )
    # The query string may carry a credential: the report leaves it out.
    problems_run.stdout.no_fnmatch_line("*query-secret*")


def test_teardown_reports_carry_no_plugin_traceback(problems_run: pytest.RunResult) -> None:
    problems_run.stdout.no_fnmatch_line("*pytest_webhook_kit*plugin.py*")
    problems_run.stdout.no_fnmatch_line("*_check_receiver*")


def test_the_command_line_option_turns_every_check_off(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(test_problems=PROBLEMS)
    result = user_project.runpytest("--webhook-kit-no-checks")
    result.assert_outcomes(passed=6)


def test_an_unknown_url_with_no_receiver_at_all(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        """
        import pytest
        from webhook_kit import WebhookSubscription

        @pytest.mark.anyio
        async def test_no_receiver(fake_queue):
            await WebhookSubscription.register(fake_queue)
            await WebhookSubscription("https://a.example.com/x", "s").dispatch(fake_queue, "e", {})
            await WebhookSubscription("https://b.example.com/y", "s").dispatch(fake_queue, "e", {})
            await fake_queue.run_until_idle()
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "fake_queue refused deliveries to URLs no receiver serves:",
            "  - https://?.example.com/?",
            "  - https://?.example.com/?",
            "receivers of this test:",
            "  (none)",
        ],
        consecutive=True,
    )


def test_the_server_fixture_checks_its_receiver_too(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        """
        import httpx
        import pytest

        def test_unsigned_delivery(webhook_receiver_server):
            webhook_receiver_server.expect_signature("s3cret")
            response = httpx.post(webhook_receiver_server.url, content=b"{}")
            assert response.status_code == 200  # the receiver answers; the check comes later
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_unsigned_delivery _*",
            "webhook_receiver http://127.0.0.1:*/hooks recorded 1 problem(s):",
            "  - delivery None to /hooks: signature check failed (*",
        ]
    )


def test_a_failing_test_with_a_problem_reports_both(user_project: pytest.Pytester) -> None:
    user_project.makepyfile(
        """
        import pytest
        from webhook_kit import WebhookSubscription

        @pytest.mark.anyio
        async def test_both(fake_queue, webhook_receiver):
            webhook_receiver.expect_signature("right")
            await WebhookSubscription.register(fake_queue)
            await WebhookSubscription(webhook_receiver.url, "wrong").dispatch(fake_queue, "e", {})
            await fake_queue.run_until_idle()
            assert webhook_receiver.deliveries == []
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*SIGNATURE FAILED*", OPT_OUT_HINT])


ASSERT_DELIVERED = """
import pytest
from webhook_kit import WebhookSubscription


@pytest.mark.anyio
async def test_wrong_payload(fake_queue, webhook_receiver):
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription(webhook_receiver.url, "s3cret")
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42, "total": "9.99"})
    await subscription.dispatch(fake_queue, "order.deleted", {"order_id": 7})
    await fake_queue.run_until_idle()
    expected = {"order_id": 43, "total": "9.99"}
    webhook_receiver.assert_delivered(event="order.created", payload=expected)
"""


def test_a_failing_assert_delivered_shows_the_nearest_deliveries_and_a_diff(
    user_project: pytest.Pytester,
) -> None:
    user_project.makepyfile(test_report=ASSERT_DELIVERED)
    result = user_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: expected a 2xx delivery matching event='order.created', "
            "payload={'order_id': 43, 'total': '9.99'} at least once; found 0 among 2 received.",
            "E       nearest deliveries:",
            "E         t=1700000000.000 POST /hooks event='order.created' id='*' -> 200, "
            'unverified, body=\'{"order_id":42,"total":"9.99"}\'',
            "E           --- expected",
            "E           +++ received",
            "E           @@ * @@",
            "E            {",
            'E           -  "order_id": 43,',
            'E           +  "order_id": 42,',
            'E              "total": "9.99"',
            "E            }",
            "E         t=1700000000.000 POST /hooks event='order.deleted' *",
        ],
        consecutive=True,
    )


def test_a_failing_assert_delivered_points_at_the_users_line(
    user_project: pytest.Pytester,
) -> None:
    path = user_project.makepyfile(test_report=ASSERT_DELIVERED)
    lines = path.read_text().splitlines()
    line_number = next(i for i, line in enumerate(lines, 1) if ".assert_delivered(" in line)
    result = user_project.runpytest()
    result.stdout.fnmatch_lines(
        [
            ">       webhook_receiver.assert_delivered(*",
            f"test_report.py:{line_number}: AssertionError",
        ]
    )
    # The helper's own frame is hidden (__tracebackhide__): the user's line is the last one.
    result.stdout.no_fnmatch_line("*webhook_kit/testing/receiver.py*")
    result.stdout.no_fnmatch_line("*raise AssertionError*")


def test_every_receiver_on_fake_queue_is_checked_not_only_the_fixtures(
    user_project: pytest.Pytester,
) -> None:
    """Was a bug: only the ``webhook_receiver`` fixture's receiver is checked at teardown.

    A second receiver from ``fake_queue.receiver()`` (or one added with ``add_receiver``)
    records the failed signature in its ``problems``, and the test passes anyway.
    """
    user_project.makepyfile(
        """
        import pytest
        from webhook_kit import WebhookSubscription

        @pytest.mark.anyio
        async def test_two_subscribers(fake_queue, webhook_receiver):
            billing = fake_queue.receiver(name="billing")
            billing.expect_signature("billing-secret")
            await WebhookSubscription.register(fake_queue)
            await WebhookSubscription(billing.url, "wrong").dispatch(fake_queue, "e", {})
            await fake_queue.run_until_idle()
            assert len(billing.problems) == 1  # recorded: only the teardown check is missing
        """
    )
    result = user_project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*http://billing.webhook-kit.test/hooks recorded 1 problem(s):", "*SIGNATURE FAILED*"]
    )


MOUNTED_APP_RAISES = """
import pytest
from webhook_kit import RetryPolicy, WebhookSubscription


async def broken(scope, receive, send):
    raise LookupError("no such order table")


async def deliver_to_broken_app(fake_queue):
    fake_queue.mount("https://shop.example", broken)
    await WebhookSubscription.register(fake_queue)
    subscription = WebhookSubscription("https://shop.example/hooks", "s3cret").retry_policy(
        RetryPolicy(max_attempts=2, base_delay=1, jitter=0)
    )
    await subscription.dispatch(fake_queue, "order.created", {"order_id": 42})
    await fake_queue.run_until_idle()
    assert [attempt.status for attempt in fake_queue.attempts] == [500, 500]


@pytest.mark.anyio
async def test_raises(fake_queue):
    await deliver_to_broken_app(fake_queue)


@pytest.mark.webhook_kit(checks=False)
@pytest.mark.anyio
async def test_raises_allowed(fake_queue):
    await deliver_to_broken_app(fake_queue)
"""


def test_an_exception_in_a_mounted_app_fails_the_test_at_teardown(
    user_project: pytest.Pytester,
) -> None:
    user_project.makepyfile(test_mounted=MOUNTED_APP_RAISES)
    result = user_project.runpytest_inprocess()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*an app mounted on fake_queue raised:*",
            "*the app mounted at https://shop.example raised LookupError: no such order table*"
            "the sender got a 500*",
            f"*{OPT_OUT_HINT}*",
        ]
    )
    assert "s3cret" not in result.stdout.str()
