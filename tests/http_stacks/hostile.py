"""Hostile receivers for ``test_hostile_receivers``: raw asyncio servers on 127.0.0.1.

No HTTP framework: each receiver is a coroutine (a *behaviour*) that gets one accepted
`Connection` and writes whatever bytes it likes, as slowly or as endlessly as it likes.
`serve` runs a behaviour on a free loopback port in the running loop and counts what happened
(connections, requests, bytes written, whether the client hung up). `MeasuredStack` wraps a
network stack and times each POST with `time.monotonic` and traces its memory peak with
`tracemalloc`.

Imported as ``hostile`` (pytest's default import mode puts this directory on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from webhook_kit.http_stacks import (
    DEFAULT_MAX_RESPONSE_BYTES,
    HttpResponse,
    NetworkStack,
)

MiB = 1024 * 1024
BLOCK = b"x" * 65536


@dataclass
class Receiver:
    """What one hostile server saw and did."""

    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)  # request lines, in order
    sent: int = 0  # bytes written to clients
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)  # a client closed on us
    hung_up_at: float | None = None  # when (time.monotonic), the first time

    def hang_up(self) -> None:
        if self.hung_up_at is None:
            self.hung_up_at = time.monotonic()
        self.hung_up.set()


class Connection:
    """One accepted connection, as a behaviour sees it."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, receiver: Receiver
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.receiver = receiver

    async def request(self) -> bytes:
        """Read one whole request (head and Content-Length body); return its request line.

        Raises:
            ConnectionError: the client closed the connection first.
        """
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError("the client closed the connection") from exc
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        request_line = head.split(b"\r\n", 1)[0]
        self.receiver.requests.append(request_line)
        return request_line

    async def send(self, data: bytes) -> None:
        """Write ``data`` and wait until the socket takes it (flow control bounds the buffer)."""
        self.writer.write(data)
        await self.writer.drain()
        self.receiver.sent += len(data)

    async def hold(self) -> None:
        """Keep the connection open, reading and dropping what comes, until the client closes."""
        while await self.reader.read(65536):
            pass


Behaviour = Callable[[Connection], Awaitable[None]]


@asynccontextmanager
async def serve(behaviour: Behaviour) -> AsyncIterator[Receiver]:
    """Run ``behaviour`` for each connection on 127.0.0.1 (a free port); yield its `Receiver`.

    A client hanging up (reset, broken pipe, end of stream) ends the behaviour quietly and sets
    ``hung_up``. On exit the server stops and every behaviour still running is cancelled.
    """
    receiver = Receiver()
    tasks: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        receiver.connections += 1
        try:
            await behaviour(Connection(reader, writer, receiver))
            if reader.at_eof():
                receiver.hang_up()
        except ConnectionError:
            receiver.hang_up()
        except asyncio.CancelledError:
            pass  # the test is over: end quietly (a re-raise would only be logged by asyncio)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


# --- behaviours -----------------------------------------------------------------------------


async def answer_ok(connection: Connection) -> None:
    """A healthy receiver: 200 to every request on the connection, until the client closes."""
    while True:
        await connection.request()
        await connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


async def never_answer(connection: Connection) -> None:
    """Take the request, then say nothing at all."""
    await connection.request()
    await connection.hold()


def trickle(
    head: bytes, body: bytes, *, head_at_once: bool = False, interval: float = 1.0
) -> Behaviour:
    """Send a valid response one byte every ``interval`` seconds (after the whole head, if
    ``head_at_once``)."""

    async def behaviour(connection: Connection) -> None:
        await connection.request()
        rest = head + body
        if head_at_once:
            await connection.send(head)
            rest = body
        for byte in rest:
            await connection.send(bytes([byte]))
            await asyncio.sleep(interval)

    return behaviour


def endless_body(head: bytes, piece: bytes) -> Behaviour:
    """Send ``head``, then ``piece`` over and over, as fast as the client takes it."""

    async def behaviour(connection: Connection) -> None:
        await connection.request()
        await connection.send(head)
        while True:
            await connection.send(piece)

    return behaviour


def interim_forever(interval: float) -> Behaviour:
    """Answer with ``100 Continue`` interim responses, one every ``interval`` s, and no end."""

    async def behaviour(connection: Connection) -> None:
        await connection.request()
        while True:
            await connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            await asyncio.sleep(interval)

    return behaviour


def redirect(status: int, location: Callable[[int, int], str]) -> Behaviour:
    """Answer every request with ``status`` to ``location(port, request_number)``."""

    async def behaviour(connection: Connection) -> None:
        receiver = connection.receiver
        while True:
            await connection.request()
            target = location(receiver.port, len(receiver.requests)).encode()
            await connection.send(
                b"HTTP/1.1 %d Redirect\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                % (status, target)
            )

    return behaviour


def gzip_bomb(inflated_mib: int) -> Behaviour:
    """A 200 whose gzip body inflates to ``inflated_mib`` MiB (sent raw; it fits the cap)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    body = b"".join(compressor.compress(zeros) for _ in range(inflated_mib)) + compressor.flush()
    assert len(body) <= DEFAULT_MAX_RESPONSE_BYTES
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )

    async def behaviour(connection: Connection) -> None:
        await connection.request()
        await connection.send(response)
        await connection.hold()

    return behaviour


def tls_stall(connection: Connection) -> Awaitable[None]:
    """Accept TCP and never start TLS: the ClientHello is read and never answered."""
    return connection.hold()


def raw_reply(data: bytes, *, then_close: bool) -> Behaviour:
    """Take the request, send ``data`` as the answer, then hang up or keep the line open."""

    async def behaviour(connection: Connection) -> None:
        await connection.request()
        await connection.send(data)
        if not then_close:
            await connection.hold()

    return behaviour


def endless_head(line: bytes, *, header_lines: bool) -> Behaviour:
    """A status line, then a header block that never ends (many lines, or one endless line)."""

    async def behaviour(connection: Connection) -> None:
        await connection.request()
        await connection.send(b"HTTP/1.1 200 OK\r\n" + (b"" if header_lines else b"X-Long: "))
        while True:
            await connection.send(line)

    return behaviour


# --- the measured stack ---------------------------------------------------------------------


@dataclass
class Measurement:
    """One POST: how long it took, its memory peak, and what it returned or raised."""

    url: str
    seconds: float
    peak_bytes: int | None
    response: HttpResponse | None = None
    error: BaseException | None = None


class MeasuredStack:
    """A `NetworkStack` that records a `Measurement` for each POST of the stack it wraps.

    Args:
        stack: the stack that makes the POSTs.
        trace_memory: trace each POST's memory peak; only meaningful when POSTs do not
            overlap (tracemalloc sees the whole process).
    """

    def __init__(self, stack: NetworkStack, *, trace_memory: bool = True) -> None:
        self.name = stack.name
        self.stack = stack
        self.trace_memory = trace_memory
        self.measurements: list[Measurement] = []
        self.closed_at: list[float] = []  # time.monotonic() of each aclose

    async def post(self, url: str, *args: Any, **options: Any) -> HttpResponse:
        """POST through the wrapped stack (the rest of the arguments go to it as given);
        record the time, memory peak and result."""
        started_tracing = self.trace_memory and not tracemalloc.is_tracing()
        if started_tracing:
            tracemalloc.start()
        baseline = 0
        if self.trace_memory:
            baseline = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        measurement = Measurement(url, 0.0, None)
        started = time.monotonic()
        try:
            measurement.response = await self.stack.post(url, *args, **options)
        except BaseException as exc:
            measurement.error = exc
            raise
        finally:
            measurement.seconds = time.monotonic() - started
            if self.trace_memory:
                measurement.peak_bytes = tracemalloc.get_traced_memory()[1] - baseline
            if started_tracing:
                tracemalloc.stop()
            self.measurements.append(measurement)
        return measurement.response

    async def aclose(self) -> None:
        """Close the wrapped stack (and note when)."""
        self.closed_at.append(time.monotonic())
        await self.stack.aclose()
