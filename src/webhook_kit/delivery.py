"""One delivery attempt: build the request, POST it, classify the answer into an outcome.

The toolkit owns the retry policy: this module turns a response (or a failure) into
`Delivered`, `RetryAt` or `DeadLetter`, and the queue only stores what it is told.
"""

from __future__ import annotations

import inspect
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from contextvars import Token
from typing import TYPE_CHECKING

from . import observability
from .attempt_log import log_attempt
from .clock import AttemptBudget, _attempt_budget
from .errors import InvalidSecretError, MissingDependencyError
from .events import WebhookEvent
from .fix_hints import fix
from .http_stacks import HttpResponse, NetworkStack, Timeouts, TransportError
from .keys import SecretOrSecrets
from .netguard import TargetRefusedError
from .outcomes import (
    RESPONSE_EXCERPT_BYTES,
    AttemptRecord,
    DeadLetter,
    Delivered,
    Outcome,
    RetryAt,
)
from .registrations import secret_memory_of
from .retry import parse_retry_after
from .signing import FORMAT_SCHEMES
from .url_masking import scrubbed
from .wire import HEADER_EVENT, HEADER_ID, HEADER_SIGNATURE, USER_AGENT

if TYPE_CHECKING:
    from .queues.protocol import Claim, DeliveryStore

__all__ = ["DeliveryHandler", "SecretResolver", "build_headers", "classify"]

logger = logging.getLogger("webhook_kit.delivery")

SecretResolver = Callable[
    [WebhookEvent], "Awaitable[SecretOrSecrets | None] | SecretOrSecrets | None"
]
"""Finds the secret of a delivery dispatched by another process: ``(event) -> secret``."""

_DELIVERED = Delivered()


def build_headers(
    event: WebhookEvent, secret: SecretOrSecrets | None, now: float
) -> dict[str, str]:
    """The headers of one attempt, per the wire contract.

    Raises:
        InvalidSecretError: a timestamped format and no secret (or one that does not decode).
    """
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER_ID: event.id,
        HEADER_EVENT: event.event,
    }
    if event.signature is not None:
        headers[HEADER_SIGNATURE] = event.signature
    else:
        if secret is None:
            raise InvalidSecretError(
                f"{event.signature_format.value} is signed at each attempt and this process "
                "has no secret for it: "
                + fix(
                    "register the worker with "
                    "WebhookSubscription.register(queue, secrets=resolver)",
                    "run the worker with --secret (or $WEBHOOK_KIT_SECRET)",
                )
            )
        scheme = FORMAT_SCHEMES[event.signature_format]
        headers.update(
            scheme.signature_headers(
                event.body_bytes, scheme.keys(secret), webhook_id=event.id, timestamp=int(now)
            )
        )
    for name, value in event.headers:
        if name.lower() == "user-agent":  # the subscription's own replaces webhook-kit's
            del headers["User-Agent"]
        headers[name] = value
    return headers


def classify(event: WebhookEvent, response: HttpResponse, attempt: int, now: float) -> Outcome:
    """The outcome of a response to attempt number ``attempt``, before the attempt budget.

    2xx delivered; 410 dead and gone; 408, 429, 5xx and the event's extra codes retried
    (``Retry-After`` honoured, clamped to the policy's ``max_delay``); anything else dead.
    """
    status = response.status
    if 200 <= status < 300:
        return _DELIVERED
    if status == 410:
        return DeadLetter("the receiver answered 410 Gone: the endpoint is gone", gone=True)
    if event.is_retryable_status(status):
        return RetryAt(now + retry_delay(event, attempt, response.headers.get("retry-after"), now))
    kind = "a redirect (never followed)" if 300 <= status < 400 else "a client error"
    return DeadLetter(f"the receiver answered {status}, {kind}: not retried")


def retry_delay(event: WebhookEvent, attempt: int, retry_after: str | None, now: float) -> float:
    """Seconds before the next attempt: ``Retry-After`` if it parses, else the policy's backoff."""
    policy = event.retry_policy
    asked = parse_retry_after(retry_after, now)
    if asked is not None:
        return min(asked, policy.max_delay)
    return policy.delay_after(attempt)


class DeliveryHandler:
    """Makes attempts for a queue: installed by `WebhookSubscription.register`, kept by this
    process for the queue (`webhook_kit.registrations`), never stored in it.

    Args:
        stack: the network stack; ``None`` picks the default (aiohttp when the ``fast`` extra
            is installed, else httpx), with the network guard on.
        secrets: finds secrets for deliveries dispatched in another process.
    """

    def __init__(
        self, *, stack: NetworkStack | None = None, secrets: SecretResolver | None = None
    ) -> None:
        self._stack = stack
        self.secrets = secrets

    @property
    def stack(self) -> NetworkStack:
        """The network stack (created on first use)."""
        if self._stack is None:
            from .http_stacks import default_stack

            self._stack = default_stack()
        return self._stack

    def with_stack(self, stack: NetworkStack) -> DeliveryHandler:
        """A handler like this one on another stack (a worker's own client)."""
        return DeliveryHandler(stack=stack, secrets=self.secrets)

    async def aclose(self) -> None:
        """Close the stack's connections (the stack reopens them if it is used again)."""
        if self._stack is not None:
            await self._stack.aclose()

    async def __aenter__(self) -> DeliveryHandler:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _secret_for(
        self, queue: DeliveryStore, event: WebhookEvent
    ) -> SecretOrSecrets | None:
        secret = secret_memory_of(queue).get(event.id)
        if secret is None and self.secrets is not None:
            found = self.secrets(event)
            secret = await found if inspect.isawaitable(found) else found
        return secret

    async def attempt(self, queue: DeliveryStore, claim: Claim) -> tuple[Outcome, AttemptRecord]:
        """Make one attempt of ``claim`` and decide its outcome (nothing is recorded here).

        Traced and counted once `webhook_kit.observability.instrument` was called.
        """
        telemetry = observability._telemetry
        if telemetry is not None:
            return await telemetry.attempt(self._attempt, queue, claim)
        outcome, record, _ = await self._attempt(queue, claim)
        return outcome, record

    async def _attempt(
        self, queue: DeliveryStore, claim: Claim
    ) -> tuple[Outcome, AttemptRecord, str | None]:
        """`attempt`, and the type of failure that stood for a response, if any (for spans):
        a `TransportErrorKind` value, else the exception's class name."""
        event = claim.event
        clock = queue.clock
        started_at = clock.now()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        excerpt = ""
        error_type: str | None = None  # a string, not the exception: no traceback kept alive
        spent = event.retry_policy.max_attempts
        if claim.attempt > spent:
            # The policy's attempts were all made, the last ones interrupted (a worker died
            # holding them, and the lease ran out): a delivery that kills its worker every
            # time ends as a dead letter, not in an endless cycle of claims.
            error = (
                f"not sent: the policy's {spent} attempts are spent, the last interrupted "
                "(its worker stopped)"
            )
            record = AttemptRecord(
                delivery_id=event.id,
                attempt=claim.attempt,
                started_at=started_at,
                status=None,
                error=error,
                latency=0.0,
                response_excerpt="",
                outcome="dead",
            )
            reason = f"gave up after {spent} attempts; the last was interrupted"
            return DeadLetter(reason, unsent=True), record, "interrupted"
        try:
            secret = None if event.signature is not None else await self._secret_for(queue, event)
            headers = build_headers(event, secret, started_at)
            budget = _open_budget(event) if clock.is_virtual else None
            try:
                response = await self.stack.post(
                    event.target_url,
                    event.body_bytes,
                    headers,
                    timeouts=Timeouts(event.connect_timeout, event.timeout),
                    policy=event.network,
                )
            finally:
                if budget is not None:
                    _attempt_budget.reset(budget)
        except TargetRefusedError as exc:
            error_type = type(exc).__name__
            error = _shown(exc, event)
            outcome: Outcome = DeadLetter(error, unsent=True)
        except TransportError as exc:
            error_type = exc.kind.value
            error = f"{exc.kind.value}: {_shown(exc, event)}"
            outcome = RetryAt(clock.now() + retry_delay(event, claim.attempt, None, clock.now()))
        except (InvalidSecretError, MissingDependencyError) as exc:
            error_type = type(exc).__name__
            error = _shown(exc, event)
            outcome = DeadLetter(error, unsent=True)
        except Exception as exc:  # a fault below us must not lose the delivery: retry it
            # The traceback as text, scrubbed: a library's message may quote the URL.
            logger.error(
                "webhook %s attempt %d failed unexpectedly\n%s",
                event.id,
                claim.attempt,
                scrubbed("".join(traceback.format_exception(exc)).rstrip(), event.target_url),
            )
            error_type = type(exc).__name__
            error = f"{error_type}: {_shown(exc, event)}"
            outcome = RetryAt(clock.now() + retry_delay(event, claim.attempt, None, clock.now()))
        else:
            status = response.status
            excerpt = response.body[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")
            outcome = classify(event, response, claim.attempt, clock.now())
        outcome = self._within_budget(event, claim.attempt, outcome, status, error)
        record = AttemptRecord(
            delivery_id=event.id,
            attempt=claim.attempt,
            started_at=started_at,
            status=status,
            error=error,
            latency=time.perf_counter() - started,
            response_excerpt=excerpt,
            outcome=_OUTCOME_NAMES[type(outcome)],
        )
        log_attempt(event, record, outcome, clock.now())
        return outcome, record, error_type

    @staticmethod
    def _within_budget(
        event: WebhookEvent,
        attempt: int,
        outcome: Outcome,
        status: int | None,
        error: str | None,
    ) -> Outcome:
        """Turn a retry into a dead letter once the policy's attempts are spent."""
        if not isinstance(outcome, RetryAt):
            return outcome
        policy = event.retry_policy
        if attempt >= policy.max_attempts:
            last = f"status {status}" if status is not None else (error or "no response")
            return DeadLetter(f"gave up after {attempt} attempts; the last: {last}")
        return outcome


def _shown(exc: BaseException, event: WebhookEvent) -> str:
    """An exception's text as an attempt record, a dead letter or a log may show it: without
    the target URL's credentials, query or fragment, whoever wrote the text."""
    return scrubbed(str(exc), event.target_url)


def _open_budget(event: WebhookEvent) -> Token[AttemptBudget | None]:
    """On a virtual clock, in-process receivers charge scripted delays to this budget."""
    return _attempt_budget.set(AttemptBudget(event.timeout))


_OUTCOME_NAMES: dict[type, str] = {Delivered: "delivered", RetryAt: "retry", DeadLetter: "dead"}
