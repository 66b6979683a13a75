"""Secret hygiene: no secret or signature in a log record, an exception message or a repr, and
URLs there are masked (credentials and query dropped) while stored jobs keep the full URL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from webhook_kit import (
    MemoryQueue,
    RetryPolicy,
    SignatureFormat,
    VerificationError,
    VirtualClock,
    WebhookSubscription,
    Worker,
    verify,
)
from webhook_kit.events import WebhookEvent
from webhook_kit.netguard import NetworkPolicy
from webhook_kit.queues import SQLiteQueue
from webhook_kit.testing import MockReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PASSWORD = "pa55-w0rd-in-url"
TOKEN = "query-token-0123"

pytestmark = pytest.mark.anyio


def leaks(text: str, signatures: set[str]) -> list[str]:
    found = [name for name, value in (("secret", SECRET), ("password", PASSWORD)) if value in text]
    found += ["query token"] if TOKEN in text else []
    found += [f"signature {s[:12]}…" for s in signatures if s and s in text]
    # The secret's key material without its prefix is a secret too.
    found += ["secret key"] if SECRET.removeprefix("whsec_") in text else []
    return found


def everything_in(record: logging.LogRecord) -> str:
    """A record as any handler could render it: message, arguments and structured fields."""
    return " ".join([record.getMessage(), *(repr(value) for value in vars(record).values())])


@pytest.mark.parametrize("fmt", list(SignatureFormat))
@pytest.mark.parametrize("queue_kind", ["memory", "sqlite"])
async def test_a_whole_delivery_leaks_nothing(
    fmt: SignatureFormat, queue_kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = VirtualClock()
    queue = (
        MemoryQueue(clock=clock)
        if queue_kind == "memory"
        else SQLiteQueue(tmp_path / "q.sqlite3", clock=clock)
    )
    receiver = MockReceiver(clock=clock)
    receiver.script([503, 400])
    url = receiver.url.replace("http://", f"http://user:{PASSWORD}@") + f"?token={TOKEN}"
    async with httpx.AsyncClient(transport=receiver.transport) as client:
        handler = await WebhookSubscription.register(queue, client=client)
        sub = (
            WebhookSubscription(url, SECRET)
            .signature_format(fmt)
            .retry_policy(RetryPolicy(max_attempts=2, base_delay=1, jitter=0))
        )
        delivery_id = await sub.dispatch(queue, "order.created", {"n": 1})
        worker = Worker(queue)
        await worker.run_until_idle()

    signatures = {
        value
        for delivery in receiver.deliveries
        for name, value in delivery.headers.items()
        if "signature" in name.lower()
    }
    assert signatures, "the deliveries were signed"
    (dead,) = await queue.list_dead_letters()
    assert dead.event.target_url == url  # stored whole: the next attempt needs it
    history = await queue.history(delivery_id)
    # Every record: webhook-kit's own, and httpx's "HTTP Request" line for each attempt.
    ours = list(caplog.records)
    assert any(record.name == "httpx" for record in ours), "httpx logged the requests"
    shown = [
        repr(sub),
        repr(dead.event),
        repr(dead),
        repr(queue),
        repr(handler),
        repr(worker),
        *map(repr, history),
        *(everything_in(record) for record in ours),
    ]
    assert ours, "attempts are logged"
    for text in shown:
        assert leaks(text, signatures) == [], text
    if isinstance(queue, SQLiteQueue):
        queue.close()


@pytest.mark.parametrize("fmt", list(SignatureFormat))
def test_a_failed_verification_names_no_secret_or_expected_signature(fmt: SignatureFormat) -> None:
    from webhook_kit import sign

    body = b'{"n":1}'
    genuine = sign(body, SECRET, scheme=fmt, webhook_id="msg_1", timestamp=1_700_000_000)
    headers = {
        "webhook-signature": "v1,AAAA",
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "X-Webhook-Signature": "sha256=" + "0" * 64,
        "Stripe-Signature": "t=1700000000,v1=" + "0" * 64,
    }
    with pytest.raises(VerificationError) as caught:
        verify(body, headers, SECRET, scheme=fmt, now=1_700_000_000)
    message = f"{caught.value} {caught.value!r}"
    assert leaks(message, {genuine, genuine.split(",")[-1].split("=")[-1]}) == [], message


async def test_other_httpx_clients_log_lines_are_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import webhook_kit.http_stacks.httpx_stack  # noqa: F401  (installs the filter)

    caplog.set_level(logging.INFO, logger="httpx")
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(f"http://example.test/path?token={TOKEN}")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert TOKEN in line  # not webhook-kit's request: not webhook-kit's to mask


# --- failed deliveries to a URL with credentials and a query: nothing shows them -------------
#
# Each delivery goes to ``http://user-Kx7:secretpw@…?token=secretq`` and fails one way, on each
# stack and queue. Then everything an operator or a log pipeline could see is scanned: every
# log record of every logger at DEBUG (tracebacks included), the attempt records, the dead
# letter, the queue's tables (all but the stored job, which keeps the real URL to deliver),
# the SQLite file's bytes, and the CLI's ``dlq list``, ``dlq show`` and ``status``.

URL_USER = "user-Kx7"
URL_PASSWORD = "secretpw"
URL_TOKEN = "secretq"
URL_SECRETS = (URL_USER, URL_PASSWORD, URL_TOKEN)
FAILURES = ["invalid-url", "refused-by-guard", "connection-refused", "status-500", "timeout"]
ATTEMPT_SECONDS = 1.0


def url_leaks(text: str) -> list[str]:
    return [secret for secret in URL_SECRETS if secret in text]


@contextlib.asynccontextmanager
async def receivers() -> AsyncIterator[dict[str, int]]:
    """Ports on 127.0.0.1: one that answers 500, one that never answers, one closed."""

    async def answer_500(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops"
            )
            await writer.drain()
        writer.close()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.read()  # until the client gives up and closes
        writer.close()

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connections are refused
    failing = await asyncio.start_server(answer_500, "127.0.0.1", 0)
    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    try:
        yield {
            "status-500": failing.sockets[0].getsockname()[1],
            "timeout": silent.sockets[0].getsockname()[1],
            "connection-refused": closed_port,
            "refused-by-guard": failing.sockets[0].getsockname()[1],
        }
    finally:
        for server in (failing, silent):
            server.close()


def failing_event(failure: str, ports: dict[str, int], now: float) -> WebhookEvent:
    """The job as a queue would store it. Built past the builder, which refuses a malformed
    URL at dispatch: a job stored by an older release may still hold one."""
    userinfo = f"{URL_USER}:{URL_PASSWORD}@"
    host = "[::1" if failure == "invalid-url" else f"127.0.0.1:{ports[failure]}"
    sub = (
        WebhookSubscription("http://127.0.0.1/hook", SECRET)
        .allow_private_targets(True)
        .timeout(ATTEMPT_SECONDS, connect=ATTEMPT_SECONDS)
        .retry_policy(RetryPolicy(max_attempts=2, base_delay=0.05, jitter=0))
    )
    event = sub.build_event("order.created", {"n": 1}, now=now)
    return dataclasses.replace(
        event,
        target_url=f"http://{userinfo}{host}/hook?token={URL_TOKEN}",
        network=NetworkPolicy() if failure == "refused-by-guard" else event.network,
    )


def rendered(record: logging.LogRecord) -> str:
    """A record as a handler prints it (traceback included) and as structured fields."""
    return (
        logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)
        + " "
        + (everything_in(record))
    )


def cli_output(args: list[str]) -> str:
    import importlib
    import pkgutil

    from click.testing import CliRunner

    import webhook_kit.cli
    from webhook_kit.cli import app

    for module in pkgutil.iter_modules(webhook_kit.cli.__path__):
        importlib.import_module(f"webhook_kit.cli.{module.name}")
    result = CliRunner().invoke(app.cli, args, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def stored_outside_the_job(path: Path) -> list[str]:
    """Every value of a SQLite queue file, but the job's own URL and event."""
    import sqlite3

    values: list[str] = []
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (the file's own names)
            names = [column[0] for column in cursor.description]
            for row in cursor:
                values += [
                    str(value)
                    for name, value in zip(names, row, strict=True)
                    if (table, name) not in {("jobs", "target_url"), ("jobs", "event_json")}
                ]
    return values


def secrets_outside_the_url(data: bytes, url: str) -> list[str]:
    """The secrets found in ``data`` anywhere but inside a copy of the stored URL."""
    whole = url.encode()
    inside = bytearray(len(data))
    start = data.find(whole)
    while start >= 0:
        inside[start : start + len(whole)] = b"\x01" * len(whole)
        start = data.find(whole, start + 1)
    found = []
    for secret in URL_SECRETS:
        at = data.find(secret.encode())
        while at >= 0:
            if not inside[at]:
                found.append(secret)
                break
            at = data.find(secret.encode(), at + 1)
    return found


async def postgres_rows(url: str) -> list[str]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as connection:
        rows: list[str] = []
        for table in ("webhook_kit.attempts", "webhook_kit.dead_letters", "webhook_kit.endpoints"):
            query = f"SELECT row_to_json(t)::text FROM {table} t"  # noqa: S608 (names above)
            cursor = await connection.execute(query)
            rows += [row[0] for row in await cursor.fetchall()]
        return rows


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("stack_name", ["httpx", "aiohttp"])
@pytest.mark.parametrize("queue_kind", ["memory", "sqlite", "postgres"])
async def test_failed_deliveries_show_no_url_credentials_or_query(
    failure: str,
    stack_name: str,
    queue_kind: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
    from webhook_kit.http_stacks.httpx_stack import HttpxStack

    caplog.set_level(logging.DEBUG)
    db = tmp_path / "q.sqlite3"
    postgres = request.getfixturevalue("postgres_url") if queue_kind == "postgres" else ""
    queue: Any
    if queue_kind == "memory":
        queue = MemoryQueue(clock=VirtualClock())
    elif queue_kind == "sqlite":
        queue = SQLiteQueue(db, clock=VirtualClock())
    else:
        from webhook_kit.queues.postgres import PostgresQueue

        queue = PostgresQueue(postgres, clock=VirtualClock())
        await queue.open()
    stack = HttpxStack() if stack_name == "httpx" else AiohttpStack()
    try:
        async with receivers() as ports:
            event = failing_event(failure, ports, queue.clock.now())
            await WebhookSubscription.register(queue, stack=stack, secrets=lambda _: SECRET)
            await queue.enqueue(event)
            with anyio.fail_after(60):
                await Worker(queue).run_until_idle()
            (dead,) = await queue.list_dead_letters()
            history = await queue.history(event.id)
    finally:
        await stack.aclose()

    assert dead.event.target_url == event.target_url  # the job keeps the URL to deliver
    assert history
    assert all(record.outcome != "delivered" for record in history)
    shown = [
        repr(dead),
        dead.reason,
        str(dead.last_error),
        *(repr(record) for record in history),
        *(str(record.error) for record in history),
        *(rendered(record) for record in caplog.records),
    ]
    if queue_kind == "postgres":
        shown += await postgres_rows(postgres)
        base = ["--queue", postgres]
    else:
        base = ["--db", str(db)]
    if queue_kind == "sqlite":
        queue.close()
        shown += stored_outside_the_job(db)
        for file in sorted(tmp_path.iterdir()):  # noqa: ASYNC240 (a test's own small files)
            data = file.read_bytes()
            assert secrets_outside_the_url(data, event.target_url) == [], file
    if queue_kind != "memory":
        # In a thread: the commands run their own event loop.
        commands = [["dlq", "list", *base], ["dlq", "show", event.id, *base]]
        commands += [["show", event.id, *base]]
        commands += [["status", *base]]
        for command in commands:
            shown.append(await anyio.to_thread.run_sync(cli_output, command))
    if queue_kind == "postgres":
        await queue.close()
    assert caplog.records, "the attempts were logged"
    for text in shown:
        assert url_leaks(text) == [], text


class _QuotingStack:
    """A stack whose failure quotes the URL, as a third-party library's exception might."""

    name = "quoting"

    async def post(self, url: str, *args: object, **kwargs: object) -> Any:
        try:
            raise OSError(f"socket trouble talking to {url}")
        except OSError as exc:
            raise RuntimeError(f"could not POST {url!r}") from exc

    async def aclose(self) -> None:
        pass


async def test_an_unexpected_failure_quoting_the_url_is_scrubbed_everywhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    queue = MemoryQueue(clock=VirtualClock())
    event = failing_event("status-500", {"status-500": 9}, queue.clock.now())
    await WebhookSubscription.register(queue, stack=_QuotingStack(), secrets=lambda _: SECRET)
    await queue.enqueue(event)
    await Worker(queue).run_until_idle()
    (dead,) = await queue.list_dead_letters()
    history = await queue.history(event.id)
    unexpected = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert unexpected, "the failure is logged, with its traceback"
    assert "socket trouble talking to http://127.0.0.1:9/hook?…" in unexpected[0].getMessage()
    shown = [dead.reason, *(str(record.error) for record in history)]
    shown += [rendered(record) for record in caplog.records]
    for text in shown:
        assert url_leaks(text) == [], text


@pytest.mark.parametrize("failure", ["invalid-url", "quoting-library"])
async def test_spans_and_metrics_of_failed_attempts_show_no_url_secret(failure: str) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from webhook_kit import observability
    from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    observability.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    stack: Any = AiohttpStack() if failure == "invalid-url" else _QuotingStack()
    try:
        queue = MemoryQueue(clock=VirtualClock())
        event = failing_event(
            "invalid-url" if failure == "invalid-url" else "status-500",
            {"status-500": 9},
            queue.clock.now(),
        )
        await WebhookSubscription.register(queue, stack=stack, secrets=lambda _: SECRET)
        await queue.enqueue(event)
        await Worker(queue).run_until_idle()
        assert await queue.list_dead_letters()
        finished = spans.get_finished_spans()
        metrics = reader.get_metrics_data()
    finally:
        await stack.aclose()
        observability.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()
    assert finished, "the attempts were traced"
    shown = [metrics.to_json() if metrics is not None else ""]
    for span in finished:
        shown += [span.to_json(), str(span.status.description)]
        assert span.status.description, "the failure is the span's status"
    for text in shown:
        assert url_leaks(text) == [], text


def test_transport_error_texts_that_quote_the_url_are_masked() -> None:
    """aiohttp's connect timeout reads "Connection timeout to host <url>"; any library text
    that quotes the URL is masked the same way, on both stacks."""
    import aiohttp
    import httpx as httpx_module

    from webhook_kit.http_stacks import _aiohttp_sessions, httpx_stack

    url = f"http://{URL_USER}:{URL_PASSWORD}@127.0.0.1:9/hook?token={URL_TOKEN}"
    aiohttp_error = _aiohttp_sessions._transport_error(
        aiohttp.ConnectionTimeoutError(f"Connection timeout to host {url}"), url
    )
    httpx_error = httpx_stack._transport_error(
        httpx_module.ConnectTimeout(f"timed out connecting to {url}"), url
    )
    for error in (aiohttp_error, httpx_error):
        assert url_leaks(f"{error} {error!r}") == [], error
        assert "127.0.0.1:9/hook?…" in str(error)
