"""Run every example of docs/health.md (docs/examples/health_*.py) and check what the page says
about them: the defaults, the status lines, the records, the log lines and the command's output.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner
from example_modules import load_example

from webhook_kit import (
    MemoryQueue,
    RetryPolicy,
    SQLiteQueue,
    VirtualClock,
    WebhookSubscription,
    Worker,
)
from webhook_kit.health import HealthPolicy
from webhook_kit.queues.protocol import EndpointRecord
from webhook_kit.testing import FakeQueue, MockReceiver

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
PAGE = ROOT / "docs" / "health.md"
START = 1_700_000_000.0  # FakeQueue's start: 2023-11-14T22:13:20Z

USER_INI = """
[pytest]
addopts = -p no:cacheprovider --strict-markers
filterwarnings = error
asyncio_default_fixture_loop_scope = function
"""


def page() -> str:
    return PAGE.read_text()


def output_on_page(example: str) -> str:
    """The ``text`` block that follows the example's include on the page."""
    include = f'--8<-- "docs/examples/{example}.py"'
    match = re.search(re.escape(include) + r"\n```\n.*?```text\n(.*?)```", page(), re.DOTALL)
    assert match is not None, f"no output shown after {include}"
    return match.group(1)


def text_block_after(marker: str) -> str:
    """The first ``text`` block after ``marker`` on the page."""
    match = re.search(re.escape(marker) + r".*?```text\n(.*?)```", page(), re.DOTALL)
    assert match is not None, f"no text block after {marker!r}"
    return match.group(1)


# -- the rules and defaults the page states ---------------------------------------------------


def test_the_defaults_table_matches_health_policy() -> None:
    defaults = HealthPolicy()
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", page(), re.MULTILINE))
    assert {name: eval(value) for name, value in rows.items()} == {  # noqa: S307 (our page)
        "share": defaults.share,
        "slow_after": defaults.slow_after,
        "pause_after": defaults.pause_after,
        "first_pause": defaults.first_pause,
        "max_pause": defaults.max_pause,
        "disable_after": defaults.disable_after,
    }


# -- health_policy --------------------------------------------------------------------------


def test_the_tuned_worker() -> None:
    example = load_example("health_policy")
    queue = MemoryQueue()
    worker = example.tuned_worker(queue)
    assert worker.health is not None
    assert worker.health.policy == example.POLICY
    assert worker.health.floor == 6  # "a failing endpoint may hold 6 of them"
    assert example.worker_without_health(queue).health is None


# -- health_status ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_status_lines_are_what_the_page_shows() -> None:
    example = load_example("health_status")
    queue = FakeQueue(start=START)
    shop = queue.receiver(name="shop")
    crm = queue.receiver(name="crm").script([503])
    await WebhookSubscription.register(queue)
    for n in range(5):
        await WebhookSubscription(shop.url, "s3cret").dispatch(queue, "order.created", {"n": n})
    once = RetryPolicy(max_attempts=1)
    for n in range(3):
        sub = WebhookSubscription(crm.url, "s3cret").retry_policy(once)
        await sub.dispatch(queue, "contact.updated", {"n": n})
    worker = Worker(queue, concurrency=32, health=HealthPolicy(pause_after=3, first_pause=60))
    await worker.run_until_idle()

    lines = example.describe_endpoints(worker)
    assert "\n".join(lines) + "\n" == output_on_page("health_status")
    assert example.describe_endpoints(Worker(queue, health=False)) == ["endpoint health is off"]


# -- health_reenable -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_reenable_redrives_the_endpoints_dead_letters_only() -> None:
    example = load_example("health_reenable")
    queue = FakeQueue(start=START)
    gone = queue.receiver(name="gone").script([410, 200])
    other = queue.receiver(name="other").script([400])
    await WebhookSubscription.register(queue)
    to_gone = WebhookSubscription(gone.url, "s3cret")
    first = await to_gone.dispatch(queue, "order.created", {"n": 1})
    await queue.run_until_idle(health=True)
    second = await WebhookSubscription(f"{gone.url}?tenant=7", "s3cret").dispatch(
        queue, "order.created", {"n": 2}
    )
    refused = await WebhookSubscription(other.url, "s3cret").dispatch(queue, "order.created", {})
    await queue.run_until_idle(health=True)
    assert len(await queue.list_dead_letters()) == 3

    redriven = await example.reenable(queue, gone.url)
    assert sorted(redriven) == sorted([first, second])
    await queue.run_until_idle(health=True)
    assert [dead.id for dead in await queue.list_dead_letters()] == [refused]
    assert sorted(d.id or "" for d in gone.assert_delivered()) == sorted([first, second])


# -- health_testing: a user's test module -----------------------------------------------------


def test_the_testing_example_passes_as_a_users_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makeconftest((EXAMPLES / "testing_conftest.py").read_text())
    example = load_example("health_testing")
    assert example.__file__ is not None
    source = Path(example.__file__).read_text()
    pytester.makepyfile(test_docs_health_testing=source)
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=source.count("\nasync def test_"))


# -- what an operator sees: logs and the command ----------------------------------------------


@pytest.mark.anyio
async def test_the_log_lines_the_page_shows(caplog: pytest.LogCaptureFixture) -> None:
    queue = FakeQueue(start=START)
    crm = queue.receiver(name="crm").script([503, 503, 503, 503, 503, 200])
    await WebhookSubscription.register(queue)
    every_minute = RetryPolicy(base_delay=60, factor=1, max_delay=60, jitter=0)
    sub = WebhookSubscription(crm.url, "s3cret").retry_policy(every_minute)
    await sub.dispatch(queue, "contact.updated", {})
    gone = queue.receiver(name="gone").script([410])
    await WebhookSubscription(gone.url, "s3cret").dispatch(queue, "contact.updated", {})
    with caplog.at_level(logging.INFO, logger="webhook_kit.worker"):
        await queue.run_until_idle(health=True)
    logged = [
        # The page shows real-looking URLs.
        f"{record.levelname} {record.name}: {record.getMessage()}".replace(
            "http://", "https://"
        ).replace(".webhook-kit.test", ".example")
        for record in caplog.records
        if record.name == "webhook_kit.worker"
    ]
    shown = [
        line.split(" ", 2)[2]  # without the date and time
        for line in text_block_after("## What you see").splitlines()
    ]
    assert sorted(shown) == sorted(logged)


def dead_letters_to_an_old_endpoint(db: Path) -> None:
    """A queue file where https://old.example/webhooks answered 410, and two more deliveries
    to it were dead-lettered since; and a paused endpoint's record."""
    receiver = MockReceiver().script([410])
    queue = SQLiteQueue(db, clock=VirtualClock(START))

    async def run() -> None:
        async with httpx.AsyncClient(transport=receiver.transport) as client:
            await WebhookSubscription.register(queue, client=client)
            old = WebhookSubscription("https://old.example/webhooks", "s3cret")
            await old.dispatch(queue, "contact.updated", {"n": 1})
            await Worker(queue).run_until_idle()
            for n in (2, 3):
                await old.dispatch(queue, "contact.updated", {"n": n})
            await Worker(queue).run_until_idle()
        await queue.save_endpoint(
            EndpointRecord(
                "https://crm.example/hooks",
                "paused",
                "5 failures in a row (last: timeout: the attempt did not complete within 30s)",
                START + 300,
                START + 330,
            )
        )

    try:
        anyio.run(run)
    finally:
        queue.close()


def test_the_command_output_the_page_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webhook_kit.cli import app, endpoints  # noqa: F401  (registers the commands)

    monkeypatch.chdir(tmp_path)  # the page's path, whatever the temporary directory's length
    db = Path("webhooks.sqlite3")
    dead_letters_to_an_old_endpoint(db)
    runner = CliRunner()
    env = {"COLUMNS": "100", "NO_COLOR": "1"}
    listed = runner.invoke(app.cli, ["endpoints", "list", "--db", str(db)], env=env)
    assert listed.exit_code == 0, listed.output
    shown = text_block_after("webhook-kit endpoints list --db webhooks.sqlite3\n")
    printed = listed.stdout.replace(str(db), "webhooks.sqlite3")
    assert [line.rstrip() for line in printed.splitlines()] == shown.splitlines()

    enable = ["endpoints", "enable", "https://old.example/webhooks", "--db", str(db)]
    enabled = runner.invoke(app.cli, enable, env=env)
    assert enabled.exit_code == 0, enabled.output
    shown = text_block_after("webhook-kit endpoints enable https://old.example/webhooks")
    printed = enabled.stdout.replace(str(db), "webhooks.sqlite3")
    assert printed.splitlines() == shown.splitlines()
