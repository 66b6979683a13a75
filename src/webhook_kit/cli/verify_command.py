"""``webhook-kit verify``: check the signature of a captured HTTP request read from stdin.

The request is read as it went over the wire — request line, headers, a blank line, the body —
with CRLF or LF line endings; ``Content-Length``, when present, says where the body ends (so a
line break an editor added at the end of the file is not taken for part of it).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from ..errors import InvalidSecretError, VerificationError, VerificationFailure
from ..verification import DEFAULT_TOLERANCE
from .app import cli, person_errors
from .display import printable
from .scheme_names import SCHEME_HELP, Scheme, SchemeName, likely_schemes, scheme_name

if TYPE_CHECKING:
    from starlette.datastructures import Headers

__all__ = ["CapturedRequest", "MalformedRequestError", "parse_request"]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_BAD_INPUT = 2

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_BREAK = re.compile(rb"\r?\n")
_REQUEST_LINE = re.compile(rb"([A-Za-z]+) (\S+) HTTP/\d(?:\.\d)?")
# RFC 9110 field names are tokens; optional whitespace around the value is not part of it.
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*")


class MalformedRequestError(click.ClickException):
    """Stdin is not an HTTP request: one ``Error:`` line, exit 2 (bad input, not "invalid")."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class CapturedRequest:
    """A request parsed from its wire form.

    Attributes:
        method: from the request line (``None`` when the capture starts with the headers).
        target: the request target, e.g. ``/hooks``.
        headers: case-insensitive, as a server would give them to the app.
        body: the body, exactly: cut at ``Content-Length`` when there is one.
        has_content_length: whether a ``Content-Length`` header said where the body ends.
    """

    method: str | None
    target: str | None
    headers: Headers
    body: bytes
    has_content_length: bool


def parse_request(raw: bytes) -> CapturedRequest:
    """Parse a captured request: request line (optional), headers, a blank line, the body.

    Raises:
        MalformedRequestError: it is not one; the message says which line and why.
    """
    from starlette.datastructures import Headers

    raw = raw.lstrip(b"\r\n")  # servers ignore line breaks before the request line
    if not raw:
        raise MalformedRequestError("stdin is empty: pipe a captured request into it")
    blank = _BLANK_LINE.search(raw)
    if blank is None:
        raise MalformedRequestError(
            "no blank line after the headers: a request is a request line, headers, "
            "a blank line, then the body"
        )
    lines = _LINE_BREAK.split(raw[: blank.start()])
    method = target = None
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    first_header = 1
    if request_line is not None:
        method, target = (part.decode("latin-1") for part in request_line.groups())
    elif _HEADER_LINE.fullmatch(lines[0]) is not None:
        first_header = 0  # headers only: the request line was not captured
    else:
        raise MalformedRequestError(
            f"line 1 is neither a request line (POST /hooks HTTP/1.1) nor a header "
            f"(Name: value): {_shown(lines[0])}"
        )
    fields: list[tuple[bytes, bytes]] = []
    for number, line in enumerate(lines[first_header:], first_header + 1):
        header = _HEADER_LINE.fullmatch(line)
        if header is None:
            why = (
                "folded header lines are not supported"
                if line[:1] in (b" ", b"\t")
                else "not a header (Name: value)"
            )
            raise MalformedRequestError(f"line {number}: {why}: {_shown(line)}")
        fields.append((header.group(1).lower(), header.group(2)))
    headers = Headers(raw=fields)
    body = raw[blank.end() :]
    if "transfer-encoding" in headers:
        raise MalformedRequestError(
            "a Transfer-Encoding body (chunked) is not supported: capture the decoded body "
            "with a Content-Length header"
        )
    lengths = set(headers.getlist("content-length"))
    if lengths:
        body = _cut(body, lengths)
    return CapturedRequest(method, target, headers, body, has_content_length=bool(lengths))


def _cut(body: bytes, lengths: set[str]) -> bytes:
    if len(lengths) > 1:
        raise MalformedRequestError(f"conflicting Content-Length headers: {sorted(lengths)}")
    (text,) = lengths
    if not text.isascii() or not text.isdigit():
        raise MalformedRequestError(f"Content-Length is not a number of bytes: {text!r}")
    length = int(text)
    if len(body) < length:
        raise MalformedRequestError(
            f"the body has {len(body)} bytes but Content-Length says {length}: "
            f"was the capture cut short?"
        )
    return body[:length]


def _shown(line: bytes) -> str:
    return repr(printable(line.decode("utf-8", "replace"), limit=60))


def _check_times(tolerance: float, now: float | None) -> None:
    if not math.isfinite(tolerance):  # click's FloatRange lets nan and inf through
        raise click.BadParameter("give a finite number of seconds", param_hint="--tolerance")
    if now is not None and not 0 <= now < 10**15:  # refuses nan and inf too
        raise click.BadParameter("give epoch seconds, e.g. 1764324000", param_hint="--now")


@cli.command("verify")
@click.option(
    "--secret",
    required=True,
    envvar="WEBHOOK_KIT_SECRET",
    help="The signing secret (default: $WEBHOOK_KIT_SECRET).",
)
@click.option(
    "--scheme",
    type=SchemeName(),
    default="hex_sha256_with_prefix",
    show_default=True,
    help=SCHEME_HELP,
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=DEFAULT_TOLERANCE,
    show_default=True,
    help="Seconds a signed timestamp may be from now, either way (timestamped schemes).",
)
@click.option(
    "--now",
    type=float,
    metavar="EPOCH",
    help="Check timestamps as if it were this time (epoch seconds): a captured request's "
    "timestamp ages, and this checks the signature of an old capture.",
)
@person_errors
def verify_command(secret: str, scheme: Scheme, tolerance: float, now: float | None) -> None:
    """Verify the signature of a captured HTTP request read from stdin.

    The request as it went over the wire: request line, headers, a blank line, the body; CRLF
    or LF line endings; Content-Length, when present, says where the body ends.

    \b
    Prints one line and exits with:
      0  valid: id=… event=… timestamp=… scheme=…
      1  invalid: <reason>: <message>   (with a hint on stderr when one helps)
      2  the input or an option is unusable (not a request, a secret that does not decode)

    \b
    Example:
      webhook-kit verify --secret s3cret --scheme github < captured.http
    """
    from ..verification import verify

    _check_times(tolerance, now)
    stdin = sys.stdin.buffer if sys.stdin is not None else None
    if stdin is None or stdin.isatty():
        raise click.UsageError(
            "stdin is a terminal: pipe a captured request into it, e.g. "
            "webhook-kit verify --secret S < captured.http"
        )
    request = parse_request(stdin.read())
    try:
        webhook = verify(
            request.body, request.headers, secret, scheme=scheme, tolerance=tolerance, now=now
        )
    except InvalidSecretError as exc:
        raise click.BadParameter(str(exc), param_hint="--secret") from None
    except VerificationError as exc:
        click.echo(f"invalid: {exc.reason.value}: {printable(str(exc), limit=500)}")
        for hint in _hints(exc, request, scheme, now):
            click.echo(f"hint: {hint}", err=True)
        click.get_current_context().exit(EXIT_INVALID)
    fields = {
        "id": webhook.id,
        "event": webhook.event,
        "timestamp": None if webhook.timestamp is None else str(webhook.timestamp),
        "scheme": webhook.scheme,
    }
    shown = " ".join(
        f"{name}={'-' if value is None else printable(value, limit=200)}"
        for name, value in fields.items()
    )
    click.echo(f"valid: {shown}")


def _hints(
    exc: VerificationError, request: CapturedRequest, scheme: Scheme, now: float | None
) -> list[str]:
    reason = exc.reason
    hints: list[str] = []
    if reason in (VerificationFailure.TIMESTAMP_TOO_OLD, VerificationFailure.TIMESTAMP_IN_FUTURE):
        if now is None:
            hints.append(
                "a captured request's timestamp ages: pass --now with the time it was sent "
                "(epoch seconds) to check its signature"
            )
        return hints
    ours = scheme_name(scheme)
    likely = likely_schemes(request.headers)
    if likely and ours not in likely:
        hints.append(f"the headers look like --scheme {' or --scheme '.join(likely)}")
    if (
        reason is VerificationFailure.NO_MATCHING_SIGNATURE
        and not request.has_content_length
        and request.body.endswith(b"\n")
    ):
        hints.append(
            "the body ends with a line break and there is no Content-Length header: if the "
            "break is not part of the request (an editor adds one), remove it"
        )
    return hints
