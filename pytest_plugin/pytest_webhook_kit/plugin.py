"""webhook-kit's pytest plugin: ``fake_queue``, ``webhook_receiver``, ``webhook_receiver_server``
and ``webhook_secret``.

Registered as the ``webhook_kit`` entry point (disable with ``-p no:webhook_kit``). It imports
webhook-kit only when a fixture is used, so it costs nothing to test runs that do not.
"""

from __future__ import annotations

import base64
import inspect
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from webhook_kit.testing import FakeQueue, MockReceiver

# The helpers assert, so that pytest can explain a failure: rewrite them like test modules.
pytest.register_assert_rewrite("webhook_kit.testing")

_MARKER = "webhook_kit"
_MARKER_HELP = (
    "webhook_kit(checks=True, start=1700000000.0): settings for webhook-kit's fixtures in this "
    "test. checks=False skips the teardown checks (failed signatures, scripts that ran out with "
    "then='fail', deliveries to unknown URLs); start= sets fake_queue's virtual start time."
)


@dataclass(frozen=True)
class _Settings:
    checks: bool = True
    start: float = 1_700_000_000.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("webhook-kit", "webhook-kit (webhook testing fixtures)")
    group.addoption(
        "--webhook-kit-no-checks",
        action="store_true",
        default=False,
        help="webhook-kit: do not fail tests at teardown for failed signature checks, scripts "
        "that ran out (then='fail') or deliveries to unknown URLs.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)


def _settings(request: pytest.FixtureRequest) -> _Settings:
    marker = request.node.get_closest_marker(_MARKER)
    options = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        pytest.fail(
            "the webhook_kit marker takes keyword options only (checks=..., start=...); "
            f"got positional {marker.args!r}",
            pytrace=False,
        )
    unknown = set(options) - {"checks", "start"}
    if unknown:
        pytest.fail(
            f"unknown webhook_kit marker option(s): {', '.join(sorted(unknown))} "
            "(known: checks, start)",
            pytrace=False,
        )
    if request.config.getoption("--webhook-kit-no-checks"):
        options["checks"] = False
    return _Settings(**options)


_FIXTURES = frozenset(
    {"fake_queue", "webhook_receiver", "webhook_receiver_server", "webhook_secret"}
)


@pytest.hookimpl  # after the async plugins' own (tryfirst) hooks, before pytest's (trylast)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    """An async test that uses our fixtures and that no async plugin ran: name the fix.

    pytest's own message lists plugins to install; a user of webhook-kit[test] has anyio's
    installed already, and needs only its marker. Async plugins that take a test replace its
    function with a sync wrapper or run it in a hook of their own before this one, so an async
    function still here is one that no plugin will run.
    """
    test = pyfuncitem.obj
    if not (inspect.iscoroutinefunction(test) or inspect.isasyncgenfunction(test)):
        return
    used = sorted(_FIXTURES.intersection(pyfuncitem.fixturenames))
    if not used:
        return  # not ours to explain: pytest's own message follows
    pytest.fail(
        f"{pyfuncitem.name} is an async test that uses {', '.join(used)},\n"
        "and no async plugin ran it. webhook-kit[test] installs anyio's pytest plugin:\n"
        "mark the test for it, at the top of the module\n"
        "    pytestmark = pytest.mark.anyio\n"
        "(or @pytest.mark.anyio on the test), and name asyncio in conftest.py:\n"
        "    @pytest.fixture\n"
        "    def anyio_backend():\n"
        '        return "asyncio"\n'
        "With pytest-asyncio instead: @pytest.mark.asyncio, or asyncio_mode = auto.",
        pytrace=False,
    )


_CHECKED = pytest.StashKey[set[int]]()


def _check_receiver(request: pytest.FixtureRequest, receiver: MockReceiver) -> None:
    checked = request.node.stash.setdefault(_CHECKED, set())
    if id(receiver) in checked:
        return
    checked.add(id(receiver))
    if not receiver.problems or not _settings(request).checks:
        return
    lines = [f"webhook_receiver {receiver.url} recorded {len(receiver.problems)} problem(s):"]
    lines.extend(f"  - {problem}" for problem in receiver.problems)
    lines.append("deliveries received:")
    lines.extend(f"  {delivery.summary()}" for delivery in receiver.deliveries[-10:])
    lines.append("(mark the test with @pytest.mark.webhook_kit(checks=False) to allow this)")
    pytest.fail("\n".join(lines), pytrace=False)


@pytest.fixture
def fake_queue(request: pytest.FixtureRequest) -> Iterator[FakeQueue]:
    """A queue on a virtual clock that replays hours of retries in milliseconds.

    ``await WebhookSubscription.register(fake_queue)`` delivers in-process to the test's
    receivers and to apps mounted with ``fake_queue.mount(url_prefix, app)``;
    ``await fake_queue.run_until_idle()`` jumps the clock from one due attempt to the
    next. ``fake_queue.attempts``, ``.dead_letters``, ``.clock`` and ``.advance()`` are there for
    assertions. A delivery aimed at a URL no receiver or app serves, or an exception a mounted
    app raised, fails the test at teardown.
    """
    from webhook_kit.testing import FakeQueue

    queue = FakeQueue(start=_settings(request).start)
    yield queue
    for receiver in queue.router.receivers:  # those the test made itself, too
        _check_receiver(request, receiver)
    if queue.router.app_errors and _settings(request).checks:
        errors = "\n".join(f"  - {error}" for error in queue.router.app_errors)
        pytest.fail(
            f"an app mounted on fake_queue raised:\n{errors}\n"
            "(mark the test with @pytest.mark.webhook_kit(checks=False) to allow this)",
            pytrace=False,
        )
    if queue.router.refused and _settings(request).checks:
        refused = "\n".join(f"  - {url}" for url in queue.router.refused)
        known = "\n".join(f"  - {url}" for url in queue.router.known()) or "  (none)"
        pytest.fail(
            f"fake_queue refused deliveries to URLs no receiver serves:\n{refused}\n"
            f"receivers of this test:\n{known}\n"
            "(mark the test with @pytest.mark.webhook_kit(checks=False) to allow this)",
            pytrace=False,
        )


@pytest.fixture
def webhook_receiver(request: pytest.FixtureRequest) -> Iterator[MockReceiver]:
    """A scriptable in-process webhook receiver that records every delivery.

    ``webhook_receiver.url`` is served in-process by ``fake_queue`` (on its virtual clock when
    the test uses both). Script answers with ``.script([503, 503, 200])``, check signatures with
    ``.expect_signature(secret)``, assert with ``.assert_delivered(...)``, ``.unique_ids()``,
    ``.duplicates()`` and ``.gaps()``. A failed expected signature, or a script that ran out
    with ``then="fail"``, fails the test at teardown.
    """
    from webhook_kit.testing import MockReceiver

    if "fake_queue" in request.fixturenames:
        queue: FakeQueue = request.getfixturevalue("fake_queue")
        receiver = queue.receiver()
    else:
        receiver = MockReceiver()
    yield receiver
    _check_receiver(request, receiver)


@pytest.fixture
def webhook_receiver_server(request: pytest.FixtureRequest) -> Iterator[MockReceiver]:
    """A `MockReceiver` on a real socket: uvicorn on 127.0.0.1 and a free port.

    Its ``url`` is ``http://127.0.0.1:<port>/hooks``; subscriptions aimed at it need
    ``.allow_private_targets(True)`` (it is on loopback). Needs uvicorn (``webhook-kit[test]``).
    """
    from webhook_kit.testing import MockReceiver

    receiver = MockReceiver()
    with receiver.serve_in_thread() as url:
        receiver.url = url
        yield receiver
    _check_receiver(request, receiver)


@pytest.fixture
def webhook_secret() -> str:
    """A fresh random signing secret for this test: ``whsec_`` and the base64 of 32 random bytes.

    Valid for every scheme: Standard Webhooks and Svix decode it as their official libraries
    do, the other schemes use the text as it is.
    """
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
