"""`check_receiver`: fire what a hostile or retrying sender does at your receiver, and report."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ..clock import Clock, SystemClock
from ..errors import InvalidInputError
from ..keys import SecretOrSecrets
from ..schemes import SignatureScheme
from ..signing import SignatureFormat, scheme_of
from ..verification import DEFAULT_MAX_BODY_BYTES
from ..wire import HEADER_EVENT, HEADER_ID, USER_AGENT

__all__ = ["DEFAULT_ANSWER_WITHIN", "CheckResult", "ReceiverReport", "check_receiver"]

DEFAULT_ANSWER_WITHIN = 5.0
"""Seconds a receiver may take to answer in `check_receiver` before it is reported slow: half of
GitHub's 10 s, a third of Svix's 15 s, so a receiver within it keeps within theirs under load."""


_EVENT = "webhook_kit.conformance"
_STALE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: its name, verdict (``True``, ``False``, or ``None`` = not judged), details."""

    name: str
    passed: bool | None
    status: int | None
    detail: str

    def line(self) -> str:
        """One report line."""
        verdict = {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]
        status = "-" if self.status is None else str(self.status)
        return f"  {verdict}  {self.name:<52} {status:>4}  {self.detail}"


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """What `check_receiver` found; truthy only when every check passed.

    ``print(report)`` gives a table good enough to paste into a bug report.
    """

    target: str
    scheme: str
    results: tuple[CheckResult, ...]

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that failed."""
        return [result for result in self.results if result.passed is False]

    @property
    def not_judged(self) -> list[CheckResult]:
        """The checks that could not be judged (e.g. dedup without ``processed=``)."""
        return [result for result in self.results if result.passed is None]

    def __bool__(self) -> bool:
        return all(result.passed for result in self.results)

    def __str__(self) -> str:
        passed = sum(1 for result in self.results if result.passed)
        head = (
            f"webhook receiver conformance for {self.target} (scheme {self.scheme}): "
            f"{passed} passed, {len(self.failures)} failed, {len(self.not_judged)} not judged"
        )
        return "\n".join([head, *(result.line() for result in self.results)])

    def raise_for_failures(self) -> None:
        """Raise ``AssertionError`` with the whole report unless every check passed."""
        __tracebackhide__ = True
        if not self:
            raise AssertionError(str(self))


class _Battery:
    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        scheme: SignatureScheme,
        secret: SecretOrSecrets,
        max_body_bytes: int,
        clock: Clock,
    ) -> None:
        self.client, self.url, self.scheme = client, url, scheme
        self.keys = scheme.keys(secret)
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        # The slowest answer so far: seconds, what was sent, its status.
        self.slowest: tuple[float, str, int | None] | None = None
        self.requests = 0

    def body(self, delivery_id: str, padding: int = 0) -> bytes:
        payload: dict[str, Any] = {"id": delivery_id, "type": _EVENT, "data": {"check": True}}
        if padding:
            payload["data"]["padding"] = "x" * padding
        return json.dumps(payload, separators=(",", ":")).encode()

    def headers(self, body: bytes, delivery_id: str, timestamp: int) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            HEADER_ID: delivery_id,
            HEADER_EVENT: _EVENT,
        }
        if self.scheme.event_header is not None:
            headers[self.scheme.event_header] = _EVENT
        headers.update(
            self.scheme.signature_headers(
                body, self.keys, webhook_id=delivery_id, timestamp=timestamp
            )
        )
        return headers

    async def post(
        self, body: bytes, headers: dict[str, str], what: str
    ) -> tuple[int | None, str]:
        """POST ``body``; ``what`` names the request for the slow-answer finding."""
        started = self.clock.now()
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            status, text = None, f"no response: {type(exc).__name__}: {exc}"
        else:
            status, text = response.status_code, response.text[:200]
        took = self.clock.now() - started
        self.requests += 1
        if self.slowest is None or took > self.slowest[0]:
            self.slowest = (took, what, status)
        return status, text


def _expect_rejected(name: str, status: int | None, text: str) -> CheckResult:
    if status is None:
        return CheckResult(name, False, None, text)
    if 400 <= status < 500:
        return CheckResult(name, True, status, "rejected")
    if status >= 500:
        return CheckResult(
            name,
            False,
            status,
            "rejected with a server error: answer 4xx (a 5xx makes senders "
            "retry a request that can never verify)",
        )
    return CheckResult(name, False, status, "ACCEPTED: the receiver must refuse this")


async def check_receiver(
    app_or_url: Any,
    secret: SecretOrSecrets,
    scheme: SignatureFormat | SignatureScheme = SignatureFormat.HEX_SHA256_WITH_PREFIX,
    *,
    processed: Callable[[str], int | Awaitable[int]] | None = None,
    path: str = "/",
    oversized_bytes: int = DEFAULT_MAX_BODY_BYTES + 1024 * 1024,
    timeout: float = 30.0,
    answer_within: float = DEFAULT_ANSWER_WITHIN,
    clock: Clock | None = None,
) -> ReceiverReport:
    """Check that a receiver verifies, deduplicates and refuses what it must.

    Fires a battery at ``app_or_url`` (an ASGI app, run in-process, or a URL): a valid
    delivery must be accepted (2xx); a tampered body, a wrong signature, a missing or malformed
    signature header, and — for timestamped schemes — a stale or future timestamp must be
    rejected with a 4xx, never a 5xx; the same delivery id sent twice must be processed once
    (judged through ``processed``, reported as not judged without it); an oversized body must be
    refused. Every answer must come within ``answer_within`` seconds: a slow receiver is a
    finding of its own, since providers give up on one (GitHub after 10 s, Svix after 15 s)
    and send the delivery again.

    Usage:

        report = await check_receiver(app, SECRET, processed=lambda id: seen[id])
        report.raise_for_failures()      # in pytest: the whole report on failure
        print(report)

    Args:
        app_or_url: your ASGI app, or the URL of a running receiver.
        secret: the secret your receiver verifies with.
        scheme: the `SignatureFormat` or provider preset your receiver expects.
        processed: ``(delivery_id) -> int`` (sync or async): how many times your side effect
            ran for that id.
        path: the receiver's path, when ``app_or_url`` is an app.
        oversized_bytes: the size of the oversized body.
        timeout: seconds to wait for each answer.
        answer_within: seconds an answer may take before the receiver is reported slow
            (default `DEFAULT_ANSWER_WITHIN`, 5).
        clock: where the time comes from, for timestamped signatures and for how long answers
            take (default: the system clock).

    Raises:
        InvalidInputError: ``answer_within`` is not a positive number of seconds.
    """
    if (
        isinstance(answer_within, bool)
        or not isinstance(answer_within, (int, float))
        or not math.isfinite(answer_within)
        or answer_within <= 0
    ):
        raise InvalidInputError(
            f"answer_within must be a positive number of seconds, not {answer_within!r}"
        )
    resolved = scheme_of(scheme)
    if isinstance(app_or_url, str):
        client = httpx.AsyncClient(timeout=timeout)
        url, target = app_or_url, app_or_url
    else:
        # An app's unhandled exception is a 500 to a real sender: report it, do not raise it.
        transport = httpx.ASGITransport(app=app_or_url, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, timeout=timeout)
        url = f"http://receiver.{'webhook-kit.test'}{path}"
        target = f"ASGI app {type(app_or_url).__name__} at {path}"
    async with client:
        battery = _Battery(client, url, resolved, secret, oversized_bytes, clock or SystemClock())
        results = await _run(battery, resolved, processed, oversized_bytes)
        results.append(_check_answer_times(battery, answer_within))
    return ReceiverReport(target, resolved.name, tuple(results))


async def _run(
    battery: _Battery,
    scheme: SignatureScheme,
    processed: Callable[[str], int | Awaitable[int]] | None,
    oversized_bytes: int,
) -> list[CheckResult]:
    now = int(battery.clock.now())
    results: list[CheckResult] = []

    valid_id = str(uuid.uuid4())
    body = battery.body(valid_id)
    headers = battery.headers(body, valid_id, now)
    status, text = await battery.post(body, headers, "the valid delivery")
    accepted = status is not None and 200 <= status < 300
    results.append(
        CheckResult(
            "a valid delivery is accepted",
            accepted,
            status,
            "accepted" if accepted else f"not accepted: {text!r}",
        )
    )

    tampered_id = str(uuid.uuid4())
    body = battery.body(tampered_id)
    headers = battery.headers(body, tampered_id, now)
    results.append(
        _expect_rejected(
            "a tampered body is rejected",
            *await battery.post(body.replace(b"true", b"false"), headers, "the tampered body"),
        )
    )

    wrong_id = str(uuid.uuid4())
    body = battery.body(wrong_id)
    wrong = _Battery(
        # Bytes: a raw key under every scheme (Standard Webhooks would base64-decode text).
        battery.client,
        battery.url,
        scheme,
        b"not-the-secret-" + wrong_id.encode(),
        0,
        battery.clock,
    )
    results.append(
        _expect_rejected(
            "a wrong signature is rejected",
            *await battery.post(body, wrong.headers(body, wrong_id, now), "the wrong signature"),
        )
    )

    signature_headers = set(scheme.signature_header_names)
    missing_id = str(uuid.uuid4())
    body = battery.body(missing_id)
    headers = {
        name: value
        for name, value in battery.headers(body, missing_id, now).items()
        if name not in signature_headers
    }
    results.append(
        _expect_rejected(
            "a missing signature header is rejected",
            *await battery.post(body, headers, "the missing signature header"),
        )
    )

    malformed_id = str(uuid.uuid4())
    body = battery.body(malformed_id)
    headers = battery.headers(body, malformed_id, now)
    for name in signature_headers:
        headers[name] = " ".join(["!!not a signature!!"] * 3)
    results.append(
        _expect_rejected(
            "a malformed signature header is rejected",
            *await battery.post(body, headers, "the malformed signature header"),
        )
    )

    if scheme.timestamped:
        for label, what, moment in (
            ("a stale timestamp is rejected", "the stale timestamp", now - _STALE_SECONDS),
            ("a future timestamp is rejected", "the future timestamp", now + _STALE_SECONDS),
        ):
            delivery_id = str(uuid.uuid4())
            body = battery.body(delivery_id)
            results.append(
                _expect_rejected(
                    label,
                    *await battery.post(body, battery.headers(body, delivery_id, moment), what),
                )
            )

    results.append(await _check_duplicate(battery, now, processed))

    big_id = str(uuid.uuid4())
    body = battery.body(big_id, padding=oversized_bytes)
    results.append(
        _expect_rejected(
            f"an oversized body ({len(body):,} bytes) is refused",
            *await battery.post(body, battery.headers(body, big_id, now), "the oversized body"),
        )
    )
    return results


async def _check_duplicate(
    battery: _Battery, now: int, processed: Callable[[str], int | Awaitable[int]] | None
) -> CheckResult:
    name = "the same delivery id twice is processed once"
    delivery_id = str(uuid.uuid4())
    body = battery.body(delivery_id)
    headers = battery.headers(body, delivery_id, now)
    first, text = await battery.post(body, headers, "the first of the same id twice")
    if first is None or not 200 <= first < 300:
        return CheckResult(name, False, first, f"the first delivery was not accepted: {text!r}")
    second, text = await battery.post(
        body, battery.headers(body, delivery_id, now), "the repeat of the same id"
    )
    if second is None or not 200 <= second < 300:
        return CheckResult(
            name,
            False,
            second,
            "the repeat was not answered 2xx: a receiver should acknowledge a duplicate it "
            f"already processed, or the sender retries it ({text!r})",
        )
    if processed is None:
        return CheckResult(
            name,
            None,
            second,
            "not judged: pass processed=lambda id: <times your side effect ran for id>",
        )
    count = processed(delivery_id)
    if not isinstance(count, int):
        count = await count
    if count == 1:
        return CheckResult(name, True, second, "processed once")
    return CheckResult(name, False, second, f"processed {count} times")


def _check_answer_times(battery: _Battery, answer_within: float) -> CheckResult:
    name = f"every answer comes within {answer_within:g} s"
    if battery.slowest is None or battery.slowest[0] <= answer_within:
        return CheckResult(name, True, None, f"{battery.requests} answers, none slower")
    took, what, status = battery.slowest
    return CheckResult(
        name,
        False,
        status,
        f"SLOW: {what} took {took:.1f} s; providers give up (GitHub after 10 s, Svix after "
        "15 s) and send it again: answer 2xx at once and do the work in the background",
    )
