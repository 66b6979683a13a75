"""Receivers for the stack tests, all on 127.0.0.1: nothing here talks to any other address.

* `serve`: a Starlette app (`build_app`) served by uvicorn in a background thread, plain or
  over TLS with a certificate for the name ``localhost`` only (`make_certificates`);
* `raw_server`: an asyncio server in the test's loop that misbehaves below HTTP;
* `post`: one POST through a stack with the tests' body, headers and defaults.

Imported as ``loopback`` (pytest's default import mode puts this directory on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from uvicorn_threads import loopback_socket, serve_in_thread
from webhook_kit.http_stacks import (
    DEFAULT_MAX_RESPONSE_BYTES,
    HttpResponse,
    NetworkStack,
    Timeouts,
)
from webhook_kit.http_stacks.aiohttp_stack import AiohttpStack
from webhook_kit.http_stacks.httpx_stack import HttpxStack
from webhook_kit.netguard import NetworkPolicy

PRIVATE_OK = NetworkPolicy(allow_private=True)
LOOPBACK_LISTED = NetworkPolicy.from_networks(["127.0.0.0/8"])
QUICK = Timeouts(connect=2, total=5)
BODY = b'{"event": "test"}'
HEADERS = {"Content-Type": "application/json", "X-Webhook-Id": "d0c5"}

StackFactory = Callable[..., NetworkStack]
STACKS: dict[str, StackFactory] = {"httpx": HttpxStack, "aiohttp": AiohttpStack}

HUGE_CHUNK = b"z" * 65536
HUGE_CHUNKS = 1024  # 64 MiB in all: far more than any socket buffer holds


@dataclass
class Recorder:
    """What the app saw: one entry per request, and how much of a huge stream it produced."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    streamed: int = 0

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]

    def settled_streamed(self, quiet: float = 0.5, limit: float = 60.0) -> int:
        """`streamed` once it has stopped growing (the stream was cut off or finished)."""
        deadline = time.monotonic() + limit
        last = -1
        while time.monotonic() < deadline:
            current = self.streamed
            if current == last:
                return current
            last = current
            time.sleep(quiet)
        return self.streamed


def build_app(recorder: Recorder) -> Starlette:
    async def record(request: Request) -> bytes:
        body = await request.body()
        recorder.requests.append((request.url.path, dict(request.headers), body))
        return body

    async def echo(request: Request) -> Response:
        body = await record(request)
        response = Response(
            b"echo:" + body, headers={"X-Test": "yes", "X-Host": request.url.netloc}
        )
        # A repeated field: the stacks join it.
        response.raw_headers += [(b"x-dup", b"a"), (b"x-dup", b"b")]
        return response

    async def cookie(request: Request) -> Response:
        await record(request)
        return Response(b"", headers={"Set-Cookie": "session=abc; Path=/"})

    async def redirect(request: Request) -> Response:
        await record(request)
        return Response(b"", status_code=302, headers={"Location": "/echo"})

    async def empty(request: Request) -> Response:
        await record(request)
        return Response(status_code=204)

    async def sized(request: Request) -> Response:
        await record(request)
        size = int(request.query_params["n"])
        if request.query_params.get("declared") == "1":
            return Response(b"s" * size)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(size // 1000):
                yield b"s" * 1000
            yield b"s" * (size % 1000)

        return StreamingResponse(chunks())

    async def trickle(request: Request) -> Response:
        await record(request)

        async def one_byte_at_a_time() -> AsyncIterator[bytes]:
            for _ in range(40):  # 20 s in all
                yield b"t"
                await asyncio.sleep(0.5)

        return StreamingResponse(one_byte_at_a_time())

    async def huge(request: Request) -> Response:
        await record(request)
        recorder.streamed = 0

        async def endless() -> AsyncIterator[bytes]:
            for _ in range(HUGE_CHUNKS):
                recorder.streamed += len(HUGE_CHUNK)
                yield HUGE_CHUNK
                # uvicorn's send() returns at once on a closed connection: give Starlette's
                # disconnect listener a turn to stop this stream when the client hangs up.
                await asyncio.sleep(0)

        return StreamingResponse(endless())

    return Starlette(
        routes=[
            Route(path, endpoint, methods=["POST"])
            for path, endpoint in [
                ("/echo", echo),
                ("/cookie", cookie),
                ("/redirect", redirect),
                ("/empty", empty),
                ("/sized", sized),
                ("/trickle", trickle),
                ("/huge", huge),
            ]
        ]
    )


@dataclass
class LiveServer:
    port: int
    recorder: Recorder
    scheme: str = "http"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


@contextmanager
def serve(app: Starlette, **ssl_options: str) -> Iterator[int]:
    """Run ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yield the port."""
    sock = loopback_socket()
    with serve_in_thread(app, sock, **ssl_options):
        yield sock.getsockname()[1]


@dataclass
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_certificates(directory: Path) -> Certificates:
    """A throw-away CA and a server certificate for the name ``localhost`` (no IP address)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook-kit test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[int]:
    """Serve ``handler`` on 127.0.0.1 (a free port) in the running loop; yield the port."""
    writers: list[asyncio.StreamWriter] = []
    tasks: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for writer in writers:
            writer.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one whole request (head and Content-Length body), so closing sends a clean FIN."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def post(
    stack: NetworkStack,
    url: str,
    *,
    policy: NetworkPolicy = PRIVATE_OK,
    timeouts: Timeouts = QUICK,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> HttpResponse:
    """POST `BODY` with `HEADERS`; by default under a policy that allows loopback."""
    return await stack.post(
        url,
        BODY,
        HEADERS,
        timeouts=timeouts,
        policy=policy,
        max_response_bytes=max_response_bytes,
    )
