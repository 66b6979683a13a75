"""OpenTelemetry spans and metrics for delivery attempts (extra ``otel``), off until switched on.

    from webhook_kit import observability

    observability.instrument()  # the global tracer and meter providers, or pass your own

From then on, every attempt this process makes (a `Worker`'s, the ``webhook-kit worker``
command's, on any queue) is one span and a few metric
points; `uninstrument` switches it off again. Until `instrument` is called nothing here imports
OpenTelemetry, and an attempt pays one attribute read for the check. webhook-kit installs no
SDK and no exporter: configure those as your application does (``opentelemetry-sdk``, or
``opentelemetry-instrument``); with only the API installed every span and point is a no-op.

Spans: one per attempt, named `SPAN_NAME`, of kind ``CLIENT``. Every attempt of a delivery is
in the same trace: its parent is `delivery_span_context`, a span context derived from the
delivery id alone (the trace id *is* the delivery id, when that is a UUID, as webhook-kit's
are), so a trace backend shows a delivery's attempts side by side, hours and processes apart,
and finds them by the id the receiver saw in ``X-Webhook-Id``. That parent is never exported
itself (no process sees the whole delivery): backends show it as the trace's missing root. A
span that was current where the attempt ran (a request's or a job's of your own, say) is linked.

Metrics: `ATTEMPTS`, `ATTEMPT_DURATION`, `DELIVERIES`, `DEAD_LETTERS` and, from workers'
cached reads of ``queue.counts()``, the `QUEUE_DEPTH` gauge.

Logging is separate and always on: every attempt is one record of the logger
``webhook_kit.delivery`` (``INFO``, a dead letter's ``WARNING``) with the attempt's fields as
attributes (see `webhook_kit.attempt_log`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._version import __version__
from .errors import InvalidInputError, MissingDependencyError
from .events import masked_url
from .outcomes import AttemptRecord, DeadLetter, Delivered, Outcome

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import SpanContext, TracerProvider

    from .queues.protocol import Claim, DeliveryStore, QueueCounts, WebhookQueue

__all__ = [
    "ATTEMPTS",
    "ATTEMPT_DURATION",
    "ATTR_ATTEMPT",
    "ATTR_DEAD_LETTER_REASON",
    "ATTR_DELIVERY_ID",
    "ATTR_EVENT",
    "ATTR_OUTCOME",
    "ATTR_QUEUE_STATE",
    "DEAD_LETTERS",
    "DELIVERIES",
    "QUEUE_DEPTH",
    "SPAN_NAME",
    "Telemetry",
    "delivery_span_context",
    "instrument",
    "uninstrument",
]

logger = logging.getLogger("webhook_kit.observability")

INSTRUMENTATION_NAME = "webhook_kit"
"""The name of webhook-kit's tracer and meter."""

SPAN_NAME = "webhook.attempt"
"""The name of each attempt's span."""

ATTR_DELIVERY_ID = "webhook.id"
"""Span attribute: the delivery id (``X-Webhook-Id``)."""
ATTR_EVENT = "webhook.event"
"""Span attribute: the event name."""
ATTR_ATTEMPT = "webhook.attempt"
"""Span attribute: the attempt number, 1 for the first."""
ATTR_OUTCOME = "webhook.outcome"
"""Span and metric attribute: ``delivered``, ``retry`` or ``dead`` (``delivered`` or ``dead``
on `DELIVERIES`)."""
ATTR_DEAD_LETTER_REASON = "webhook.dead_letter.reason"
"""Metric attribute of `DEAD_LETTERS`: ``rejected`` (a status that is not retried), ``gone``
(410), ``exhausted`` (the retry policy's attempts spent), ``unsent`` (the network guard refused
the target, or no secret to sign with) or ``endpoint_disabled`` (endpoint health)."""
ATTR_QUEUE_STATE = "webhook.queue.state"
"""Metric attribute of `QUEUE_DEPTH`: ``pending``, ``due``, ``in_flight`` or ``dead``."""

ATTEMPTS = "webhook_kit.attempts"
"""Counter: attempts made, by `ATTR_OUTCOME`."""
ATTEMPT_DURATION = "webhook_kit.attempt.duration"
"""Histogram: seconds each attempt took (signing, the request, reading the response), by
`ATTR_OUTCOME`."""
DELIVERIES = "webhook_kit.deliveries"
"""Counter: deliveries finished, by `ATTR_OUTCOME` (``delivered`` or ``dead``)."""
DEAD_LETTERS = "webhook_kit.dead_letters"
"""Counter: deliveries dead-lettered, by `ATTR_DEAD_LETTER_REASON`."""
QUEUE_DEPTH = "webhook_kit.queue.depth"
"""Gauge: deliveries in the queue, by `ATTR_QUEUE_STATE`, as workers last read them."""

ENDPOINT_DISABLED = "endpoint_disabled"
"""The ``error.type`` of the span that ends a delivery dead-lettered, unsent, because endpoint
health has its endpoint disabled (and its `ATTR_DEAD_LETTER_REASON`)."""

DEFAULT_QUEUE_DEPTH_INTERVAL = 5.0
"""Seconds between a worker's reads of ``queue.counts()`` for `QUEUE_DEPTH`."""

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_QUEUE_STATES = ("pending", "due", "in_flight", "dead")

# What webhook-kit's modules check: None unless instrument() was called (and not undone).
_telemetry: Telemetry | None = None

AttemptRunner = Callable[
    ["DeliveryStore", "Claim"], Awaitable[tuple[Outcome, AttemptRecord, "str | None"]]
]
"""What `Telemetry.attempt` wraps: one attempt, and the type of the failure that stood for a
response (a `TransportErrorKind` value such as ``timeout``, else an exception's class name)."""


def instrument(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    queue_depth_interval: float | None = DEFAULT_QUEUE_DEPTH_INTERVAL,
) -> Telemetry:
    """Switch on spans and metrics for every attempt this process makes, from the next one on.

    Calling it again replaces the earlier settings. The `Telemetry` it returns is also a
    context manager that calls `uninstrument` on exit (handy in tests).

    Args:
        tracer_provider: where spans go; ``None`` for OpenTelemetry's global provider.
        meter_provider: where metrics go; ``None`` for OpenTelemetry's global provider.
        queue_depth_interval: seconds between a worker's reads of ``queue.counts()`` for the
            `QUEUE_DEPTH` gauge (each worker also reads once when it runs out of work);
            ``None`` for no gauge and no reads.

    Raises:
        MissingDependencyError: ``opentelemetry-api`` is not installed
            (``pip install 'webhook-kit[otel]'``).
        InvalidInputError: ``queue_depth_interval`` is negative or not finite.
    """
    global _telemetry
    _telemetry = Telemetry(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        queue_depth_interval=queue_depth_interval,
    )
    return _telemetry


def uninstrument() -> None:
    """Switch spans and metrics off again (attempts under way finish their spans)."""
    global _telemetry
    _telemetry = None


def delivery_span_context(delivery_id: str) -> SpanContext:
    """The span context every attempt of ``delivery_id`` is a child of: a pure function of the
    id, so any process (a worker, your dispatching code linking to it) computes the same.

    The trace id is the UUID's 128 bits (``d64f56b3-421f-...`` is trace
    ``d64f56b3421f...``); an id that is not a UUID is hashed (SHA-256) instead. The span id is
    the first 64 bits of SHA-256 of the id. It is a remote, sampled context.

    Raises:
        MissingDependencyError: ``opentelemetry-api`` is not installed.
    """
    return _span_context(_import_opentelemetry()[1], delivery_id)


def _span_context(trace: Any, delivery_id: str) -> SpanContext:
    trace_id, span_id = _delivery_ids(delivery_id)
    context: SpanContext = trace.SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return context


def _delivery_ids(delivery_id: str) -> tuple[int, int]:
    digest = hashlib.sha256(delivery_id.encode("utf-8", "surrogatepass")).digest()
    try:
        trace_id = uuid.UUID(delivery_id).int
    except ValueError:
        trace_id = 0
    if trace_id == 0:  # not a UUID (or the nil UUID, which is no valid trace id)
        trace_id = int.from_bytes(digest[:16], "big") or 1
    span_id = int.from_bytes(digest[16:24], "big") or 1
    return trace_id, span_id


@functools.lru_cache(maxsize=1024)
def _target_attributes(url: str) -> tuple[tuple[str, str], ...]:
    """``url.full`` (masked: no credentials, no query) and ``server.address`` of a target."""
    attributes = [("url.full", masked_url(url))]
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if host:
        attributes.append(("server.address", host))
    return tuple(attributes)


def _import_opentelemetry() -> tuple[Any, Any]:
    try:
        from opentelemetry import metrics, trace
    except ImportError as exc:
        raise MissingDependencyError(
            "OpenTelemetry instrumentation needs opentelemetry-api: "
            "pip install 'webhook-kit[otel]'"
        ) from exc
    return metrics, trace


class Telemetry:
    """webhook-kit's tracer and instruments; made by `instrument`, which is how to use it."""

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        queue_depth_interval: float | None = DEFAULT_QUEUE_DEPTH_INTERVAL,
    ) -> None:
        if queue_depth_interval is not None and (
            not math.isfinite(queue_depth_interval) or queue_depth_interval < 0
        ):
            raise InvalidInputError("queue_depth_interval must be a finite, non-negative number")
        metrics, trace = _import_opentelemetry()
        self._trace = trace
        self._client = trace.SpanKind.CLIENT
        self._error = trace.StatusCode.ERROR
        self._tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider
        )
        meter = metrics.get_meter(INSTRUMENTATION_NAME, __version__, meter_provider=meter_provider)
        self._attempts = meter.create_counter(
            ATTEMPTS, unit="{attempt}", description="Delivery attempts made, by outcome."
        )
        self._duration = meter.create_histogram(
            ATTEMPT_DURATION,
            unit="s",
            description="How long each delivery attempt took, by outcome.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self._deliveries = meter.create_counter(
            DELIVERIES, unit="{delivery}", description="Deliveries finished, by outcome."
        )
        self._dead_letters = meter.create_counter(
            DEAD_LETTERS, unit="{delivery}", description="Deliveries dead-lettered, by reason."
        )
        self._observation = metrics.Observation
        self.queue_depth_interval = queue_depth_interval
        # Per queue: (time.monotonic() of the read, its counts). Weak: a queue's entry goes
        # with the queue.
        self._depths: weakref.WeakKeyDictionary[Any, tuple[float, QueueCounts]] = (
            weakref.WeakKeyDictionary()
        )
        if queue_depth_interval is not None:
            meter.create_observable_gauge(
                QUEUE_DEPTH,
                callbacks=[self._observe_depth],
                unit="{delivery}",
                description="Deliveries in the queue, by state, as workers last read them.",
            )

    # -- attempts ----------------------------------------------------------------------------

    async def attempt(
        self, run: AttemptRunner, queue: DeliveryStore, claim: Claim
    ) -> tuple[Outcome, AttemptRecord]:
        """Run one attempt (``run(queue, claim)``) in its span; count it."""
        trace = self._trace
        event = claim.event
        attributes: dict[str, str | int] = {
            ATTR_DELIVERY_ID: event.id,
            ATTR_EVENT: event.event,
            ATTR_ATTEMPT: claim.attempt,
            "http.request.method": "POST",
        }
        attributes.update(_target_attributes(event.target_url))
        ambient = trace.get_current_span().get_span_context()
        parent = trace.NonRecordingSpan(_span_context(trace, event.id))
        span = self._tracer.start_span(
            SPAN_NAME,
            context=trace.set_span_in_context(parent),
            kind=self._client,
            attributes=attributes,
            links=[trace.Link(ambient)] if ambient.is_valid else None,
        )
        # Current while the request is made: an instrumented HTTP client's span is its child.
        with trace.use_span(span, end_on_exit=True, record_exception=False):
            outcome, record, error_type = await run(queue, claim)
            status = record.status
            ending: dict[str, str | int] = {ATTR_OUTCOME: record.outcome}
            if status is not None:
                ending["http.response.status_code"] = status
            if error_type is not None:
                ending["error.type"] = error_type
                span.set_status(self._error, record.error)
            elif status is not None and not 200 <= status < 300:
                ending["error.type"] = str(status)
                span.set_status(self._error)
            span.set_attributes(ending)
        outcome_only = {ATTR_OUTCOME: record.outcome}
        self._attempts.add(1, outcome_only)
        self._duration.record(record.latency, outcome_only)
        if isinstance(outcome, Delivered):
            self._deliveries.add(1, outcome_only)
        elif isinstance(outcome, DeadLetter):
            if error_type == ENDPOINT_DISABLED:
                reason = "endpoint_disabled"
            elif outcome.gone:
                reason = "gone"
            elif outcome.unsent:
                reason = "unsent"
            elif status is not None and not event.is_retryable_status(status):
                reason = "rejected"
            else:
                reason = "exhausted"
            self.dead_lettered(reason)
        return outcome, record

    def dead_lettered(self, reason: str) -> None:
        """Count a delivery dead-lettered for ``reason`` (see `ATTR_DEAD_LETTER_REASON`)."""
        self._deliveries.add(1, {ATTR_OUTCOME: "dead"})
        self._dead_letters.add(1, {ATTR_DEAD_LETTER_REASON: reason})

    # -- queue depth -------------------------------------------------------------------------

    async def observe_queue(self, queue: WebhookQueue, *, force: bool = False) -> None:
        """Read ``queue.counts()`` for the gauge, unless read less than the interval ago.

        Workers call this from their loop; the gauge's callback, which cannot await, reports
        the last values read. A failed read is logged and skipped.
        """
        interval = self.queue_depth_interval
        if interval is None:
            return
        now = time.monotonic()
        try:
            last = self._depths.get(queue)
        except TypeError:  # a queue that cannot be weakly referenced: no gauge for it
            return
        if not force and last is not None and now - last[0] < interval:
            return
        try:
            counts = await queue.counts()
        except Exception:
            logger.debug("reading the queue's counts for the depth gauge failed", exc_info=True)
            return
        self._depths[queue] = (now, counts)

    def _observe_depth(self, options: CallbackOptions) -> Iterable[Observation]:
        read = list(self._depths.values())
        if not read:
            return []
        totals = dict.fromkeys(_QUEUE_STATES, 0)
        for _, counts in read:  # several queues in one process: their sum
            for state in _QUEUE_STATES:
                totals[state] += getattr(counts, state)
        make = self._observation
        return [make(value, {ATTR_QUEUE_STATE: state}) for state, value in totals.items()]

    # -- as a context manager ----------------------------------------------------------------

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if _telemetry is self:
            uninstrument()

    def __repr__(self) -> str:
        state = "active" if _telemetry is self else "inactive"
        return f"Telemetry({state}, queue_depth_interval={self.queue_depth_interval!r})"
