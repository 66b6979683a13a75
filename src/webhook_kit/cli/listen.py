"""``webhook-kit listen``: a mock receiver on a real port that prints each delivery as it arrives.

Point a subscription (or ``webhook-kit send``) at the printed URL to see what is sent: the
event, the delivery id, whether the signature checks out, and what the receiver answered —
scripted answers such as ``503,503,200`` show the sender's retries.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from .app import cli, person_errors
from .display import fancy, make_console, printable, utc_clock
from .scheme_names import SCHEME_HELP, Scheme, SchemeName, scheme_label

if TYPE_CHECKING:
    import uvicorn
    from rich.console import Console
    from rich.text import Text

    from ..testing import MockReceiver
    from ..testing.deliveries import Delivery

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def parse_script(text: str) -> list[int]:
    """``"503,503,200"`` as statuses; raises `click.BadParameter` for anything else."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise click.BadParameter(
            "give statuses separated by commas, e.g. 503,503,200", param_hint="--script"
        )
    statuses: list[int] = []
    for part in parts:
        if not part.isdigit() or not 100 <= int(part) <= 599:
            raise click.BadParameter(
                f"{part!r} is not an HTTP status (100 to 599)", param_hint="--script"
            )
        statuses.append(int(part))
    return statuses


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on (0.0.0.0 for every interface).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The port; 0 picks a free one.",
)
@click.option(
    "--secret",
    envvar="WEBHOOK_KIT_SECRET",
    help="Check every delivery's signature with this secret (default: $WEBHOOK_KIT_SECRET; "
    "without one, deliveries are shown as unverified).",
)
@click.option(
    "--scheme",
    type=SchemeName(),
    default=None,
    help=SCHEME_HELP + " Default: hex_sha256_with_prefix. Needs --secret.",
)
@click.option(
    "--script",
    "script",
    metavar="STATUSES",
    help="Answer with these statuses in order, then repeat the last, e.g. 503,503,200 "
    "(default: 200 to every request).",
)
@person_errors
def listen(
    host: str, port: int, secret: str | None, scheme: Scheme | None, script: str | None
) -> None:
    """Receive webhooks on a local port; print each delivery as it arrives.

    Each line: time (UTC), method and path, event, delivery id, the signature check (✓, ✗ or
    "unverified"), and the status answered. Any path is accepted. Ctrl-C or SIGTERM stops it
    (exit 0).

    \b
    Try it with:
      webhook-kit listen --secret s3cret --script 503,200
      webhook-kit send URL --event order.created --data '{}' --secret s3cret \\
          --allow-private-targets
      webhook-kit worker
    """
    from ..signing import SignatureFormat
    from ..testing import MockReceiver

    if scheme is not None and secret is None:
        raise click.UsageError("--scheme needs --secret (the secret to check signatures with)")
    statuses = parse_script(script) if script is not None else None
    console = make_console()
    printer = _DeliveryPrinter(console)
    receiver = MockReceiver(name="listen", on_delivery=printer)
    checking = "not checking signatures (no --secret)"
    if secret is not None:
        scheme = scheme if scheme is not None else SignatureFormat.HEX_SHA256_WITH_PREFIX
        receiver.expect_signature(secret, scheme=scheme)
        source = click.get_current_context().get_parameter_source("secret")
        origin = " from $WEBHOOK_KIT_SECRET" if source is ParameterSource.ENVIRONMENT else ""
        checking = f"checking {scheme_label(scheme)} signatures{origin}"
    if statuses is not None:
        receiver.script(statuses)
        earlier = "".join(f"{status}, " for status in statuses[:-1])
        then = "then " if earlier else ""
        answering = f"answering {earlier}{then}{statuses[-1]} to every later request"
    else:
        answering = "answering 200 to every request"
    sock = _bind(host, port)
    url = _url(host, sock.getsockname()[1])
    server = printer.server = _server(receiver)
    _serve(server, sock, console, [f"listening on {url}", f"{checking}; {answering}"])
    if printer.reader_gone:
        raise SystemExit(1)
    count = printer.count
    console.print(f"stopped after {count} deliver{'y' if count == 1 else 'ies'}", soft_wrap=True)


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise click.BadParameter(
            f"{host!r} does not resolve: {exc}", param_hint="--host"
        ) from None
    family, kind, protocol, _, address = infos[0]
    sock = socket.socket(family, kind, protocol)
    try:
        if os.name != "nt":  # elsewhere it would let two servers share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}"
        ) from None
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/hooks"


def _server(receiver: MockReceiver) -> uvicorn.Server:
    import uvicorn

    config = uvicorn.Config(
        receiver.app, log_level="warning", access_log=False, lifespan="off", interface="asgi3"
    )
    return uvicorn.Server(config)


def _serve(
    server: uvicorn.Server, sock: socket.socket, console: Console, banner: list[str]
) -> None:
    """Run ``server`` on ``sock`` until SIGINT or SIGTERM, then return normally.

    uvicorn takes both signals while it serves and, once it has shut down, restores the
    handlers it found and raises the signal again. The handlers found are these, which stop the
    server (should a signal come before uvicorn's are in place) and otherwise do nothing: so
    the command ends with exit 0 instead of being killed by its own signal.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    previous: dict[int, Any] = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    try:
        asyncio.run(_run(server, sock, console, banner))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()


async def _run(
    server: uvicorn.Server, sock: socket.socket, console: Console, banner: list[str]
) -> None:
    serving = asyncio.create_task(server.serve([sock]))
    while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
        await asyncio.sleep(0.01)
    if not server.started:
        if server.should_exit:  # stopped before it started
            return
        await serving
        raise click.ClickException("the receiver's server did not start")
    for line in banner:
        console.print(line, soft_wrap=True)
    await serving


class _DeliveryPrinter:
    """Prints each delivery as one line; counts them.

    When the reader goes away (``webhook-kit listen | head``), the server is stopped (and the
    command exits 1, as rich would) instead of logging a traceback for every request.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.fancy = fancy(console)
        self.count = 0
        self.server: uvicorn.Server | None = None
        self.reader_gone = False

    def __call__(self, delivery: Delivery) -> None:
        self.count += 1
        try:
            self.console.print(delivery_line(delivery, fancy=self.fancy), soft_wrap=True)
        except SystemExit:
            # rich's answer to a broken pipe: stdout now goes to os.devnull and the console is
            # quiet; raised here, it would only fail this request.
            self.reader_gone = True
            if self.server is not None:
                self.server.should_exit = True


_VERDICTS = {True: ("✓", "green"), False: ("✗", "bold red"), None: ("unverified", "dim")}
_PLAIN_VERDICTS = {True: ("ok", "green"), False: ("FAILED", "bold red"), None: _VERDICTS[None]}


def delivery_line(delivery: Delivery, *, fancy: bool = True) -> Text:
    """``10:00:00.123Z  POST /hooks  order.created  id=…  ✓  → 200`` (and why a check failed).

    Args:
        delivery: what the receiver recorded.
        fancy: ``✓``, ``✗`` and ``→``; ``False`` for ``ok``, ``FAILED`` and ``->`` (an output
            that cannot encode them).
    """
    from rich.text import Text

    line = Text()
    line.append(utc_clock(delivery.received_at), style="dim")
    line.append(f"  {delivery.method} {printable(delivery.path, limit=200)}")
    event = printable(delivery.event, limit=100) if delivery.event else "-"
    line.append(f"  {event}", style="bold")
    line.append(f"  id={printable(delivery.id, limit=100) if delivery.id else '-'}")
    mark, style = (_VERDICTS if fancy else _PLAIN_VERDICTS)[delivery.verified]
    line.append("  ")
    line.append(mark, style=style)
    arrow = "→" if fancy else "->"
    if delivery.status is None:
        line.append(f"  {arrow} no answer (the sender gave up)", style="yellow")
    else:
        line.append(
            f"  {arrow} {delivery.status}", style="green" if delivery.delivered else "yellow"
        )
    if delivery.verification_error:
        line.append(f"  {printable(delivery.verification_error, limit=300)}", style="red")
    return line
