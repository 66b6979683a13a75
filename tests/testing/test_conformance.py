"""`check_receiver`: the battery a receiver must pass, judged against good and bad receivers."""

from __future__ import annotations

import contextlib
import functools
import socket
from collections import Counter
from collections.abc import AsyncIterator

import anyio
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from webhook_kit import (
    DEFAULT_MAX_BODY_BYTES,
    InvalidInputError,
    SignatureFormat,
    VerificationError,
    VerificationFailure,
    VirtualClock,
    providers,
    verify_signature,
)
from webhook_kit.schemes import SignatureScheme
from webhook_kit.testing.conformance import DEFAULT_ANSWER_WITHIN, ReceiverReport, check_receiver

pytestmark = pytest.mark.anyio

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
Scheme = SignatureFormat | SignatureScheme

SCHEMES: list[Scheme] = [
    SignatureFormat.HEX_SHA256_WITH_PREFIX,
    SignatureFormat.STANDARD_WEBHOOKS,
    SignatureFormat.STRIPE,
    providers.GITHUB,
]
SCHEME_IDS = ["hex_sha256_with_prefix", "standard_webhooks", "stripe", "github"]

VALID = "a valid delivery is accepted"
DEDUP = "the same delivery id twice is processed once"
TAMPERED = "a tampered body is rejected"
WRONG = "a wrong signature is rejected"
MISSING = "a missing signature header is rejected"
MALFORMED = "a malformed signature header is rejected"
STALE = "a stale timestamp is rejected"
FUTURE = "a future timestamp is rejected"
OVERSIZED = "an oversized body"  # the name goes on with the size
REJECTIONS = [TAMPERED, WRONG, MISSING, MALFORMED]
ANSWERS = "every answer comes within"  # the name goes on with the budget

# On the system clock, how long answers take is real time: these tests give the budget an hour,
# so a loaded machine cannot make a finding of it. The slow-answer tests run on a virtual clock.
check = functools.partial(check_receiver, answer_within=3600)


def is_timestamped(scheme: Scheme) -> bool:
    return scheme.timestamped


class Receiver:
    """A Starlette receiver whose behaviour the test chooses; counts its side effects per id."""

    def __init__(
        self,
        scheme: Scheme = SignatureFormat.HEX_SHA256_WITH_PREFIX,
        *,
        verifies: bool = True,
        dedups: bool = True,
        bad_signature_status: int = 400,
        tolerance: float = 300,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        repeat_status: int = 200,
        path: str = "/",
    ) -> None:
        self.scheme = scheme
        self.verifies, self.dedups = verifies, dedups
        self.bad_signature_status = bad_signature_status
        self.tolerance, self.max_body_bytes = tolerance, max_body_bytes
        self.repeat_status = repeat_status
        self.processed: Counter[str] = Counter()
        self.app: ASGIApp = Starlette(routes=[Route(path, self.hook, methods=["POST"])])

    def count(self, delivery_id: str) -> int:
        return self.processed[delivery_id]

    async def async_count(self, delivery_id: str) -> int:
        await anyio.lowlevel.checkpoint()
        return self.processed[delivery_id]

    async def hook(self, request: Request) -> Response:
        if self.verifies:
            try:
                webhook = await verify_signature(
                    request,
                    SECRET,
                    scheme=self.scheme,
                    tolerance=self.tolerance,
                    max_body_bytes=self.max_body_bytes,
                )
            except VerificationError as exc:
                too_large = exc.reason is VerificationFailure.BODY_TOO_LARGE
                return Response(status_code=413 if too_large else self.bad_signature_status)
            delivery_id = webhook.id or request.headers["x-webhook-id"]
        else:
            await request.body()
            delivery_id = request.headers.get("x-webhook-id", "")
        if delivery_id in self.processed and self.dedups:
            return Response(status_code=self.repeat_status)
        self.processed[delivery_id] += 1
        return Response(status_code=204)


def lines(report: ReceiverReport) -> list[str]:
    return str(report).splitlines()[1:]


def result(report: ReceiverReport, name: str) -> tuple[bool | None, int | None, str]:
    (found,) = [r for r in report.results if r.name.startswith(name)]
    return found.passed, found.status, found.detail


@contextlib.asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and a free port; yield the URL of ``/``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])
        while not server.started:  # noqa: ASYNC110 (uvicorn has no "started" event)
            await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            server.should_exit = True
    sock.close()


# -- a well-behaved receiver ----------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEME_IDS)
async def test_a_well_behaved_receiver_passes_every_check(scheme: Scheme) -> None:
    receiver = Receiver(scheme)
    report = await check(receiver.app, SECRET, scheme, processed=receiver.count)
    assert report, str(report)
    assert report.failures == []
    assert report.not_judged == []
    report.raise_for_failures()
    names = [r.name for r in report.results]
    expected = [VALID, *REJECTIONS]
    if is_timestamped(scheme):
        expected += [STALE, FUTURE]
    expected.append(DEDUP)
    assert names[:-2] == expected
    assert names[-2].startswith(OVERSIZED)
    assert names[-1] == f"{ANSWERS} 3600 s"
    text = str(report)
    assert text.splitlines()[0] == (
        f"webhook receiver conformance for ASGI app Starlette at / (scheme {report.scheme}): "
        f"{len(expected) + 2} passed, 0 failed, 0 not judged"
    )
    assert all(line.startswith("  PASS  ") for line in lines(report))
    assert result(report, VALID)[:2] == (True, 204)
    assert result(report, TAMPERED)[:2] == (True, 400)
    assert result(report, OVERSIZED)[:2] == (True, 413)
    assert result(report, DEDUP) == (True, 200, "processed once")
    # The battery's deliveries really reached the receiver's side effect.
    assert sorted(receiver.processed.values()) == [1, 1]


async def test_the_report_names_the_scheme() -> None:
    receiver = Receiver(providers.GITHUB)
    report = await check(receiver.app, SECRET, providers.GITHUB, processed=receiver.count)
    assert report.scheme == "github"
    assert report.target == "ASGI app Starlette at /"


async def test_an_async_processed_callback_is_awaited() -> None:
    receiver = Receiver()
    report = await check(receiver.app, SECRET, processed=receiver.async_count)
    assert result(report, DEDUP) == (True, 200, "processed once")
    assert report


async def test_the_path_option_reaches_an_app_routed_elsewhere() -> None:
    receiver = Receiver(path="/webhooks/in")
    report = await check(receiver.app, SECRET, processed=receiver.count, path="/webhooks/in")
    assert report, str(report)
    assert report.target == "ASGI app Starlette at /webhooks/in"
    wrong_path = await check(receiver.app, SECRET, processed=receiver.count)
    assert result(wrong_path, VALID)[:2] == (False, 404)


# -- receivers that get it wrong ------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEME_IDS)
async def test_a_naive_receiver_fails_every_rejection_check(scheme: Scheme) -> None:
    receiver = Receiver(scheme, verifies=False, dedups=False)
    report = await check(receiver.app, SECRET, scheme)
    assert not report
    failed = [r.name for r in report.failures]
    expected = [*REJECTIONS, *([STALE, FUTURE] if is_timestamped(scheme) else [])]
    assert failed[:-1] == expected
    assert failed[-1].startswith(OVERSIZED)
    for failure in report.failures:
        assert failure.status == 204
        assert failure.detail == "ACCEPTED: the receiver must refuse this"
    assert result(report, VALID)[0] is True
    assert result(report, DEDUP)[0] is None  # no processed=: not judged
    assert sum(line.startswith("  FAIL  ") for line in lines(report)) == len(expected) + 1


async def test_a_receiver_answering_500_to_bad_signatures_fails() -> None:
    receiver = Receiver(SignatureFormat.STRIPE, bad_signature_status=500)
    report = await check(receiver.app, SECRET, SignatureFormat.STRIPE, processed=receiver.count)
    assert not report
    assert [r.name for r in report.failures] == [*REJECTIONS, STALE, FUTURE]
    for failure in report.failures:
        assert failure.status == 500
        assert "server error" in failure.detail
    assert result(report, OVERSIZED)[:2] == (True, 413)  # still refused with a 4xx
    assert "500  rejected with a server error" in str(report)


async def test_a_receiver_that_ignores_the_timestamp_fails_stale_and_future() -> None:
    receiver = Receiver(SignatureFormat.STANDARD_WEBHOOKS, tolerance=10 * 24 * 3600)
    report = await check(
        receiver.app, SECRET, SignatureFormat.STANDARD_WEBHOOKS, processed=receiver.count
    )
    assert [r.name for r in report.failures] == [STALE, FUTURE]


async def test_a_receiver_that_reads_any_size_fails_the_oversized_check() -> None:
    receiver = Receiver(max_body_bytes=64 * 1024 * 1024)
    report = await check(receiver.app, SECRET, processed=receiver.count)
    assert [r.name[: len(OVERSIZED)] for r in report.failures] == [OVERSIZED]
    passed, status, detail = result(report, OVERSIZED)
    assert (passed, status) == (False, 204)
    assert "ACCEPTED" in detail


async def test_the_oversized_size_is_configurable() -> None:
    receiver = Receiver(max_body_bytes=64 * 1024)
    report = await check(receiver.app, SECRET, processed=receiver.count, oversized_bytes=70 * 1024)
    assert report, str(report)
    (big,) = [r for r in report.results if r.name.startswith(OVERSIZED)]
    size = int(big.name.split("(")[1].split(" bytes")[0].replace(",", ""))
    assert 70 * 1024 < size < 71 * 1024


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_a_receiver_processing_duplicates_twice_fails_the_dedup_check(
    use_async: bool,
) -> None:
    receiver = Receiver(dedups=False)
    processed = receiver.async_count if use_async else receiver.count
    report = await check(receiver.app, SECRET, processed=processed)
    assert not report
    assert [r.name for r in report.failures] == [DEDUP]
    assert result(report, DEDUP) == (False, 204, "processed 2 times")
    with pytest.raises(AssertionError) as raised:
        report.raise_for_failures()
    assert str(raised.value) == str(report)
    assert "FAIL  the same delivery id twice is processed once" in str(raised.value)
    assert "processed 2 times" in str(raised.value)


async def test_without_processed_the_dedup_check_is_not_judged() -> None:
    receiver = Receiver(dedups=False)
    report = await check(receiver.app, SECRET)
    assert not report  # not judged is not passed
    assert report.failures == []
    assert [r.name for r in report.not_judged] == [DEDUP]
    passed, _, detail = result(report, DEDUP)
    assert passed is None
    assert detail.startswith("not judged: pass processed=")
    (skip,) = [line for line in lines(report) if line.startswith("  SKIP  ")]
    assert DEDUP in skip
    assert str(report).splitlines()[0].endswith("7 passed, 0 failed, 1 not judged")
    with pytest.raises(AssertionError, match="1 not judged"):
        report.raise_for_failures()


async def test_a_repeat_answered_with_an_error_fails_the_dedup_check() -> None:
    receiver = Receiver(repeat_status=409)
    report = await check(receiver.app, SECRET, processed=receiver.count)
    passed, status, detail = result(report, DEDUP)
    assert (passed, status) == (False, 409)
    assert "the repeat was not answered 2xx" in detail


async def test_a_receiver_with_another_secret_fails_the_valid_and_dedup_checks() -> None:
    receiver = Receiver()
    report = await check(receiver.app, "not-" + SECRET, processed=receiver.count)
    assert [r.name for r in report.failures] == [VALID, DEDUP]
    assert result(report, VALID)[:2] == (False, 400)
    assert "the first delivery was not accepted" in result(report, DEDUP)[2]


async def test_an_unreachable_url_fails_with_no_response() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    report = await check(f"http://127.0.0.1:{port}/", SECRET, timeout=2)
    assert not report
    passed, status, detail = result(report, VALID)
    assert (passed, status) == (False, None)
    assert "no response" in detail
    assert " - " in str(report).splitlines()[1]  # no status shown as "-"


# -- against a URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme",
    [SignatureFormat.HEX_SHA256_WITH_PREFIX, SignatureFormat.STANDARD_WEBHOOKS],
    ids=["hex_sha256_with_prefix", "standard_webhooks"],
)
async def test_check_receiver_against_a_url(scheme: Scheme) -> None:
    receiver = Receiver(scheme)
    async with served(receiver.app) as url:
        report = await check(url, SECRET, scheme, processed=receiver.count)
    assert report.target == url
    assert result(report, VALID)[:2] == (True, 204)
    assert result(report, OVERSIZED)[:2] == (True, 413)
    assert result(report, DEDUP)[0] is True
    # Was a bug: the malformed header value is "!!not a signature!! " * 3, with a trailing space;
    # a real HTTP client (h11) refuses to send it, so the check fails with "no response:
    # LocalProtocolError: Illegal header value" against every URL.
    assert result(report, MALFORMED)[:2] == (True, 400), result(report, MALFORMED)
    assert report, str(report)


async def test_a_naive_receiver_fails_against_a_url_too() -> None:
    receiver = Receiver(verifies=False, dedups=False)
    async with served(receiver.app) as url:
        report = await check(url, SECRET, processed=receiver.count)
    assert not report
    assert result(report, TAMPERED) == (False, 204, "ACCEPTED: the receiver must refuse this")
    assert result(report, DEDUP) == (False, 204, "processed 2 times")


# -- a slow receiver ------------------------------------------------------------------------


class SlowReceiver(Receiver):
    """A well-behaved receiver that takes ``seconds`` of the virtual clock on chosen requests.

    The clock moves only inside the app, so "how long an answer took" is exact and no real
    second passes: nothing here races a timer.
    """

    def __init__(self, clock: VirtualClock, seconds: float, *, on: str = "first") -> None:
        super().__init__()
        self.clock, self.seconds, self.on = clock, seconds, on
        self.requests = 0

    async def hook(self, request: Request) -> Response:
        self.requests += 1
        body = await request.body()
        if (self.on == "first" and self.requests == 1) or (
            self.on == "large" and len(body) > 1024 * 1024
        ):
            self.clock.advance(self.seconds)
        return await super().hook(request)


async def test_a_receiver_slower_than_the_default_budget_is_its_own_finding() -> None:
    clock = VirtualClock()
    receiver = SlowReceiver(clock, 7)
    report = await check_receiver(receiver.app, SECRET, processed=receiver.count, clock=clock)
    assert not report
    assert [r.name for r in report.failures] == [f"{ANSWERS} 5 s"]  # only this one
    passed, status, detail = result(report, ANSWERS)
    assert (passed, status) == (False, 204)
    assert detail.startswith("SLOW: the valid delivery took 7.0 s; providers give up")
    assert "GitHub after 10 s, Svix after 15 s" in detail
    assert result(report, VALID)[:2] == (True, 204)  # a slow 2xx is still accepted
    (fail,) = [line for line in lines(report) if line.startswith("  FAIL  ")]
    assert f"{ANSWERS} 5 s" in fail
    with pytest.raises(AssertionError, match=r"the valid delivery took 7\.0 s"):
        report.raise_for_failures()


async def test_the_budget_is_configurable_and_inclusive() -> None:
    for budget, seconds, slow in ((10, 7, False), (7, 7, False), (6.5, 7, True)):
        clock = VirtualClock()
        receiver = SlowReceiver(clock, seconds)
        report = await check_receiver(
            receiver.app, SECRET, processed=receiver.count, clock=clock, answer_within=budget
        )
        assert bool(report) is not slow, (budget, str(report))
        assert result(report, ANSWERS)[0] is not slow
        assert report.results[-1].name == f"{ANSWERS} {budget:g} s"


async def test_the_slowest_answer_is_the_one_named_even_a_rejection() -> None:
    clock = VirtualClock()
    receiver = SlowReceiver(clock, 12.5, on="large")
    report = await check_receiver(receiver.app, SECRET, processed=receiver.count, clock=clock)
    passed, status, detail = result(report, ANSWERS)
    assert (passed, status) == (False, 413)
    assert detail.startswith("SLOW: the oversized body took 12.5 s")


async def test_a_fast_receiver_passes_on_the_virtual_clock() -> None:
    clock = VirtualClock()
    receiver = SlowReceiver(clock, 0)  # counts the requests; takes no time
    report = await check_receiver(receiver.app, SECRET, processed=receiver.count, clock=clock)
    assert report, str(report)
    assert result(report, ANSWERS) == (True, None, f"{receiver.requests} answers, none slower")
    assert report.results[-1].name == f"{ANSWERS} {DEFAULT_ANSWER_WITHIN:g} s" == f"{ANSWERS} 5 s"


@pytest.mark.parametrize("budget", [0, -1, float("nan"), float("inf"), True, "5"])
async def test_a_bad_budget_is_refused_at_the_call(budget: object) -> None:
    with pytest.raises(InvalidInputError, match="answer_within must be a positive number"):
        await check_receiver(Receiver().app, SECRET, answer_within=budget)  # type: ignore[arg-type]
