"""Spans and metrics of every delivery attempt, through your OpenTelemetry SDK setup.

pip install 'webhook-kit[otel]' opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
Run it as ``python observability_otel.py``: it delivers what is due in the queue file, sending
spans and metrics to the collector at ``OTEL_EXPORTER_OTLP_ENDPOINT`` (localhost:4318).
"""

from __future__ import annotations

import asyncio
import os

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from webhook_kit import SQLiteQueue, WebhookSubscription, Worker, observability


def start_telemetry(
    spans: SpanExporter, metrics: MetricReader
) -> tuple[TracerProvider, MeterProvider]:
    """Your application's SDK setup, then the one call that switches webhook-kit's on."""
    resource = Resource.create({"service.name": "shop-webhooks"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    meter_provider = MeterProvider(resource=resource, metric_readers=[metrics])
    # Leave both arguments out to use the providers set globally (opentelemetry-instrument).
    observability.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    return tracer_provider, meter_provider


def stop_telemetry(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
    observability.uninstrument()
    tracer_provider.shutdown()  # exports the spans still batched
    meter_provider.shutdown()  # and the last metric points


async def deliver_due(path: str) -> None:
    queue = SQLiteQueue(path)
    try:
        await WebhookSubscription.register(queue)
        await Worker(queue).run_until_idle()  # each attempt: one span, a few metric points
    finally:
        queue.close()


if __name__ == "__main__":
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    providers = start_telemetry(
        OTLPSpanExporter(), PeriodicExportingMetricReader(OTLPMetricExporter())
    )
    try:
        asyncio.run(deliver_due(os.environ.get("WEBHOOK_KIT_DB", "webhook-kit.sqlite3")))
    finally:
        stop_telemetry(*providers)
