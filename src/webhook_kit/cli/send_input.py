"""What ``webhook-kit send`` reads and checks before it queues: the payload (inline, from a file
or from stdin) and whether the worker's network guard will refuse the target."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

import click
import httpx

from ..netguard import is_public_address

__all__ = ["private_target_warning", "read_payload"]


def read_payload(data: str) -> Any:
    """The payload ``--data`` gives: JSON text, ``@FILE`` (JSON read from FILE) or ``-`` (JSON
    read from stdin).

    Raises:
        click.BadParameter: the file cannot be read, or the text is not JSON (one line, naming
            the file or stdin).
    """
    text: str
    if data == "-":
        source = "stdin"
        text = sys.stdin.read()
    elif data.startswith("@"):
        path = Path(data[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise _bad(f"{source} is not UTF-8 text") from None
        except OSError as exc:
            raise _bad(f"cannot read {source}: {exc.strerror or exc}") from None
    else:
        source, text = "", data
    try:
        return json.loads(text)
    except ValueError as exc:
        where = f"{source} is not JSON" if source else "not JSON"
        raise _bad(f"{where}: {exc}") from None


def _bad(message: str) -> click.BadParameter:
    return click.BadParameter(message, param_hint="--data")


def private_target_warning(url: str) -> str | None:
    """A warning for a target the worker's network guard will refuse, unless allowed: a
    loopback, private or other non-public address written in the URL, or ``localhost``.

    Host names are not resolved here (the worker resolves them at each attempt, and the guard
    checks what they resolve to then).
    """
    host = httpx.URL(url).host
    if host == "localhost" or host.endswith(".localhost"):
        kind = "a loopback name"
    else:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if is_public_address(address):
            return None
        kind = "a loopback address" if address.is_loopback else "not a public address"
    return (
        f"Warning: {host} is {kind}: the worker's network guard will refuse it and "
        "dead-letter the delivery, unless it is sent with --allow-private-targets"
    )
