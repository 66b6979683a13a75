"""Observability: the log record of every attempt, and the OpenTelemetry spans and metrics that
`webhook_kit.observability.instrument` switches on (read back through the SDK's in-memory
exporter and reader), and that nothing is emitted, or even imported, while it is off."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from webhook_kit import (
    InvalidInputError,
    MemoryQueue,
    RetryPolicy,
    VirtualClock,
    WebhookSubscription,
    Worker,
    endpoint_of,
    observability,
)
from webhook_kit.events import masked_url
from webhook_kit.observability import (
    ATTEMPT_DURATION,
    ATTEMPTS,
    ATTR_ATTEMPT,
    ATTR_DEAD_LETTER_REASON,
    ATTR_DELIVERY_ID,
    ATTR_EVENT,
    ATTR_OUTCOME,
    ATTR_QUEUE_STATE,
    DEAD_LETTERS,
    DELIVERIES,
    QUEUE_DEPTH,
    SPAN_NAME,
    delivery_span_context,
)
from webhook_kit.testing import MockReceiver

pytestmark = pytest.mark.anyio

SECRET = "customer-secret"
EVENT = "order.created"
PAYLOAD = {"order_id": 42}
# Credentials and a query string that must never reach a span, a metric or a log record.
PASSWORD = "hunter2-url-password"
TOKEN = "query-token-4f9a"


@dataclass
class Otel:
    """The SDK's in-memory exporter and reader behind providers of this test's own."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def finished(self) -> list[ReadableSpan]:
        return sorted(self.spans.get_finished_spans(), key=lambda span: span.start_time or 0)

    def points(self, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
        """The data points of metric ``name``: attributes -> value (a histogram's: count)."""
        found: dict[tuple[tuple[str, Any], ...], Any] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        key = tuple(sorted((point.attributes or {}).items()))
                        found[key] = point.value if hasattr(point, "value") else point.count
        return found

    def metric_names(self) -> set[str]:
        data = self.reader.get_metrics_data()
        return {
            metric.name
            for resource in (data.resource_metrics if data is not None else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }


@pytest.fixture
def otel() -> Iterator[Otel]:
    """SDK providers, not instrumented yet (tests call `instrument` with them)."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    try:
        yield Otel(spans, reader, tracer_provider, meter_provider)
    finally:
        observability.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture
def instrumented(otel: Otel) -> Otel:
    observability.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    )
    return otel


def secret_url(receiver: MockReceiver) -> str:
    """The receiver's URL with credentials and a query string (the client ignores the host)."""
    return f"http://shop:{PASSWORD}@{receiver.host}/hooks?token={TOKEN}"


@asynccontextmanager
async def registered(
    queue: MemoryQueue, transport: httpx.AsyncBaseTransport
) -> AsyncIterator[None]:
    async with httpx.AsyncClient(transport=transport) as client:
        await WebhookSubscription.register(queue, client=client)
        yield


async def deliver(
    queue: MemoryQueue, receiver: MockReceiver, *urls: str, policy: RetryPolicy | None = None
) -> list[str]:
    """Dispatch one delivery to each URL and deliver them all to ``receiver``, in-process."""
    async with registered(queue, receiver.transport):
        ids = []
        for url in urls:
            subscription = WebhookSubscription(url, SECRET)
            if policy is not None:
                subscription = subscription.retry_policy(policy)
            ids.append(await subscription.dispatch(queue, EVENT, PAYLOAD))
        await Worker(queue).run_until_idle()
    return ids


def new_queue() -> tuple[MemoryQueue, MockReceiver]:
    queue = MemoryQueue(clock=VirtualClock())
    return queue, MockReceiver(clock=queue.clock)


# -- logging: one record per attempt, always on -----------------------------------------------


async def test_each_attempt_logs_one_record_with_its_fields_and_a_masked_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, receiver = new_queue()
    receiver.script([503, 200])
    with caplog.at_level(logging.INFO, logger="webhook_kit.delivery"):
        [delivery_id] = await deliver(queue, receiver, secret_url(receiver))
    records = [record for record in caplog.records if record.name == "webhook_kit.delivery"]
    fields = ("webhook_id", "webhook_event", "attempt", "status", "error", "outcome")
    assert [tuple(getattr(record, name) for name in fields) for record in records] == [
        (delivery_id, EVENT, 1, 503, None, "retry"),
        (delivery_id, EVENT, 2, 200, None, "delivered"),
    ]
    for record in records:
        assert record.levelno == logging.INFO
        assert isinstance(record.latency, float)
        assert record.latency >= 0
        message = record.getMessage()
        assert f"http://{receiver.host}/hooks?…" in message  # masked: host and path only
        assert PASSWORD not in message
        assert TOKEN not in message
        assert "shop:" not in message


async def test_a_transport_error_is_logged_in_the_error_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = MemoryQueue(clock=VirtualClock())
    with caplog.at_level(logging.INFO, logger="webhook_kit.delivery"):
        async with registered(queue, Refusing()):
            subscription = WebhookSubscription("https://refusing.example/hooks", SECRET)
            await subscription.retry_policy(RetryPolicy(max_attempts=1)).dispatch(
                queue, EVENT, PAYLOAD
            )
            await Worker(queue).run_until_idle()
    [record] = [record for record in caplog.records if record.name == "webhook_kit.delivery"]
    assert record.status is None
    assert record.error.startswith("connect: ")
    assert record.outcome == "dead"


def attempt_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "webhook_kit.delivery"]


async def test_a_retry_is_logged_at_info_with_when_the_next_attempt_is_due(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, receiver = new_queue()
    receiver.script([503, 200])
    with caplog.at_level(logging.INFO, logger="webhook_kit.delivery"):
        [delivery_id] = await deliver(queue, receiver, receiver.url)
    retry, delivered = attempt_records(caplog)
    [_, second] = await queue.history(delivery_id)
    # The record says when the next attempt is due, and that is when it was made.
    assert retry.levelno == logging.INFO
    assert retry.next_attempt_at == second.started_at
    due = datetime.fromtimestamp(second.started_at, timezone.utc)
    wait = round((second.started_at - (await queue.history(delivery_id))[0].started_at) / 60)
    assert retry.getMessage() == (
        f"webhook {delivery_id} attempt 1 to {receiver.url}: 503 in {retry.latency:.2f}s; "
        f"next attempt in {wait}min, at {due:%Y-%m-%d %H:%M:%S} UTC"
    )
    assert delivered.levelno == logging.INFO
    assert delivered.next_attempt_at is None
    assert delivered.getMessage() == (
        f"webhook {delivery_id} attempt 2 to {receiver.url}: "
        f"200 in {delivered.latency:.2f}s, delivered"
    )


async def test_a_dead_letter_is_a_warning_with_its_reason_and_how_to_redrive_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, receiver = new_queue()
    receiver.script([404])
    with caplog.at_level(logging.INFO, logger="webhook_kit.delivery"):
        [delivery_id] = await deliver(queue, receiver, receiver.url)
    [record] = attempt_records(caplog)
    [letter] = await queue.list_dead_letters()
    assert record.levelno == logging.WARNING
    assert record.reason == letter.reason
    assert record.getMessage() == (
        f"webhook {delivery_id} attempt 1 to {receiver.url}: 404 in {record.latency:.2f}s; "
        f"dead-lettered: {letter.reason}. Once fixed: await queue.redrive({delivery_id!r})"
    )
    assert "\n" not in record.getMessage()


async def test_a_dead_letter_for_a_disabled_endpoint_is_logged_as_an_attempts_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, receiver = new_queue()
    with caplog.at_level(logging.INFO, logger="webhook_kit.delivery"):
        async with registered(queue, receiver.transport):
            delivery_id = await WebhookSubscription(receiver.url, SECRET).dispatch(
                queue, EVENT, PAYLOAD
            )
            worker = Worker(queue)
            assert worker.health is not None
            worker.health.disable(endpoint_of(receiver.url), "answered 410 Gone")
            await worker.run_until_idle()
    receiver.assert_no_deliveries()
    [record] = attempt_records(caplog)
    assert record.levelno == logging.WARNING
    assert (record.webhook_id, record.attempt, record.outcome) == (delivery_id, 1, "dead")
    assert record.getMessage() == (
        f"webhook {delivery_id} attempt 1 to {receiver.url}: dead-lettered: the endpoint is "
        "disabled (answered 410 Gone): re-enable it first "
        "(await worker.enable_endpoint(url)). "
        f"Once fixed: await queue.redrive({delivery_id!r})"
    )


def test_a_refusal_by_the_network_guard_shows_under_uvicorns_default_logging(
    tmp_path: Path,
) -> None:
    # An app served by uvicorn (as the CLI's demo and listen are) runs with uvicorn's logging
    # config: handlers for uvicorn's loggers only, so Python's last resort prints WARNING and
    # above. A delivery the guard refused must be one of those, not a silent INFO record.
    script = textwrap.dedent(
        """
        import asyncio, logging.config
        from uvicorn.config import LOGGING_CONFIG
        from webhook_kit import MemoryQueue, WebhookSubscription, Worker

        logging.config.dictConfig(LOGGING_CONFIG)

        async def main():
            queue = MemoryQueue()
            await WebhookSubscription.register(queue)
            subscription = WebhookSubscription("http://127.0.0.1:9/hooks", "a-secret")
            print(await subscription.dispatch(queue, "order.created", {}))
            await Worker(queue).run_until_idle()

        asyncio.run(main())
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=True,
    )
    delivery_id = completed.stdout.strip()
    [line] = completed.stderr.splitlines()
    assert line.startswith(f"webhook {delivery_id} attempt 1 to http://127.0.0.1:9/hooks: ")
    assert "dead-lettered: the network guard refused to connect to 127.0.0.1" in line
    assert "WebhookSubscription.allow_private_targets(True)" in line  # the Python fix, here


class Refusing(httpx.AsyncBaseTransport):
    """Every connection is refused."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


# -- spans -------------------------------------------------------------------------------------


async def test_one_span_per_attempt_in_the_trace_of_its_delivery(instrumented: Otel) -> None:
    queue, receiver = new_queue()
    receiver.script([503, 200])
    url = secret_url(receiver)
    [delivery_id] = await deliver(queue, receiver, url)

    first, second = instrumented.finished()
    delivery = delivery_span_context(delivery_id)
    for number, span in enumerate((first, second), start=1):
        assert span.name == SPAN_NAME
        assert span.kind is SpanKind.CLIENT
        attributes = dict(span.attributes or {})
        assert attributes[ATTR_DELIVERY_ID] == delivery_id
        assert attributes[ATTR_EVENT] == EVENT
        assert attributes[ATTR_ATTEMPT] == number
        assert attributes["http.request.method"] == "POST"
        assert attributes["url.full"] == masked_url(url) == f"http://{receiver.host}/hooks?…"
        assert attributes["server.address"] == receiver.host
        assert PASSWORD not in str(attributes)
        assert TOKEN not in str(attributes)
        # Grouped: every attempt is a child of the delivery's context, in the delivery's trace,
        # whose id is the delivery id's 128 bits.
        assert span.parent == delivery
        assert span.context is not None
        assert span.context.trace_id == uuid.UUID(delivery_id).int == delivery.trace_id
        assert span.links == ()  # no span was current where the worker ran
    assert dict(first.attributes or {})["http.response.status_code"] == 503
    assert dict(first.attributes or {})[ATTR_OUTCOME] == "retry"
    assert dict(first.attributes or {})["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert dict(second.attributes or {})["http.response.status_code"] == 200
    assert dict(second.attributes or {})[ATTR_OUTCOME] == "delivered"
    assert "error.type" not in (second.attributes or {})
    assert second.status.status_code is StatusCode.UNSET
    assert first.context is not None
    assert second.context is not None
    assert first.context.span_id != second.context.span_id


async def test_a_transport_error_sets_the_span_status_to_error(instrumented: Otel) -> None:
    queue = MemoryQueue(clock=VirtualClock())
    async with registered(queue, Refusing()):
        subscription = WebhookSubscription("https://refusing.example/hooks", SECRET)
        await subscription.retry_policy(RetryPolicy(max_attempts=2)).dispatch(
            queue, EVENT, PAYLOAD
        )
        await Worker(queue).run_until_idle()
    spans = instrumented.finished()
    assert [dict(span.attributes or {})[ATTR_OUTCOME] for span in spans] == ["retry", "dead"]
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is not None
        assert span.status.description.startswith("connect: ")
        assert dict(span.attributes or {})["error.type"] == "connect"
        assert "http.response.status_code" not in (span.attributes or {})
    assert instrumented.points(DEAD_LETTERS) == {((ATTR_DEAD_LETTER_REASON, "exhausted"),): 1}


async def test_the_span_is_current_while_the_request_is_made(instrumented: Otel) -> None:
    """So an instrumented HTTP client's span is a child of the attempt's."""
    current: list[trace.SpanContext] = []
    queue, receiver = new_queue()

    class Watching(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            current.append(trace.get_current_span().get_span_context())
            return await receiver.transport.handle_async_request(request)

    async with registered(queue, Watching()):
        await WebhookSubscription(receiver.url, SECRET).dispatch(queue, EVENT, {})
        await Worker(queue).run_until_idle()
    [span] = instrumented.finished()
    assert current == [span.context]


async def test_a_span_current_where_the_worker_runs_is_linked(instrumented: Otel) -> None:
    queue, receiver = new_queue()
    tracer = instrumented.tracer_provider.get_tracer("the-application")
    async with registered(queue, receiver.transport):
        delivery_id = await WebhookSubscription(receiver.url, SECRET).dispatch(queue, EVENT, {})
        with tracer.start_as_current_span("job") as job:
            await Worker(queue).run_until_idle()
    attempt = next(span for span in instrumented.finished() if span.name == SPAN_NAME)
    assert [link.context for link in attempt.links] == [job.get_span_context()]
    assert attempt.parent == delivery_span_context(delivery_id)  # still in its delivery's trace


def test_the_delivery_span_context_is_a_function_of_the_delivery_id() -> None:
    delivery_id = "d64f56b3-421f-4cb8-b2fa-63d8d3662273"
    context = delivery_span_context(delivery_id)
    assert context == delivery_span_context(delivery_id)
    assert format(context.trace_id, "032x") == delivery_id.replace("-", "")
    assert context.is_valid
    assert context.is_remote
    assert context.trace_flags.sampled
    other = delivery_span_context("a0000000-0000-4000-8000-000000000000")
    assert other.span_id != context.span_id
    # Ids that are not UUIDs (or the nil UUID) get a hashed, still valid and stable, trace id.
    for odd in ("order-42", "00000000-0000-0000-0000-000000000000", ""):
        hashed = delivery_span_context(odd)
        assert hashed.is_valid
        assert hashed == delivery_span_context(odd)


# -- metrics -----------------------------------------------------------------------------------


async def test_metrics_after_a_run_with_a_retry_a_delivery_and_dead_letters(
    instrumented: Otel,
) -> None:
    queue, receiver = new_queue()
    # One receiver, a script per path.
    receiver.script([503, 200], path="/retried")
    receiver.script([404], path="/rejected")
    receiver.script([410], path="/gone")
    base = f"http://{receiver.host}"
    await deliver(queue, receiver, f"{base}/retried", f"{base}/rejected", f"{base}/gone")

    outcome = ATTR_OUTCOME
    assert instrumented.points(ATTEMPTS) == {
        ((outcome, "retry"),): 1,
        ((outcome, "delivered"),): 1,
        ((outcome, "dead"),): 2,
    }
    assert instrumented.points(ATTEMPT_DURATION) == {  # a histogram: its counts
        ((outcome, "retry"),): 1,
        ((outcome, "delivered"),): 1,
        ((outcome, "dead"),): 2,
    }
    assert instrumented.points(DELIVERIES) == {
        ((outcome, "delivered"),): 1,
        ((outcome, "dead"),): 2,
    }
    assert instrumented.points(DEAD_LETTERS) == {
        ((ATTR_DEAD_LETTER_REASON, "rejected"),): 1,
        ((ATTR_DEAD_LETTER_REASON, "gone"),): 1,
    }
    # The worker read the queue's counts when it ran out of work.
    depth = instrumented.points(QUEUE_DEPTH)
    assert {key[0][1]: value for key, value in depth.items()} == {
        "pending": 0,
        "due": 0,
        "in_flight": 0,
        "dead": 2,
    }
    assert all(key[0][0] == ATTR_QUEUE_STATE for key in depth)


async def test_the_queue_depth_gauge_shows_deliveries_not_yet_due(instrumented: Otel) -> None:
    queue = MemoryQueue(clock=VirtualClock())
    subscription = WebhookSubscription("https://example.com/hooks", SECRET)
    for _ in range(3):
        await subscription.dispatch(queue, EVENT, {})
    for claim in await queue.claim(1, lease_grace=0):  # due in an hour: pending, not due
        await queue.release(claim, not_before=queue.clock.now() + 3600)
    telemetry = observability._telemetry
    assert telemetry is not None
    await telemetry.observe_queue(queue)
    depth = {key: value for ((_, key),), value in instrumented.points(QUEUE_DEPTH).items()}
    assert depth == {"pending": 3, "due": 2, "in_flight": 0, "dead": 0}
    # Read again within the interval: the cached figures stand (no await on the queue).
    await subscription.dispatch(queue, EVENT, {})
    await telemetry.observe_queue(queue)
    assert instrumented.points(QUEUE_DEPTH)[((ATTR_QUEUE_STATE, "pending"),)] == 3
    await telemetry.observe_queue(queue, force=True)
    assert instrumented.points(QUEUE_DEPTH)[((ATTR_QUEUE_STATE, "pending"),)] == 4


async def test_a_dead_letter_for_a_disabled_endpoint_ends_in_a_span_and_is_counted(
    instrumented: Otel,
) -> None:
    queue, receiver = new_queue()
    async with registered(queue, receiver.transport):
        delivery_id = await WebhookSubscription(receiver.url, SECRET).dispatch(queue, EVENT, {})
        worker = Worker(queue)
        assert worker.health is not None
        worker.health.disable(endpoint_of(receiver.url), "answered 410 Gone")
        await worker.run_until_idle()
    receiver.assert_no_deliveries()  # no request was made, but the delivery's end is traced
    [span] = instrumented.finished()
    assert span.name == SPAN_NAME
    assert span.parent is not None
    assert span.parent.span_id == delivery_span_context(delivery_id).span_id
    assert span.attributes is not None
    assert span.attributes[ATTR_DELIVERY_ID] == delivery_id
    assert span.attributes[ATTR_OUTCOME] == "dead"
    assert span.attributes["error.type"] == observability.ENDPOINT_DISABLED
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "endpoint disabled: answered 410 Gone"
    assert instrumented.points(DEAD_LETTERS) == {
        ((ATTR_DEAD_LETTER_REASON, "endpoint_disabled"),): 1
    }
    assert instrumented.points(DELIVERIES) == {((ATTR_OUTCOME, "dead"),): 1}


async def test_no_queue_depth_gauge_without_an_interval(otel: Otel) -> None:
    observability.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        queue_depth_interval=None,
    )
    queue, receiver = new_queue()
    await deliver(queue, receiver, receiver.url)
    assert ATTEMPTS in otel.metric_names()
    assert QUEUE_DEPTH not in otel.metric_names()


@pytest.mark.parametrize("interval", [-1.0, float("nan"), float("inf")])
def test_a_bad_queue_depth_interval_is_refused(interval: float) -> None:
    with pytest.raises(InvalidInputError):
        observability.instrument(queue_depth_interval=interval)
    assert observability._telemetry is None


# -- off ---------------------------------------------------------------------------------------


async def test_nothing_is_emitted_until_instrumented(otel: Otel) -> None:
    queue, receiver = new_queue()
    receiver.script([503, 200])
    await deliver(queue, receiver, receiver.url)
    assert otel.finished() == []
    assert otel.metric_names() == set()


async def test_nothing_is_emitted_after_uninstrument(otel: Otel) -> None:
    with observability.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
    ) as telemetry:
        assert observability._telemetry is telemetry
        assert "active" in repr(telemetry)
    assert observability._telemetry is None  # the context manager switched it off
    queue, receiver = new_queue()
    await deliver(queue, receiver, receiver.url)
    assert otel.finished() == []
    assert otel.metric_names() == set()


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_webhook_kit_does_not_import_opentelemetry() -> None:
    result = run_python(
        """
        import sys
        import webhook_kit
        from webhook_kit import observability, worker, delivery
        loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
        assert loaded == [], loaded
        """
    )
    assert result.returncode == 0, result.stderr


def test_webhook_kit_works_without_opentelemetry_installed() -> None:
    result = run_python(
        """
        import importlib.abc
        import sys

        class NoOpenTelemetry(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoOpenTelemetry())
        for name in [name for name in sys.modules if name.startswith("opentelemetry")]:
            del sys.modules[name]

        import anyio
        from webhook_kit import MissingDependencyError, WebhookSubscription, observability
        from webhook_kit.testing import FakeQueue

        async def main():
            queue = FakeQueue()
            receiver = queue.receiver()
            receiver.script([503, 200])
            await WebhookSubscription.register(queue)
            await WebhookSubscription(receiver.url, "s3cret").dispatch(queue, "ping", {})
            await queue.run_until_idle()
            assert [a.status for a in queue.attempts] == [503, 200], queue.attempts

        anyio.run(main)
        try:
            observability.instrument()
        except MissingDependencyError as exc:
            assert "webhook-kit[otel]" in str(exc), exc
        else:
            raise AssertionError("instrument() worked without opentelemetry")
        try:
            observability.delivery_span_context("d64f56b3-421f-4cb8-b2fa-63d8d3662273")
        except MissingDependencyError:
            pass
        else:
            raise AssertionError("delivery_span_context() worked without opentelemetry")
        assert observability._telemetry is None
        assert not any(name.startswith("opentelemetry") for name in sys.modules)
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
