"""URLs as logs, messages, reprs and tables may show them: no credentials, no query, no fragment.

Usage:

    from webhook_kit.url_masking import masked_url, scrubbed

    masked_url("https://user:pw@example.com/hooks?token=t")  # 'https://example.com/hooks?…'
    scrubbed("GET https://user:pw@example.com/?token=t failed", "https://user:pw@example.com/?token=t")

`masked_url` reads the URL as leniently as the most lenient parser a URL may meet (a browser's
WHATWG parser accepts ``http:\\\\user:pw@host`` and ``HTTP:user:pw@host``; the standard library
and httpx split at the last ``@``), so whatever any of them would take for credentials is
dropped. It never raises: a URL no parser accepts is masked all the same.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

__all__ = ["MaskedParts", "masked_parts", "masked_url", "parser_reason", "scrubbed"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# Schemes whose URLs WHATWG reads with an authority even without "//" (and with backslashes).
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})
# What WHATWG and urllib remove anywhere in a URL before parsing it.
_REMOVED = str.maketrans("", "", "\t\n\r")
_LEADING_OR_TRAILING = "".join(map(chr, range(0x21)))
_QUERY_MARK = "?…"

# Secret parts shorter than this are not searched for in free text: one or two characters
# would match everywhere and say nothing.
_MIN_SCRUBBED_LENGTH = 3


class MaskedParts(NamedTuple):
    """The parts of a URL that may be shown (see `masked_parts`)."""

    scheme: str | None
    """Lower-cased; ``None`` where what looks like a scheme may be a user name."""
    host: str
    """Host and port as written, credentials dropped."""
    path: str
    """The path as written (may be empty)."""
    has_query: bool
    """Whether the URL has a non-empty query string."""


def masked_parts(url: str) -> MaskedParts:
    """The scheme, host (and port) and path of ``url``; never its credentials, query or
    fragment. Never raises."""
    scheme, rest = _split_scheme(url.translate(_REMOVED).strip(_LEADING_OR_TRAILING))
    authority, path, query = _split_rest(rest)
    if "@" in path:
        # To some reader the path may still hold credentials ("http://host\\@evil/" is
        # userinfo to urllib, a path to WHATWG): nothing before its last "@" is shown.
        path = "/…@" + path.rpartition("@")[2]
    return MaskedParts(scheme, _shown_host(authority.rpartition("@")[2]), path, bool(query))


def masked_url(url: str) -> str:
    """The URL without credentials, query string or fragment, for logs, messages and reprs.

    A query is shown as ``?…``. The scheme is shown only when it is followed by ``//`` or is
    one WHATWG reads an authority for (``http``, ``https`` …); otherwise it might be a user
    name (``user:pw@host``).
    """
    parts = masked_parts(url)
    where = f"{parts.host}{parts.path}"
    shown = f"{parts.scheme}://{where}" if parts.scheme is not None else where
    return shown + (_QUERY_MARK if parts.has_query else "")


def scrubbed(text: str, url: str) -> str:
    """``text`` with every secret part of ``url`` replaced: the whole URL by `masked_url`'s
    form, then its user name, password, query and fragment (as written and percent-decoded)
    by ``…``.

    For messages written by other libraries (an exception's text, a log line) that may
    quote a webhook's URL or a piece of it.
    """
    if not text:
        return text
    text = text.replace(url, masked_url(url))
    for secret in sorted(_secret_parts(url), key=len, reverse=True):
        text = text.replace(secret, "…")
    return text


def _shown_host(host: str) -> str:
    """Host and port, but a "port" that is not a number shown as ``…``: it is no port, and
    may be the start of a password whose raw ``#``, ``/`` or ``?`` cut the authority short
    (``http://user:pa#ss@host`` reads as host ``user``, port ``pa``)."""
    if host.startswith("["):
        close = host.find("]")
        if close < 0:
            return "[…"  # an unclosed IPv6 literal: nothing in it can be told apart
        name, port = host[: close + 1], host[close + 1 :].removeprefix(":")
    else:
        name, _, port = host.partition(":")
    if not port or port.isdigit():
        return host
    return f"{name}:…"


def parser_reason(text: str) -> str:
    """What a URL parser's error says went wrong, without the piece of URL it quotes.

    httpx writes ``Invalid port: 'pa'`` for ``http://user:pa#ss@host``: to every parser
    ``pa`` is a port, but to the person who wrote it, the start of a password.
    """
    return re.split(r"[:'\"]", text, maxsplit=1)[0].strip()


def _split_scheme(url: str) -> tuple[str | None, str]:
    match = _SCHEME.match(url)
    if match is None:
        # Leading slashes introduce an authority: "//user:pw@host" is a scheme-relative URL.
        return None, url.lstrip("/\\")
    scheme = match[0][:-1].lower()
    rest = url[match.end() :]
    if scheme in _SPECIAL_SCHEMES:
        # WHATWG skips any run of slashes and backslashes after a special scheme.
        return scheme, rest.lstrip("/\\")
    if rest.startswith("//"):
        return scheme, rest.lstrip("/\\")
    # "user:pw@host": no scheme, as what looks like one may be a user name.
    return None, url


def _split_rest(rest: str) -> tuple[str, str, str]:
    """``(authority, path, query)`` of what follows the scheme (the fragment dropped).

    The authority ends at the first ``/``, ``?`` or ``#`` (where urllib and httpx end it);
    a backslash ends it for WHATWG, but credentials are looked for up to the later end, so
    ``user:pw\\@host`` loses its credentials under either reading.
    """
    end = _first_of(rest, "/?#")
    authority, remainder = rest[:end], rest[end:]
    remainder = remainder.partition("#")[0]
    path, _, query = remainder.partition("?")
    return authority, path, query


def _first_of(text: str, characters: str) -> int:
    positions = [found for found in map(text.find, characters) if found >= 0]
    return min(positions, default=len(text))


def _secret_parts(url: str) -> set[str]:
    clean = url.translate(_REMOVED).strip(_LEADING_OR_TRAILING)
    _, rest = _split_scheme(clean)
    end = _first_of(rest, "/?#")
    userinfo = rest[:end].rpartition("@")[0]
    remainder = rest[end:]
    query_and_fragment = remainder[remainder.find("?") :] if "?" in remainder else ""
    fragment = remainder.partition("#")[2]
    parts = {userinfo, query_and_fragment, fragment, query_and_fragment.partition("#")[0]}
    # Every piece between colons: which colon ends the user name is the reader's guess.
    parts.update(userinfo.split(":"))
    path = remainder[: _first_of(remainder, "?#")]
    if "@" in path:  # what masked_url hides of a path, for the same reason
        hidden = path.rpartition("@")[0]
        parts.add(hidden)
        parts.update(re.split(r"[/\\:]", hidden))
    query = query_and_fragment.partition("#")[0].removeprefix("?")
    parts.add(query)
    for pair in query.split("&"):
        parts.update(pair.split("=", 1)[1:])  # each value: a token alone is still a secret
    parts |= {unquote(part) for part in parts}
    return {part for part in parts if len(part) >= _MIN_SCRUBBED_LENGTH}
