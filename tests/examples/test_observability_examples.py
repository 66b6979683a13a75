"""Run the example of docs/observability.md (docs/examples/observability_otel.py) with the SDK's
in-memory exporter and reader in place of OTLP, and check the page's tables against the names
`webhook_kit.observability` exports."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from example_modules import load_example
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from webhook_kit import SQLiteQueue, WebhookSubscription, observability
from webhook_kit.testing import MockReceiver, Reply

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "observability.md"


@pytest.fixture(autouse=True)
def _switched_off_after() -> Iterator[None]:
    yield
    observability.uninstrument()


def test_the_example_traces_and_counts_each_attempt(tmp_path: Path) -> None:
    example = load_example("observability_otel")
    path = tmp_path / "webhooks.sqlite3"
    receiver = MockReceiver()
    receiver.script([Reply(503, headers={"Retry-After": "0"}), 200])
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    with receiver.serve_in_thread() as url:
        queue = SQLiteQueue(path)
        try:
            subscription = WebhookSubscription(url, "customer-secret").allow_private_targets(True)
            delivery_id = subscription.dispatch_sync(queue, "order.created", {"order_id": 42})
        finally:
            queue.close()
        providers = example.start_telemetry(spans, reader)
        try:
            anyio.run(example.deliver_due, str(path))
            metrics = reader.get_metrics_data()
        finally:
            example.stop_telemetry(*providers)
    assert observability._telemetry is None

    attempts = sorted(spans.get_finished_spans(), key=lambda span: span.start_time or 0)
    assert [span.name for span in attempts] == [observability.SPAN_NAME] * 2
    assert [(span.attributes or {})["http.response.status_code"] for span in attempts] == [
        503,
        200,
    ]
    for span in attempts:
        assert span.context is not None
        assert span.context.trace_id == uuid.UUID(delivery_id).int  # the page's promise
        assert span.resource.attributes["service.name"] == "shop-webhooks"

    assert metrics is not None
    names = {
        metric.name: metric
        for resource in metrics.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    outcomes = {
        point.attributes[observability.ATTR_OUTCOME]: point.value
        for point in names[observability.ATTEMPTS].data.data_points
        if point.attributes is not None
    }
    assert outcomes == {"retry": 1, "delivered": 1}


def table_names(heading: str) -> list[str]:
    """The first column of the table under ``heading`` on the page, in order."""
    section = PAGE.read_text().split(heading, 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)


def test_the_metrics_table_lists_every_metric() -> None:
    assert table_names("### Metrics") == [
        observability.ATTEMPTS,
        observability.ATTEMPT_DURATION,
        observability.DELIVERIES,
        observability.DEAD_LETTERS,
        observability.QUEUE_DEPTH,
    ]


def test_the_span_table_lists_every_attribute() -> None:
    assert set(table_names("### Spans")) == {
        observability.ATTR_DELIVERY_ID,
        observability.ATTR_EVENT,
        observability.ATTR_ATTEMPT,
        observability.ATTR_OUTCOME,
        "http.request.method",
        "http.response.status_code",
        "url.full",
        "server.address",
        "error.type",
    }
